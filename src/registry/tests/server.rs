//! A small HTTP/1.1 server that answers requests with recorded Confluent Schema Registry
//! exchanges, over plain TCP or TLS (optionally asking for a client certificate), and checks basic
//! auth as the registry does. It records what it was asked, for the tests to check.
//!
//! One request per connection (`Connection: close`); a request with no recording gets a 418,
//! which the client reports as an unexpected answer naming it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A recorded answer to `method path` (the path with its query).
#[derive(Clone, Copy)]
pub struct Exchange {
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub body: &'static str,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The registry's 401 answer to a request without the right credentials: Confluent Platform's
/// answer in the cp-demo tutorial, Schema Registry section, with `-u noexist:noexist`
/// (confluentinc/cp-demo docs/index.rst; https://docs.confluent.io/platform/current/tutorials/cp-demo/docs/index.html).
pub const UNAUTHORIZED: &str = r#"{"error_code":401,"message":"Unauthorized"}"#;

pub struct Registry {
    exchanges: Vec<Exchange>,
    basic_auth: Option<String>,
    tls: Option<SslAcceptor>,
    silent: bool,
}

/// A running server; stops when dropped.
pub struct Served {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

impl Registry {
    pub fn new(exchanges: &[Exchange]) -> Registry {
        Registry {
            exchanges: exchanges.to_vec(),
            basic_auth: None,
            tls: None,
            silent: false,
        }
    }

    /// Answers 401 unless the request carries these credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Registry {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.basic_auth = Some(format!("Basic {token}"));
        self
    }

    /// Speaks TLS with this certificate; with `client_ca`, asks for a client certificate
    /// that CA signed and refuses the handshake without one.
    pub fn tls(mut self, cert: &Path, key: &Path, client_ca: Option<&Path>) -> Registry {
        let mut a = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        a.set_certificate_chain_file(cert).unwrap();
        a.set_private_key_file(key, SslFiletype::PEM).unwrap();
        if let Some(ca) = client_ca {
            a.set_ca_file(ca).unwrap();
            a.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        self.tls = Some(a.build());
        self
    }

    /// Accepts connections and reads requests but never answers.
    pub fn silent(mut self) -> Registry {
        self.silent = true;
        self
    }

    pub async fn serve(self) -> Served {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let this = Arc::new(self);
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (this, log) = (this.clone(), log.clone());
                tokio::spawn(async move {
                    match &this.tls {
                        None => this.connection(tcp, &log).await,
                        Some(acceptor) => {
                            let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                                return;
                            };
                            let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else {
                                return;
                            };
                            if std::pin::Pin::new(&mut stream).accept().await.is_ok() {
                                this.connection(stream, &log).await;
                            }
                        }
                    }
                });
            }
        });
        Served { addr, seen, task }
    }

    async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        log: &Mutex<Vec<Seen>>,
    ) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        log.lock().unwrap().push(request.clone());
        if self.silent {
            let mut rest = [0u8; 1];
            let _ = stream.read(&mut rest).await;
            return;
        }
        let (status, body) = self.answer(&request);
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn answer(&self, request: &Seen) -> (u16, String) {
        if let Some(expected) = &self.basic_auth {
            if request.header("authorization") != Some(expected.as_str()) {
                return (401, UNAUTHORIZED.to_owned());
            }
        }
        match self
            .exchanges
            .iter()
            .find(|e| e.method == request.method && e.path == request.path)
        {
            Some(e) => (e.status, e.body.to_owned()),
            None => (
                418,
                format!("no recording for {} {}", request.method, request.path),
            ),
        }
    }
}

/// Reads one request: the head up to the blank line, then `Content-Length` bytes of body.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}
