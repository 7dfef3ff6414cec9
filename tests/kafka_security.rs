//! SASL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) and TLS to the broker, end to end against tansu.
//!
//! What each test's broker is, and why:
//! - SASL: a private tansu started with `--authentication` (it then refuses every request of
//!   an unauthenticated connection). tansu 0.6 keeps SCRAM credentials only in its SQL stores
//!   (its memory store answers "no such user" to every login), and its SQLite store needs the
//!   `libsql` feature, so these tests use a second tansu build (`TRIBUTARY_TEST_TANSU_SQL`,
//!   installed by `scripts/lib/services.sh`). The users are made with `tansu user create`
//!   against the same database file before the broker is started again with authentication.
//!   tansu 0.6 is built without rsasl's PLAIN, and librdkafka's mock cluster has no SASL, so
//!   PLAIN is not tested against a broker (its settings are checked by the unit tests).
//! - TLS: tansu 0.6 takes `--cert`/`--key` but never wraps its connections (the acceptor in
//!   `tansu-broker`'s `broker.rs` is unused), and librdkafka's mock cluster has no TLS or SASL
//!   either. So TLS is terminated by a small proxy in this test process (OpenSSL, a
//!   certificate made for 127.0.0.1 by the `openssl` command) in front of a private tansu that
//!   advertises the proxy's address: every connection of the client, bootstrap and broker
//!   alike, is TLS, verified against the test's CA. The broker behind the proxy is plaintext.
//! - SASL over TLS (`sasl_ssl`): both, through `tributary run` from PostgreSQL, with the
//!   password from `sasl_password_env`.

mod support;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::{free_port, unique};
use tributary::sink::kafka::{KafkaSink, KafkaSinkConfig};
use tributary::sink::{Record, Sink, SinkError, TopicPlan};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The tansu binary (as `scripts/lib/services.sh` installs it).
fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRIBUTARY_TEST_TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let cached = PathBuf::from(&home).join(".cache/tributary/bin/tansu");
    if cached.exists() {
        return cached;
    }
    PathBuf::from(home).join(".cargo/bin/tansu")
}

/// The tansu build with the SQLite store, which keeps SCRAM users.
fn tansu_sql_binary() -> PathBuf {
    let path = std::env::var("TRIBUTARY_TEST_TANSU_SQL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            PathBuf::from(home).join(".cache/tributary/tansu-sql/bin/tansu")
        });
    assert!(
        path.exists(),
        "no tansu with the SQLite store at {}: run `bash scripts/test.sh` once (it installs it), \
         or `cargo install tansu --version 0.6.0 --features dynostore,libsql --root DIR` and set \
         TRIBUTARY_TEST_TANSU_SQL=DIR/bin/tansu",
        path.display()
    );
    path
}

async fn wait_listening(port: u16) {
    support::wait_until(
        &format!("tansu to listen on {port}"),
        Duration::from_secs(15),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    )
    .await;
}

/// Starts `binary broker` in `dir` listening on `port` and advertising `advertised`, with
/// `extra` arguments; a watchdog shell stops it when this test process exits.
async fn start_tansu(binary: &Path, dir: &Path, port: u16, advertised: u16, extra: &str) {
    assert!(
        binary.exists(),
        "no tansu at {}: see TEST-ENV.md",
        binary.display()
    );
    let script = format!(
        "cd {dir:?} && {bin:?} broker --listener-url tcp://127.0.0.1:{port} \
         --advertised-listener-url tcp://127.0.0.1:{advertised} --silent {extra} \
         >/tmp/tributary-security-tansu-{port}.log 2>&1 & t=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $t",
        dir = dir.display().to_string(),
        bin = binary.display().to_string(),
        parent = std::process::id(),
    );
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .expect("start tansu");
    std::thread::spawn(move || watchdog.wait());
    wait_listening(port).await;
}

