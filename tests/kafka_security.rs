//! SASL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) and TLS to the broker, end to end against tansu.
//!
//! What each test's broker is, and why:
//! - SASL: a private tansu started with `--authentication` (it then refuses every request of
//!   an unauthenticated connection). Its SCRAM users are made with the Kafka admin call
//!   `AlterUserScramCredentials` (librdkafka's, through `rdkafka::bindings`): tansu keeps users
//!   in its storage, here in memory, and `tansu user create` cannot log in to a broker that
//!   requires authentication, so the admin call logs in with PLAIN first. tansu 0.6's PLAIN
//!   accepts any password for any name (`tansu-auth`: it checks only that both are present),
//!   so PLAIN is tested for the client's side of the exchange, not for a refused password;
//!   SCRAM is verified by the broker (a wrong password is refused).
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

/// Starts a private tansu listening on `port` and advertising `advertised`, with `extra`
/// arguments; a watchdog shell stops it when this test process exits.
fn start_tansu(port: u16, advertised: u16, extra: &str) {
    let binary = tansu_binary();
    assert!(
        binary.exists(),
        "no tansu at {}: see TEST-ENV.md",
        binary.display()
    );
    let script = format!(
        "{bin:?} broker --listener-url tcp://127.0.0.1:{port} \
         --advertised-listener-url tcp://127.0.0.1:{advertised} --storage-engine memory://tansu/ \
         --silent {extra} >/tmp/tributary-security-tansu-{port}.log 2>&1 & t=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $t",
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
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tansu did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tansu that requires SASL; returns its address.
fn sasl_broker() -> String {
    let port = free_port();
    start_tansu(port, port, "--authentication");
    format!("127.0.0.1:{port}")
}

/// Creates a SCRAM user (`mechanism`: `SCRAM-SHA-256` or `SCRAM-SHA-512`) with the admin call
/// `AlterUserScramCredentials` (v0), on a connection logged in with PLAIN (SaslHandshake v1,
/// SaslAuthenticate v1). The wire format is Kafka's protocol guide's; the salted password is
/// SCRAM's `Hi(password, salt, iterations)` (RFC 5802), PBKDF2 with the mechanism's hash.
fn create_scram_user(servers: &str, user: &str, password: &str, mechanism: &str) {
    use openssl::hash::MessageDigest;
    use std::io::{Read, Write};
    let (code, digest, len) = match mechanism {
        "SCRAM-SHA-256" => (1i8, MessageDigest::sha256(), 32),
        "SCRAM-SHA-512" => (2i8, MessageDigest::sha512(), 64),
        other => panic!("not a SCRAM mechanism: {other}"),
    };
    let salt = b"tributary-test-salt";
    let iterations = 4096;
    let mut salted = vec![0u8; len];
    openssl::pkcs5::pbkdf2_hmac(password.as_bytes(), salt, iterations, digest, &mut salted)
        .unwrap();

    let mut conn = std::net::TcpStream::connect(servers).expect("connect to the broker");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut call = |api: i16, version: i16, flexible: bool, body: &[u8]| -> Vec<u8> {
        let mut req = Vec::new();
        req.extend(api.to_be_bytes());
        req.extend(version.to_be_bytes());
        req.extend(7i32.to_be_bytes()); // correlation id
        req.extend(4i16.to_be_bytes());
        req.extend(b"test"); // client id
        if flexible {
            req.push(0); // no tagged fields
        }
        req.extend(body);
        conn.write_all(&(req.len() as i32).to_be_bytes()).unwrap();
        conn.write_all(&req).unwrap();
        let mut size = [0u8; 4];
        conn.read_exact(&mut size).unwrap();
        let mut resp = vec![0u8; i32::from_be_bytes(size) as usize];
        conn.read_exact(&mut resp).unwrap();
        assert_eq!(resp[..4], 7i32.to_be_bytes(), "correlation id");
        // Past the correlation id (and a flexible header's empty tagged fields).
        resp.split_off(if flexible { 5 } else { 4 })
    };
    let error_code = |b: &[u8], at: usize| i16::from_be_bytes([b[at], b[at + 1]]);

    let mut handshake = 5i16.to_be_bytes().to_vec();
    handshake.extend(b"PLAIN");
    assert_eq!(
        error_code(&call(17, 1, false, &handshake), 0),
        0,
        "SaslHandshake"
    );
    let token = b"\0admin\0admin";
    let mut auth = (token.len() as i32).to_be_bytes().to_vec();
    auth.extend(token);
    assert_eq!(
        error_code(&call(36, 1, false, &auth), 0),
        0,
        "SaslAuthenticate"
    );

    let compact = |out: &mut Vec<u8>, b: &[u8]| {
        out.push(b.len() as u8 + 1);
        out.extend(b);
    };
    let mut body = vec![1u8]; // no deletions
    body.push(2); // one upsertion
    compact(&mut body, user.as_bytes());
    body.push(code as u8);
    body.extend((iterations as i32).to_be_bytes());
    compact(&mut body, salt);
    compact(&mut body, &salted);
    body.push(0); // the upsertion's tagged fields
    body.push(0); // the request's tagged fields
    let resp = call(51, 0, true, &body);
    // throttle_time_ms, then one result: user (compact string), error_code.
    assert_eq!(resp[4], 2, "one result");
    let user_len = resp[5] as usize - 1;
    assert_eq!(
        error_code(&resp, 6 + user_len),
        0,
        "AlterUserScramCredentials for {user}"
    );
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

/// A tansu (with `extra` arguments) reachable only through TLS; returns its address and the
/// CA file that verifies it. The proxy lives as long as the test's runtime.
async fn tls_broker(dir: &Path, extra: &str) -> (String, PathBuf) {
    let (crt, key) = certificate(dir);
    let listen = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = listen.local_addr().unwrap().port();
    let broker_port = free_port();
    start_tansu(broker_port, tls_port, extra);
    tokio::spawn(tls_proxy(
        listen,
        format!("127.0.0.1:{broker_port}"),
        crt.clone(),
        key,
    ));
    (format!("127.0.0.1:{tls_port}"), crt)
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
        let servers = sasl_broker();
        create_scram_user(&servers, "alice", "secret-256", "SCRAM-SHA-256");
        create_scram_user(&servers, "bob", "secret-512", "SCRAM-SHA-512");
        for (mechanism, user, password) in [
            ("SCRAM-SHA-256", "alice", "secret-256"),
            ("SCRAM-SHA-512", "bob", "secret-512"),
        ] {
            let security = Security::sasl("sasl_plaintext", mechanism, user, password);
            let got = round_trip(&servers, &security, 20).await.unwrap();
            assert_eq!(values(&got), expected(20), "{mechanism}");
        }
        let wrong = Security::sasl("sasl_plaintext", "SCRAM-SHA-256", "alice", "wrong");
        let error = round_trip(&servers, &wrong, 1).await.unwrap_err();
        let line = error.to_string();
        assert!(
            line.contains("authentication") && line.contains("sasl_username"),
            "{error:?}: {line}"
        );
        let nobody = Security::default();
        let error = round_trip(&servers, &nobody, 1).await.unwrap_err();
        assert!(!error.to_string().is_empty(), "{error:?}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_logs_in() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let servers = sasl_broker();
        let security = Security::sasl("sasl_plaintext", "PLAIN", "carol", "secret-plain");
        let got = round_trip(&servers, &security, 20).await.unwrap();
        assert_eq!(values(&got), expected(20));
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verifies_the_broker_and_carries_every_connection() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().unwrap();
        let (servers, ca) = tls_broker(dir.path(), "").await;
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
