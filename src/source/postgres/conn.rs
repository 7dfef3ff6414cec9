//! Connections to PostgreSQL: SQL sessions (tokio-postgres) and the logical replication
//! connection, which tokio-postgres cannot open, written here on `postgres-protocol`.
//!
//! Both kinds take the same libpq-style URL (password, SCRAM/MD5, `sslmode`), and both pin the
//! session's time zone and date/interval output so that any value that travels as text reads
//! the same on every server (`shared/reference/ORACLE-COMPATIBLE-PG.md`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::{backend, frontend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};

use super::error::{error_chain, PgSourceError, ServerError};

/// How long a connection attempt may take before the server counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Session settings pinned on every connection (startup parameters), so that text output of
/// dates, times and intervals does not depend on the server's or role's defaults.
const PINNED_SESSION: [(&str, &str); 4] = [
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
];

/// Settings of Oracle-compatible servers, applied with `SET` only where the server has them.
const ORACLE_SESSION: [(&str, &str); 3] = [
    ("nls_date_format", "SYYYY-MM-DD HH24:MI:SS"),
    ("nls_timestamp_format", "SYYYY-MM-DD HH24:MI:SS.FF6"),
    (
        "nls_timestamp_tz_format",
        "SYYYY-MM-DD HH24:MI:SS.FF6 TZH:TZM",
    ),
];

/// tokio-postgres' own `keepalives_idle` (two hours, as libpq's system default).
const TOKIO_POSTGRES_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// SQL sessions' keepalive idle time unless the URL sets `keepalives_idle`.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(30);
/// SQL sessions' TCP user timeout unless the URL sets `tcp_user_timeout`.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how to connect.
#[derive(Clone)]
pub struct PgConnectConfig {
    config: tokio_postgres::Config,
    ssl_root_cert: Option<String>,
    /// The TLS connector without a root certificate, built once: building one loads the
    /// system's CA bundle (tens of milliseconds), which it then does not even use.
    unverified_tls: Arc<OnceLock<SslConnector>>,
    /// `wal_sender_timeout` for this task's replication connections (the server's otherwise).
    wal_sender_timeout: Option<Duration>,
}

impl std::fmt::Debug for PgConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgConnectConfig({})", self.target())
    }
}

