//! ctl against a real admin server on 127.0.0.1:0 (over the in-process fake cluster): what it
//! prints, its JSON shape, its errors and exit codes, the token and TLS.

use clap::Parser;

use super::table::columns;
use super::{execute, CtlArgs};
use crate::cluster::admin::tests::{serve, Fake, Served, SPEC};
use crate::cluster::admin::{Limits, AUTH_ERROR};
use crate::cluster::config::AdminSecurity;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: CtlArgs,
}

fn args(words: &[&str]) -> CtlArgs {
    Cli::try_parse_from(std::iter::once("ctl").chain(words.iter().copied()))
        .unwrap()
        .args
}

/// Runs ctl against `server` with `words`; its output or (exit code, error line).
async fn ctl(server: &Served, words: &[&str]) -> Result<String, (i32, String)> {
    let addr = server.addr.to_string();
    let mut all = vec!["--server", &addr];
    all.extend_from_slice(words);
    execute(&args(&all)).await.map_err(|e| (e.code, e.message))
}

fn spec_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn columns_are_aligned_and_lines_not_padded() {
    let rows = vec![
        vec!["orders".to_string(), "running".into(), "-".into()],
        vec!["x".to_string(), "paused".into(), "boom".into()],
    ];
    let out = columns(&["NAME", "DESIRED", "LAST ERROR"], &rows);
    assert_eq!(
        out,
        "NAME    DESIRED  LAST ERROR\norders  running  -\nx       paused   boom\n"
    );
}

#[tokio::test]
async fn ctl_drives_a_task_through_its_life() {
    let fake = Fake::with_workers(&[1, 2]);
    let s = serve(&fake, AdminSecurity::default(), Limits::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = spec_file(&dir, "orders.toml", SPEC);
    let out = ctl(&s, &["task", "create", &file]).await.unwrap();
    assert_eq!(
        out,
        "task orders created: 1 shard(s), desired running, phase pending\n"
    );
    let list = ctl(&s, &["task", "list"]).await.unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("NAME    DESIRED  PHASE    SHARDS"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("orders  running  pending  1 "),
        "{list}"
    );
    let get = ctl(&s, &["task", "get", "orders"]).await.unwrap();
    assert!(get.contains("labels:      team=data"), "{get}");
    assert!(get.contains("app:***@127.0.0.1"), "{get}");
    assert!(
        !get.contains("hunter2") && !get.contains("kafka-secret"),
        "{get}"
    );
    let out = ctl(&s, &["task", "pause", "orders"]).await.unwrap();
    assert!(out.contains("desired paused, phase paused"), "{out}");
    let relabelled = spec_file(&dir, "v2.toml", &SPEC.replace("\"data\"", "\"ops\""));
    let out = ctl(&s, &["task", "update", "orders", &relabelled])
        .await
        .unwrap();
    assert!(out.starts_with("task orders updated"), "{out}");
    let (code, e) = ctl(&s, &["task", "get", "nope"]).await.unwrap_err();
    assert_eq!(code, 1);
    assert!(e.contains("no task named nope"), "{e}");
    let status = ctl(&s, &["cluster", "status"]).await.unwrap();
    assert!(status.starts_with("leader: 1   health: ok\n"), "{status}");
    assert!(
        status.contains("\n1     leader    127.0.0.1:7201"),
        "{status}"
    );
    fake.when(
        |st| {
            st.tasks
                .get("orders")
                .is_some_and(|t| t.desired == crate::cluster::state::Desired::Deleted)
        },
        |f| {
            f.apply(crate::cluster::state::Command::RemoveTask {
                name: "orders".into(),
            });
        },
    );
    let out = ctl(&s, &["task", "delete", "orders"]).await.unwrap();
    assert_eq!(out, "task orders deleted\n");
    let out = ctl(&s, &["worker", "remove", "2"]).await.unwrap();
    assert!(out.starts_with("worker 2 removed"), "{out}");
}

#[tokio::test]
async fn json_output_has_a_stable_shape() {
    let fake = Fake::with_workers(&[1]);
    let s = serve(&fake, AdminSecurity::default(), Limits::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = spec_file(&dir, "orders.toml", SPEC);
    ctl(&s, &["task", "create", &file]).await.unwrap();
    let out = ctl(&s, &["--json", "task", "list"]).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v[0];
    assert_eq!(t["name"], "orders");
    assert_eq!(t["desired"], "running");
    assert_eq!(t["phase"], "pending");
    assert_eq!(t["labels"]["team"], "data");
    assert_eq!(t["shards"][0]["state"], "pending");
    assert_eq!(t["shards"][0]["tables"][0], "public.orders");
    assert!(t["shards"][0]["owner"].is_null());
    assert!(t["last_error"].is_null());
    // --json is global: it may follow the subcommand too.
    let out = ctl(&s, &["cluster", "status", "--json"]).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["leader"], 1);
    assert_eq!(v["healthy"], true);
    assert_eq!(v["members"][0]["admin_addr"], "127.0.0.1:7101");
    assert_eq!(v["members"][0]["shard_count"], 0);
}

#[tokio::test]
async fn a_worker_that_is_down_is_named_with_a_hint() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("127.0.0.1:{port}");
    let e = execute(&args(&["--server", &server, "cluster", "status"]))
        .await
        .unwrap_err();
    assert_eq!(e.code, 1);
    assert_eq!(
        e.message,
        format!("cannot reach {server}: connection refused: is the worker running? (`scripts/cluster.sh status`)")
    );
}