/// Makes the SCRAM `users` (name, password, `scram256` or `scram512`) in a SQLite store in
/// `dir`, through a broker without authentication that is stopped again.
async fn scram_users(dir: &Path, users: &[(&str, &str, &str)]) {
    let binary = tansu_sql_binary();
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    let mut open = Command::new(&binary)
        .current_dir(dir)
        .args([
            "broker",
            "--listener-url",
            &listen,
            "--advertised-listener-url",
            &listen,
        ])
        .args(["--storage-engine", "sqlite://tansu.db", "--silent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu");
    wait_listening(port).await;
    for (name, password, mechanism) in users {
        let status = Command::new(&binary)
            .args([
                "user",
                "create",
                "--broker",
                &listen,
                "--mechanism",
                mechanism,
                name,
                password,
            ])
            .stdout(Stdio::null())
            .status()
            .expect("tansu user create");
        assert!(status.success(), "tansu user create {name}");
    }
    open.kill().unwrap();
    open.wait().unwrap();
}

/// A tansu that requires SASL, with the SCRAM `users` of `scram_users`, advertising
/// `advertised` (its own port when `None`); returns its port.
async fn sasl_broker(dir: &Path, users: &[(&str, &str, &str)], advertised: Option<u16>) -> u16 {
    scram_users(dir, users).await;
    let port = free_port();
    start_tansu(
        &tansu_sql_binary(),
        dir,
        port,
        advertised.unwrap_or(port),
        "--storage-engine sqlite://tansu.db --authentication",
    )
    .await;
    port
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (certificate, key).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (crt, key) = (dir.join("broker.crt"), dir.join("broker.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the openssl command");
    assert!(status.success(), "openssl req failed");
    (crt, key)
}

/// Terminates TLS on `listen` and forwards each connection to `upstream` in plaintext.
async fn tls_proxy(listen: tokio::net::TcpListener, upstream: String, crt: PathBuf, key: PathBuf) {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor.set_certificate_chain_file(&crt).unwrap();
    acceptor
        .set_private_key_file(&key, SslFiletype::PEM)
        .unwrap();
    let acceptor = acceptor.build();
    loop {
        let Ok((socket, _)) = listen.accept().await else {
            return;
        };
        let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
        tokio::spawn(async move {
            let ssl = Ssl::new(acceptor.context()).unwrap();
            let mut tls = tokio_openssl::SslStream::new(ssl, socket).unwrap();
            if Pin::new(&mut tls).accept().await.is_err() {
                return;
            }
            let Ok(mut broker) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
        });
    }
}

/// A tansu reachable only through TLS, started by `start` with the port it must advertise
/// (it returns the port it listens on); returns the address to use and the CA file that
/// verifies it. The proxy lives as long as the test's runtime.
async fn behind_tls<F: std::future::Future<Output = u16>>(
    dir: &Path,
    start: impl FnOnce(u16) -> F,
) -> (String, PathBuf) {
    let (crt, key) = certificate(dir);
    let listen = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = listen.local_addr().unwrap().port();
    let broker_port = start(tls_port).await;
    tokio::spawn(tls_proxy(
        listen,
        format!("127.0.0.1:{broker_port}"),
        crt.clone(),
        key,
    ));
    (format!("127.0.0.1:{tls_port}"), crt)
}

/// A tansu without authentication (memory store) behind TLS.
async fn tls_broker(dir: &Path) -> (String, PathBuf) {
    behind_tls(dir, |tls_port| async move {
        let port = free_port();
        start_tansu(
            &tansu_binary(),
            dir,
            port,
            tls_port,
            "--storage-engine memory://tansu/",
        )
        .await;
        port
    })
    .await
}

/// Security settings of one client, applied to the sink's configuration and to the
/// test's consumer alike.
#[derive(Clone, Default)]
struct Security {
    protocol: Option<&'static str>,
    mechanism: Option<&'static str>,
    user: Option<String>,
    password: Option<String>,
    ca: Option<PathBuf>,
}

impl Security {
    fn sasl(protocol: &'static str, mechanism: &'static str, user: &str, password: &str) -> Self {
        Security {
            protocol: Some(protocol),
            mechanism: Some(mechanism),
            user: Some(user.into()),
            password: Some(password.into()),
            ca: None,
        }
    }

    fn apply(&self, c: &mut KafkaSinkConfig) {
        c.security_protocol = self.protocol.map(str::to_owned);
        c.sasl_mechanism = self.mechanism.map(str::to_owned);
        c.sasl_username = self.user.clone();
        c.sasl_password = self.password.clone();
        c.ssl_ca_location = self.ca.as_ref().map(|p| p.display().to_string());
    }

    fn consumer(&self, servers: &str) -> BaseConsumer {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", servers)
            .set("group.id", unique("security"))
            .set("enable.auto.commit", "false");
        let pairs = [
            ("security.protocol", self.protocol.map(str::to_owned)),
            ("sasl.mechanism", self.mechanism.map(str::to_owned)),
            ("sasl.username", self.user.clone()),
            ("sasl.password", self.password.clone()),
            (
                "ssl.ca.location",
                self.ca.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                c.set(k, v);
            }
        }
        c.create().expect("consumer")
    }
}

fn sink(servers: &str, security: &Security) -> KafkaSink {
    let mut config = KafkaSinkConfig {
        bootstrap_servers: servers.to_owned(),
        request_timeout: Duration::from_secs(5),
        flush_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    security.apply(&mut config);
    KafkaSink::new(config, &Default::default()).expect("sink")
}

/// Creates a 2-partition topic, sends `n` keyed records, flushes, and reads them back with a
/// consumer using the same security settings.
async fn round_trip(
    servers: &str,
    security: &Security,
    n: u64,
) -> Result<Vec<OwnedMessage>, SinkError> {
    let topic = unique("secure");
    let mut sink = sink(servers, security);
    sink.prepare_topics(&[TopicPlan {
        name: topic.clone(),
        partitions: Some(2),
    }])
    .await?;
    for i in 0..n {
        let (key, value, position) = (
            format!("{{\"id\":\"{i}\"}}"),
            format!("v{i}"),
            format!("0/1:{i}"),
        );
        let record = Record {
            topic: &topic,
            partition: None,
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            position: &position,
            tx: "7",
            table: "public.t",
            extra_headers: &[],
        };
        sink.send(&record, i).await?;
    }
    sink.flush().await?;
    assert_eq!(sink.durable_watermark(), n);
    let consumer = security.consumer(servers);
    let mut assignment = TopicPartitionList::new();
    for p in 0..2 {
        assignment
            .add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while (got.len() as u64) < n && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            got.push(m.expect("consume").detach());
        }
    }
    Ok(got)
}

fn values(messages: &[OwnedMessage]) -> Vec<String> {
    let mut v: Vec<String> = messages
        .iter()
        .map(|m| String::from_utf8(m.payload().unwrap().to_vec()).unwrap())
        .collect();
    v.sort();
    v
}

fn expected(n: u64) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha_256_and_512_log_in_and_a_wrong_password_is_refused() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().unwrap();
        let port = sasl_broker(
            dir.path(),
            &[
                ("alice", "secret-256", "scram256"),
                ("bob", "secret-512", "scram512"),
            ],
            None,
        )
        .await;
        let servers = format!("127.0.0.1:{port}");
        for (mechanism, user, password) in [
            ("SCRAM-SHA-256", "alice", "secret-256"),
            ("SCRAM-SHA-512", "bob", "secret-512"),
        ] {
            let security = Security::sasl("sasl_plaintext", mechanism, user, password);
            let got = round_trip(&servers, &security, 20).await.unwrap();
            assert_eq!(values(&got), expected(20), "{mechanism}");
        }
        for (mechanism, user, password) in [
            ("SCRAM-SHA-256", "alice", "wrong"),
            ("SCRAM-SHA-512", "alice", "secret-256"),
        ] {
            let wrong = Security::sasl("sasl_plaintext", mechanism, user, password);
            let error = round_trip(&servers, &wrong, 1).await.unwrap_err();
            let line = error.to_string();
            assert!(
                matches!(error, SinkError::Refused { .. })
                    && line.contains(&servers)
                    && line.contains("sasl_username"),
                "{mechanism} {user}/{password}: {line}"
            );
        }
        let anonymous = round_trip(&servers, &Security::default(), 1).await;
        assert!(anonymous.is_err(), "the broker requires a login");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verifies_the_broker_and_carries_every_connection() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().unwrap();
        let (servers, ca) = tls_broker(dir.path()).await;
        let tls = Security {
            protocol: Some("ssl"),
            ca: Some(ca),
            ..Default::default()
        };
        let got = round_trip(&servers, &tls, 20).await.unwrap();
        assert_eq!(values(&got), expected(20));

        let other = tempfile::tempdir().unwrap();
        let (other_ca, _) = certificate(other.path());
        let untrusted = Security {
            ca: Some(other_ca),
            ..tls.clone()
        };
        let error = round_trip(&servers, &untrusted, 1).await.unwrap_err();
        assert!(
            error.to_string().contains("certificate"),
            "an unverified broker is refused, naming the certificate: {error}"
        );
        let plaintext = Security::default();
        assert!(
            round_trip(&servers, &plaintext, 1).await.is_err(),
            "the proxy speaks only TLS"
        );
    })
    .await
    .expect("test timed out");
}