impl PgConnectConfig {
    /// From a URL, with an optional password that replaces the URL's.
    pub fn new(
        url: &str,
        password: Option<String>,
        ssl_root_cert: Option<String>,
    ) -> Result<Self, String> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| format!("invalid source.url: {e}"))?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tributary");
        }
        // A network partition that closes nothing must not hold a query (the resume's catalog
        // reads, say) for the system's two hours: keepalives after 30 s idle, and the
        // connection given up once sent data stays unacknowledged for 60 s (TCP_USER_TIMEOUT),
        // unless the URL sets them.
        if config.get_keepalives_idle() == TOKIO_POSTGRES_KEEPALIVES_IDLE {
            config.keepalives_idle(KEEPALIVES_IDLE);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_hosts().len() > 1 {
            // A host list names a primary and its standbys: the source is whichever is the
            // primary now (after a failover, the promoted standby).
            config.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        Ok(PgConnectConfig {
            config,
            ssl_root_cert,
            unverified_tls: Arc::default(),
            wal_sender_timeout: None,
        })
    }

    /// Sets `wal_sender_timeout` on the replication connections opened with this config: the
    /// walsender of a worker that stopped answering (paused, cut off) then ends after this
    /// long and frees its slot for the shard's next owner, instead of after the server's
    /// default (60 s).
    pub fn set_wal_sender_timeout(&mut self, timeout: Duration) {
        self.wal_sender_timeout = Some(timeout);
    }

    /// `host:port/db` for messages (never the password).
    pub fn target(&self) -> String {
        self.target_at(0)
    }

    /// `host:port/db` of the `i`-th host of the URL's host list.
    pub fn target_at(&self, i: usize) -> String {
        let (host, port) = self.host_at(i);
        let host = match host {
            Host::Tcp(h) => h,
            Host::Unix(p) => p.display().to_string(),
        };
        format!("{host}:{port}/{}", self.database())
    }

    /// The `i`-th host of the URL and its port (one port for all, or one per host).
    fn host_at(&self, i: usize) -> (Host, u16) {
        let host = self
            .config
            .get_hosts()
            .get(i)
            .cloned()
            .unwrap_or(Host::Tcp("localhost".into()));
        let ports = self.config.get_ports();
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        (host, port)
    }

    /// How many hosts the URL names (at least one).
    pub fn hosts(&self) -> usize {
        self.config.get_hosts().len().max(1)
    }

    pub fn user(&self) -> String {
        self.config
            .get_user()
            .map(str::to_owned)
            .unwrap_or_else(|| std::env::var("USER").unwrap_or_default())
    }

    pub fn database(&self) -> String {
        self.config
            .get_dbname()
            .map(str::to_owned)
            .unwrap_or_else(|| self.user())
    }

    fn tls(&self) -> Result<SslConnector, PgSourceError> {
        let tls_err = |e: openssl::error::ErrorStack| PgSourceError::Tls(e.to_string());
        match &self.ssl_root_cert {
            // Read again on every connection: the file may be replaced while a task runs.
            Some(ca) => {
                let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(tls_err)?;
                b.set_ca_file(ca).map_err(tls_err)?;
                Ok(b.build())
            }
            None => self.unverified_tls().map_err(tls_err),
        }
    }

    /// libpq's `sslmode=require` without a root certificate: encrypt without verifying.
    fn unverified_tls(&self) -> Result<SslConnector, openssl::error::ErrorStack> {
        if let Some(c) = self.unverified_tls.get() {
            return Ok(c.clone());
        }
        let mut b = SslConnector::builder(SslMethod::tls_client())?;
        b.set_verify(SslVerifyMode::NONE);
        let connector = b.build();
        let _ = self.unverified_tls.set(connector.clone());
        Ok(connector)
    }

    /// Opens an SQL session with the pinned settings.
    pub async fn connect_sql(
        &self,
        purpose: &str,
    ) -> Result<tokio_postgres::Client, PgSourceError> {
        let mut config = self.config.clone();
        config.options(pinned_options(self.config.get_options()));
        // With a root certificate the connector is built (and the file read) up front, so that
        // a bad file is reported as before; without one, only if the server accepts TLS.
        let verified = match self.ssl_root_cert {
            Some(_) => Some(self.tls()?),
            None => None,
        };
        let tls = LazyTls {
            cfg: self.clone(),
            verified,
        };
        let (client, connection) = config
            .connect(tls)
            .await
            .map_err(|e| self.connect_error(e))?;
        let purpose = purpose.to_owned();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(purpose, error = %error_chain(&e), "SQL connection closed");
            }
        });
        super::oracle_port::use_postgres_parser(&client, &self.target()).await?;
        pin_oracle_session(&client).await?;
        Ok(client)
    }

    fn connect_error(&self, e: tokio_postgres::Error) -> PgSourceError {
        if let Some(db) = e.as_db_error() {
            let server = ServerError::from_db(db);
            if server.code.starts_with("28") {
                return PgSourceError::Auth {
                    user: self.user(),
                    server,
                };
            }
            return PgSourceError::Server {
                context: format!("connecting to {}", self.target()),
                server,
            };
        }
        let reason = error_chain(&e);
        if is_tls_failure(&e) {
            return tls_failure(self.target(), reason);
        }
        if reason.contains("password") {
            // The client side refuses before asking the server (e.g. no password given).
            let server = ServerError {
                code: "28P01".into(),
                message: reason,
                detail: None,
                hint: None,
            };
            return PgSourceError::Auth {
                user: self.user(),
                server,
            };
        }
        PgSourceError::Unreachable {
            target: self.target(),
            reason,
        }
    }
}

/// tokio-postgres TLS over OpenSSL whose connector is built only when the server accepts TLS:
/// building one loads the system's CA bundle (tens of milliseconds of CPU), which a server
/// without TLS (`sslmode=prefer`, the default) never needs.
struct LazyTls {
    cfg: PgConnectConfig,
    /// The connector for a configured root certificate, built up front.
    verified: Option<SslConnector>,
}

impl<S> MakeTlsConnect<S> for LazyTls
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send + Sync + 'static,
{
    type Stream = postgres_openssl::TlsStream<S>;
    type TlsConnect = LazyTlsConnect;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, domain: &str) -> Result<LazyTlsConnect, Self::Error> {
        Ok(LazyTlsConnect {
            cfg: self.cfg.clone(),
            verified: self.verified.clone(),
            domain: domain.to_owned(),
        })
    }
}

struct LazyTlsConnect {
    cfg: PgConnectConfig,
    verified: Option<SslConnector>,
    domain: String,
}

