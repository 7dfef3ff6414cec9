//! TLS to PostgreSQL as libpq URLs ask for it: `sslmode=require` encrypts both the SQL and the
//! replication connections; with `source.ssl_root_cert` the server's certificate is verified.

mod support;

mod serial {
    use std::time::Duration;

    use super::support::*;

    fn ca() -> String {
        std::env::var("TRIBUTARY_TEST_PG_CA")
            .expect("TRIBUTARY_TEST_PG_CA: scripts/test.sh starts PostgreSQL with TLS and sets it")
    }

    async fn run_over_tls(db: &TestDb, url: &str, extra_source: &str) {
        let dir = tempfile::tempdir().unwrap();
        let task = unique("tls");
        let path = task_file(
            dir.path(),
            &task,
            url,
            &kafka(),
            &["public.s"],
            &["full", "incremental"],
            "",
        );
        add_to_section(&path, "source", extra_source);
        let child = spawn_run(&path, &dir.path().join("data"));
        let topic = format!("{task}.public.s");
        let m = consume_until(&topic, |m| !m.is_empty());
        assert!(!m.is_empty(), "{} messages on {topic}", m.len());
        db.client
            .batch_execute("INSERT INTO s VALUES (2)")
            .await
            .unwrap();
        let m = consume_until(&topic, |m| m.len() >= 2);
        assert!(m.len() >= 2, "{} messages on {topic}", m.len());
        let encrypted: i64 = db
            .client
            .query_one(
                "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                 WHERE ssl AND application_name = 'tributary' AND backend_type = 'walsender'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(encrypted >= 1, "the replication connection uses TLS");
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sslmode_require_and_verified_certificates() {
        let db = TestDb::create("tls").await;
        db.client
            .batch_execute("CREATE TABLE s (id int PRIMARY KEY); INSERT INTO s VALUES (1)")
            .await
            .unwrap();
        tracing::info!("sslmode=require encrypts without verifying");
        run_over_tls(&db, &format!("{}?sslmode=require", db.url), "").await;
        tracing::info!("with the server's CA, the certificate is verified");
        db.client
            .batch_execute("TRUNCATE s; INSERT INTO s VALUES (1)")
            .await
            .unwrap();
        run_over_tls(
            &db,
            &format!("{}?sslmode=require", db.url),
            &format!("ssl_root_cert = {:?}", ca()),
        )
        .await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn a_certificate_that_does_not_verify_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other_ca = dir.path().join("other.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-days",
                "1",
                "-nodes",
                "-subj",
                "/CN=other",
                "-keyout",
            ])
            .arg(dir.path().join("k.pem"))
            .arg("-out")
            .arg(&other_ca)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let url = format!("{}?sslmode=require", pg_url());
        let path = task_file(
            dir.path(),
            &unique("badca"),
            &url,
            &kafka(),
            &["public.s"],
            &["full"],
            "",
        );
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "[source]\n",
            &format!("[source]\nssl_root_cert = {other_ca:?}\n"),
        );
        std::fs::write(&path, text).unwrap();
        let (code, err) = run_to_end(&path, &dir.path().join("data"), Duration::from_secs(60));
        assert_ne!(code, 0);
        let line = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default()
            .to_owned();
        assert!(
            line.contains("certificate") || line.contains("TLS"),
            "{err}"
        );
    }
}