/// The precheck's free-space read (its own connections, not librdkafka's) speaks TLS with
/// the same CA file: through the proxy it reaches tansu's ApiVersions answer (no
/// DescribeLogDirs), an untrusted certificate is refused, and a SASL protocol is not spoken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_space_read_speaks_tls_and_leaves_sasl_alone() {
    use tributary::sink::kafka::log_dirs::{describe, Space};
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().unwrap();
        let (servers, ca) = tls_broker(dir.path()).await;
        let config = |security: &Security| {
            let mut c = KafkaSinkConfig {
                bootstrap_servers: servers.clone(),
                ..Default::default()
            };
            security.apply(&mut c);
            c
        };
        let step = Duration::from_secs(5);
        let tls = Security {
            protocol: Some("ssl"),
            ca: Some(ca),
            ..Default::default()
        };
        assert_eq!(
            describe(&config(&tls), step).await,
            Ok(Space::NotOffered {
                broker: servers.clone(),
                offered: None
            })
        );
        let other = tempfile::tempdir().unwrap();
        let (other_ca, _) = certificate(other.path());
        let untrusted = Security {
            ca: Some(other_ca),
            ..tls.clone()
        };
        let error = describe(&config(&untrusted), step).await.unwrap_err();
        assert!(error.contains("certificate"), "{error}");
        let sasl = Security::sasl("sasl_ssl", "SCRAM-SHA-512", "u", "p");
        assert_eq!(describe(&config(&sasl), step).await, Ok(Space::Sasl));
    })
    .await
    .expect("test timed out");
}