impl<S> TlsConnect<S> for LazyTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send + Sync + 'static,
{
    type Stream = postgres_openssl::TlsStream<S>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Stream, Self::Error>> + Send>,
    >;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = match self.verified {
                Some(c) => c,
                // An OpenSSL error type, as the eager connector's errors were.
                None => self.cfg.unverified_tls()?,
            };
            let mut make = postgres_openssl::MakeTlsConnector::new(connector);
            let tls = MakeTlsConnect::<S>::make_tls_connect(&mut make, &self.domain)?;
            tls.connect(stream).await
        })
    }
}

/// Whether the failure came from the TLS layer (by the error's type, not its text).
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<openssl::ssl::Error>() || err.is::<openssl::error::ErrorStack>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// libpq `options` with the pinned settings appended.
fn pinned_options(user: Option<&str>) -> String {
    let mut o = user.unwrap_or("").to_owned();
    for (k, v) in PINNED_SESSION {
        o.push_str(&format!(" -c {k}={}", v.replace(' ', "\\ ")));
    }
    o.trim().to_owned()
}

/// Sets the Oracle-mode output formats where the server knows them (IvorySQL, PolarDB-O).
async fn pin_oracle_session(client: &tokio_postgres::Client) -> Result<(), PgSourceError> {
    let rows = client
        .query(
            "SELECT name FROM pg_settings WHERE name = ANY($1)",
            &[&ORACLE_SESSION.map(|(k, _)| k).to_vec()],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading session settings", e))?;
    for row in rows {
        let name: &str = row.get(0);
        if let Some((_, v)) = ORACLE_SESSION.iter().find(|(k, _)| *k == name) {
            client
                .batch_execute(&format!("SET {name} = '{v}'"))
                .await
                .map_err(|e| PgSourceError::sql("pinning session settings", e))?;
        }
    }
    Ok(())
}

/// A byte stream to the server, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A logical replication connection (`replication=database`).
pub struct ReplicationConn {
    io: Box<dyn Io>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    target: String,
    /// Set while waiting for START_REPLICATION's CopyBothResponse.
    copy_both_allowed: bool,
}

/// One row of a simple-query result, as text.
pub type TextRow = Vec<Option<String>>;

impl ReplicationConn {
    /// Connects, negotiates TLS per `sslmode`, authenticates and waits until ready. With a
    /// host list, the hosts are tried in order and the first that is not in recovery (the
    /// primary) is kept, as `target_session_attrs=read-write` does for SQL sessions.
    pub async fn connect(cfg: &PgConnectConfig) -> Result<ReplicationConn, PgSourceError> {
        let hosts = cfg.hosts();
        let mut last = None;
        for i in 0..hosts {
            let mut conn = match Self::connect_to(cfg, i).await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            if hosts == 1 || !conn.in_recovery().await? {
                return Ok(conn);
            }
            last = Some(PgSourceError::Unreachable {
                target: cfg.target_at(i),
                reason: "a standby (in recovery), not the primary".into(),
            });
        }
        Err(last.unwrap_or_else(|| PgSourceError::Unreachable {
            target: cfg.target(),
            reason: "the URL names no host".into(),
        }))
    }

    /// Whether the server is a standby.
    async fn in_recovery(&mut self) -> Result<bool, PgSourceError> {
        let rows = self.simple_query("SELECT pg_is_in_recovery()").await?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|v| v == "t"))
    }

    /// Connects to the URL's `i`-th host.
    pub async fn connect_to(
        cfg: &PgConnectConfig,
        i: usize,
    ) -> Result<ReplicationConn, PgSourceError> {
        let timeout = cfg
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let target = cfg.target_at(i);
        let io = tokio::time::timeout(timeout, open_io(cfg, i))
            .await
            .map_err(|_| PgSourceError::Unreachable {
                target: target.clone(),
                reason: "connection timed out".into(),
            })??;
        let mut conn = ReplicationConn {
            io,
            rbuf: BytesMut::with_capacity(1 << 16),
            wbuf: BytesMut::new(),
            target,
            copy_both_allowed: false,
        };
        conn.startup(cfg).await?;
        Ok(conn)
    }

    async fn startup(&mut self, cfg: &PgConnectConfig) -> Result<(), PgSourceError> {
        let user = cfg.user();
        let db = cfg.database();
        let mut params: Vec<(&str, &str)> = vec![
            ("user", &user),
            ("database", &db),
            ("replication", "database"),
            (
                "application_name",
                cfg.config.get_application_name().unwrap_or("tributary"),
            ),
            ("client_encoding", "UTF8"),
        ];
        params.extend(PINNED_SESSION);
        let timeout = cfg
            .wal_sender_timeout
            .map(|t| format!("{}ms", t.as_millis()));
        if let Some(t) = &timeout {
            params.push(("wal_sender_timeout", t));
        }
        // The URL's `options` (e.g. `-c logical_decoding_work_mem=16MB`) reach the walsender
        // too, as libpq passes them.
        if let Some(o) = cfg.config.get_options().filter(|o| !o.trim().is_empty()) {
            params.push(("options", o));
        }
        frontend::startup_message(params.iter().copied(), &mut self.wbuf)
            .map_err(|e| self.io_err("starting up", e))?;
        self.flush("starting up").await?;
        self.authenticate(cfg).await?;
        self.until_ready("starting up", &mut Vec::new()).await
    }

    async fn authenticate(&mut self, cfg: &PgConnectConfig) -> Result<(), PgSourceError> {
        let password = cfg.config.get_password().unwrap_or(b"").to_vec();
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.read_message("authenticating").await? {
                backend::Message::AuthenticationOk => return Ok(()),
                backend::Message::AuthenticationCleartextPassword => {
                    frontend::password_message(&password, &mut self.wbuf)
                        .map_err(|e| self.io_err("authenticating", e))?;
                }
                backend::Message::AuthenticationMd5Password(body) => {
                    let hash = postgres_protocol::authentication::md5_hash(
                        cfg.user().as_bytes(),
                        &password,
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf)
                        .map_err(|e| self.io_err("authenticating", e))?;
                }
                backend::Message::AuthenticationSasl(_) => {
                    let s = ScramSha256::new(&password, ChannelBinding::unsupported());
                    frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut self.wbuf)
                        .map_err(|e| self.io_err("authenticating", e))?;
                    scram = Some(s);
                }
                backend::Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        self.protocol("authenticating", "SASL continue before start")
                    })?;
                    s.update(body.data())
                        .map_err(|e| self.auth_err(cfg, e.to_string()))?;
                    frontend::sasl_response(s.message(), &mut self.wbuf)
                        .map_err(|e| self.io_err("authenticating", e))?;
                }
                backend::Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        self.protocol("authenticating", "SASL final before start")
                    })?;
                    s.finish(body.data())
                        .map_err(|e| self.auth_err(cfg, e.to_string()))?;
                    continue;
                }
                backend::Message::ErrorResponse(body) => {
                    let server = server_error(&body);
                    return Err(if server.code.starts_with("28") {
                        PgSourceError::Auth {
                            user: cfg.user(),
                            server,
                        }
                    } else {
                        PgSourceError::Server {
                            context: format!("connecting to {}", self.target),
                            server,
                        }
                    });
                }
                _ => {
                    return Err(self.protocol(
                        "authenticating",
                        "unsupported authentication method (use SCRAM, MD5 or password)",
                    ))
                }
            }
            self.flush("authenticating").await?;
        }
    }

    fn auth_err(&self, cfg: &PgConnectConfig, message: String) -> PgSourceError {
        PgSourceError::Auth {
            user: cfg.user(),
            server: ServerError {
                code: "28P01".into(),
                message,
                detail: None,
                hint: None,
            },
        }
    }

    /// Runs one statement with the simple query protocol; returns its rows as text.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<TextRow>, PgSourceError> {
        frontend::query(sql, &mut self.wbuf).map_err(|e| self.io_err(sql, e))?;
        self.flush(sql).await?;
        let mut rows = Vec::new();
        self.until_ready(sql, &mut rows).await?;
        Ok(rows)
    }

    /// Reads until ReadyForQuery, collecting data rows; the first server error is returned.
    async fn until_ready(
        &mut self,
        context: &str,
        rows: &mut Vec<TextRow>,
    ) -> Result<(), PgSourceError> {
        let mut error = None;
        loop {
            match self.read_message(context).await? {
                backend::Message::ReadyForQuery(_) => return error.map_or(Ok(()), Err),
                backend::Message::ErrorResponse(body) => {
                    let server = server_error(&body);
                    error.get_or_insert(PgSourceError::Server {
                        context: context.to_owned(),
                        server,
                    });
                }
                backend::Message::DataRow(body) => {
                    rows.push(text_row(&body).map_err(|e| self.io_err(context, e))?)
                }
                _ => {}
            }
        }
    }

    /// Sends `START_REPLICATION` and returns the connection in CopyBoth mode.
    pub async fn start_replication(
        mut self,
        sql: &str,
    ) -> Result<(Box<dyn Io>, BytesMut), PgSourceError> {
        frontend::query(sql, &mut self.wbuf).map_err(|e| self.io_err(sql, e))?;
        self.flush(sql).await?;
        // The CopyBothResponse is reported as CopyDone by `read_message` (see there).
        self.copy_both_allowed = true;
        loop {
            match self.read_message(sql).await? {
                backend::Message::CopyDone => return Ok((self.io, self.rbuf)),
                backend::Message::ErrorResponse(body) => {
                    let server = server_error(&body);
                    let _ = self.until_ready(sql, &mut Vec::new()).await;
                    return Err(PgSourceError::Server {
                        context: "starting replication".into(),
                        server,
                    });
                }
                backend::Message::NoticeResponse(_) | backend::Message::ParameterStatus(_) => {}
                _ => return Err(self.protocol(sql, "expected CopyBothResponse")),
            }
        }
    }

    /// Ends the session politely.
    pub async fn close(mut self) {
        frontend::terminate(&mut self.wbuf);
        let _ = self.flush("closing").await;
    }

    async fn read_message(&mut self, context: &str) -> Result<backend::Message, PgSourceError> {
        loop {
            if self.copy_both_allowed && take_copy_both(&mut self.rbuf) {
                return Ok(backend::Message::CopyDone);
            }
            if let Some(m) =
                backend::Message::parse(&mut self.rbuf).map_err(|e| self.io_err(context, e))?
            {
                return Ok(m);
            }
            let n = self
                .io
                .read_buf(&mut self.rbuf)
                .await
                .map_err(|e| self.io_err(context, e))?;
            if n == 0 {
                return Err(PgSourceError::Connection {
                    context: context.to_owned(),
                    reason: "server closed the connection".into(),
                });
            }
        }
    }

    async fn flush(&mut self, context: &str) -> Result<(), PgSourceError> {
        let buf = self.wbuf.split();
        self.io
            .write_all(&buf)
            .await
            .map_err(|e| self.io_err(context, e))?;
        self.io.flush().await.map_err(|e| self.io_err(context, e))
    }

    fn io_err(&self, context: &str, e: std::io::Error) -> PgSourceError {
        PgSourceError::Connection {
            context: format!("{context} ({})", self.target),
            reason: e.to_string(),
        }
    }

    fn protocol(&self, context: &str, what: &str) -> PgSourceError {
        PgSourceError::Protocol {
            context: context.to_owned(),
            what: what.to_owned(),
        }
    }
}