#[tokio::test]
async fn usage_errors_exit_2_before_touching_the_cluster() {
    let e = execute(&args(&[
        "--server",
        "127.0.0.1:1",
        "task",
        "create",
        "/nonexistent/t.toml",
    ]))
    .await
    .unwrap_err();
    assert_eq!(e.code, 2);
    assert!(
        e.message
            .contains("cannot read task file /nonexistent/t.toml"),
        "{}",
        e.message
    );
    let e = execute(&args(&[
        "--server",
        "https://127.0.0.1:1",
        "cluster",
        "status",
    ]))
    .await
    .unwrap_err();
    assert_eq!(e.code, 2);
    assert!(e.message.contains("--ca"), "{}", e.message);
    assert!(Cli::try_parse_from(["ctl", "task", "frobnicate"]).is_err());
}

#[tokio::test]
async fn the_token_is_sent_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret").unwrap();
    let security = AdminSecurity {
        token_file: Some(token),
        ..AdminSecurity::default()
    };
    let fake = Fake::with_workers(&[1]);
    let s = serve(&fake, security, Limits::default()).await;
    let (code, e) = ctl(&s, &["task", "list"]).await.unwrap_err();
    assert_eq!((code, e.as_str()), (1, AUTH_ERROR));
    let (_, e) = ctl(&s, &["--token", "guess", "task", "list"])
        .await
        .unwrap_err();
    assert_eq!(e, AUTH_ERROR);
    let out = ctl(&s, &["--token", "s3cret", "task", "list"])
        .await
        .unwrap();
    assert!(out.starts_with("no tasks"), "{out}");
}

/// A self-signed certificate for 127.0.0.1 (PEM certificate, PEM PKCS#8 key).
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "tributary-test").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build().to_pem().unwrap();
    (cert, key.private_key_to_pem_pkcs8().unwrap())
}

#[tokio::test]
async fn tls_with_the_ca_given() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let security = AdminSecurity {
        tls_cert: Some(cert_path.clone()),
        tls_key: Some(key_path),
        ..AdminSecurity::default()
    };
    let fake = Fake::with_workers(&[1]);
    let s = serve(&fake, security, Limits::default()).await;
    let ca = cert_path.display().to_string();
    let out = ctl(&s, &["--ca", &ca, "cluster", "status"]).await.unwrap();
    assert!(out.starts_with("leader: 1"), "{out}");
    let (code, e) = ctl(&s, &["cluster", "status"]).await.unwrap_err();
    assert_eq!(code, 1, "plain text to a TLS server fails: {e}");
}