/// `tributary run` from PostgreSQL over SASL_SSL: SCRAM-SHA-512 inside TLS, the password from
/// `sasl_password_env`; the snapshot and a streamed insert read back over the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_streams_over_sasl_ssl_with_scram_sha_512() {
    use support::*;
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().unwrap();
        let users = [("tributary", "kafka-s3cret", "scram512")];
        let (servers, ca) =
            behind_tls(dir.path(), |tls_port| sasl_broker(dir.path(), &users, Some(tls_port)))
                .await;
        let db = TestDb::create("saslssl").await;
        db.client
            .batch_execute("CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'a'), (2, 'b')")
            .await
            .unwrap();
        let task = unique("saslssl");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &servers,
            &["public.items"],
            &["full", "incremental"],
            "",
        );
        add_to_section(
            &path,
            "destination",
            &format!(
                "security_protocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\n\
                 sasl_username = \"tributary\"\nsasl_password_env = \"TRIBUTARY_TEST_KAFKA_PASSWORD\"\n\
                 ssl_ca_location = {:?}",
                ca.display().to_string()
            ),
        );
        let child = tributary()
            .args(["run", "--task"])
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("TRIBUTARY_TEST_KAFKA_PASSWORD", "kafka-s3cret")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Proc::from_child(child);
        child
            .wait_stream_active(&db, &task, Duration::from_secs(60))
            .await;
        db.client
            .batch_execute("INSERT INTO items VALUES (3, 'c')")
            .await
            .unwrap();
        let security = Security {
            ca: Some(ca),
            ..Security::sasl("sasl_ssl", "SCRAM-SHA-512", "tributary", "kafka-s3cret")
        };
        let consumer = security.consumer(&servers);
        let topic = format!("{task}.public.items");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ids = Vec::new();
        while ids.len() < 3 && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m.expect("consume");
                let key: serde_json::Value = serde_json::from_slice(m.key().unwrap()).unwrap();
                ids.push(key["id"].as_i64().unwrap());
            }
        }
        assert_eq!(ids, [1, 2, 3], "the snapshot, then the streamed insert");
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(60));
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("kafka-s3cret"), "the password is never printed:\n{err}");
        db.cleanup().await;
    })
    .await
    .expect("test timed out");
}