/// Opens TCP (or a Unix socket) to the URL's `i`-th host and negotiates TLS as `sslmode` asks.
async fn open_io(cfg: &PgConnectConfig, i: usize) -> Result<Box<dyn Io>, PgSourceError> {
    let (host, port) = cfg.host_at(i);
    let unreachable = |reason: String| PgSourceError::Unreachable {
        target: cfg.target_at(i),
        reason,
    };
    let tcp = match &host {
        Host::Tcp(h) => tokio::net::TcpStream::connect((h.as_str(), port))
            .await
            .map_err(|e| unreachable(e.to_string()))?,
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            return Ok(Box::new(s));
        }
    };
    let _ = tcp.set_nodelay(true);
    let mode = cfg.config.get_ssl_mode();
    if mode == SslMode::Disable {
        return Ok(Box::new(tcp));
    }
    negotiate_tls(cfg, tcp, &host, mode).await
}

async fn negotiate_tls(
    cfg: &PgConnectConfig,
    mut tcp: tokio::net::TcpStream,
    host: &Host,
    mode: SslMode,
) -> Result<Box<dyn Io>, PgSourceError> {
    let mut req = BytesMut::new();
    frontend::ssl_request(&mut req);
    let io_err = |e: std::io::Error| PgSourceError::Unreachable {
        target: cfg.target(),
        reason: e.to_string(),
    };
    tcp.write_all(&req).await.map_err(io_err)?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(io_err)?;
    if answer[0] != b'S' {
        if mode == SslMode::Require {
            return Err(PgSourceError::Tls(
                "the server does not accept TLS but sslmode=require".into(),
            ));
        }
        return Ok(Box::new(tcp));
    }
    let name = match host {
        Host::Tcp(h) => h.clone(),
        Host::Unix(_) => "localhost".into(),
    };
    let mut conf = cfg
        .tls()?
        .configure()
        .map_err(|e| PgSourceError::Tls(e.to_string()))?;
    if cfg.ssl_root_cert.is_none() {
        conf.set_verify_hostname(false);
    }
    let ssl = conf
        .into_ssl(&name)
        .map_err(|e| PgSourceError::Tls(e.to_string()))?;
    let mut stream =
        tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| PgSourceError::Tls(e.to_string()))?;
    std::pin::Pin::new(&mut stream)
        .connect()
        .await
        .map_err(|e| tls_failure(cfg.target(), e.to_string()))?;
    Ok(Box::new(stream))
}

/// A failed TLS handshake: a connection that closed or reset during it is a connection failure
/// (retried: a network cut, a restarting server), anything else a TLS set-up error (definite).
fn tls_failure(target: String, reason: String) -> PgSourceError {
    let dropped = [
        "unexpected EOF",
        "Connection reset",
        "Broken pipe",
        "connection closed",
    ]
    .iter()
    .any(|s| reason.contains(s));
    if dropped {
        return PgSourceError::Unreachable {
            target,
            reason: format!("the connection closed during the TLS handshake ({reason})"),
        };
    }
    PgSourceError::Tls(reason)
}

fn server_error(body: &backend::ErrorResponseBody) -> ServerError {
    use postgres_protocol::message::backend::ErrorField;
    let mut e = ServerError {
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    let mut fields = body.fields();
    while let Ok(Some(f)) = fallible_iterator::FallibleIterator::next(&mut fields) {
        let f: ErrorField<'_> = f;
        let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => e.code = v,
            b'M' => e.message = v,
            b'D' => e.detail = Some(v),
            b'H' => e.hint = Some(v),
            _ => {}
        }
    }
    e
}

fn text_row(body: &backend::DataRowBody) -> std::io::Result<TextRow> {
    let buf = body.buffer();
    let mut out = Vec::new();
    let mut ranges = body.ranges();
    while let Some(r) = fallible_iterator::FallibleIterator::next(&mut ranges)? {
        out.push(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
    }
    Ok(out)
}

/// Consumes a whole CopyBothResponse ('W'), which `postgres-protocol` does not parse.
fn take_copy_both(buf: &mut BytesMut) -> bool {
    if buf.len() < 5 || buf[0] != b'W' {
        return false;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize + 1;
    if buf.len() < len {
        return false;
    }
    buf.advance(len);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_handshake_cut_short_is_a_connection_failure_and_a_bad_one_is_not() {
        let cut = tls_failure(
            "db:5432".into(),
            "error performing TLS handshake: unexpected EOF".into(),
        );
        assert!(cut.is_connection(), "{cut}");
        assert_eq!(cut.class(), crate::source::ErrorClass::Transient);
        let bad = tls_failure(
            "db:5432".into(),
            "error performing TLS handshake: certificate verify failed".into(),
        );
        assert!(matches!(bad, PgSourceError::Tls(_)), "{bad}");
        assert_eq!(bad.class(), crate::source::ErrorClass::Definite);
    }

    #[test]
    fn sql_sessions_give_a_silent_connection_up_unless_the_url_says_otherwise() {
        let c = PgConnectConfig::new("postgres://u@h/db", None, None).unwrap();
        assert_eq!(c.config.get_keepalives_idle(), KEEPALIVES_IDLE);
        assert_eq!(c.config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        let url = "postgres://u@h/db?keepalives_idle=300&tcp_user_timeout=5";
        let c = PgConnectConfig::new(url, None, None).unwrap();
        assert_eq!(c.config.get_keepalives_idle(), Duration::from_secs(300));
        assert_eq!(
            c.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(5))
        );
    }

    #[test]
    fn a_host_list_targets_the_primary_and_names_each_host() {
        let c = PgConnectConfig::new("postgres://u@a:1,b:2/db", None, None).unwrap();
        assert_eq!(
            c.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        assert_eq!(c.hosts(), 2);
        assert_eq!(
            (c.target_at(0), c.target_at(1)),
            ("a:1/db".into(), "b:2/db".into())
        );
        let one = PgConnectConfig::new("postgres://u@a:1/db", None, None).unwrap();
        assert_eq!(
            one.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::Any
        );
    }
}
