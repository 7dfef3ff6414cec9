//! A TCP proxy for fault injection (issue 11): tributary connects to PostgreSQL or Kafka
//! through it, and a test cuts every open connection, delays the bytes, or blackholes them
//! (nothing moves either way and nothing is closed, as in a network partition: TCP's
//! backpressure stalls the sender, and only timeouts tell the peers).
//!
//! ```text
//!  client ──► 127.0.0.1:port ──► (mode: pass | delay d | blackhole; cut closes all) ──► upstream
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Each chunk waits this long before it is forwarded.
    Delay(Duration),
    /// Nothing is forwarded (nor read) until the mode changes; connections stay open.
    Blackhole,
}

/// A running proxy; dropping it closes the listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Raised by `cut`: connections opened before it close.
    cuts: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    /// Bytes passed on from clients to the upstream.
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Pass);
        let (cuts, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let (m, c, n, b) = (mode.clone(), cuts.clone(), accepted.clone(), sent.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                n.fetch_add(1, Ordering::SeqCst);
                let (mode, cuts) = (m.subscribe(), c.subscribe());
                tokio::spawn(connection(client, upstream, mode, cuts, b.clone()));
            }
        });
        Proxy {
            addr,
            mode,
            cuts,
            accepted,
            sent,
            task,
        }
    }

    /// Bytes passed on from clients to the upstream so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection now; new ones are accepted.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections accepted so far (a reconnection shows as one more).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// One proxied connection: both directions until either side closes or a cut.
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    mut cuts: watch::Receiver<u64>,
    sent: Arc<AtomicU64>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = forward(cr, sw, mode.clone(), Some(sent));
    let down = forward(sr, cw, mode, None);
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cuts.changed() => {}
    }
}

/// Copies `from` to `to` under the proxy's mode until either side ends.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    counted: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while *mode.borrow_and_update() == Mode::Blackhole {
            if mode.changed().await.is_err() {
                return;
            }
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let current = *mode.borrow();
        match current {
            // The injected fault itself (the latency a test asks for), not a wait for a condition.
            Mode::Delay(d) => tokio::time::sleep(d).await,
            Mode::Blackhole => {
                // Read just before the partition began: held until it ends.
                while *mode.borrow_and_update() == Mode::Blackhole {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
            Mode::Pass => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if let Some(c) = &counted {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
}

/// A tansu of the test's own (memory storage) that advertises `advertised` (a proxy's port)
/// instead of its own, so every connection of a client goes through that proxy; killed on drop.
pub struct OwnTansu {
    child: std::process::Child,
    /// Where it listens (the proxy's upstream).
    pub addr: SocketAddr,
}

impl OwnTansu {
    /// Listens on `addr` (a free port) and advertises `advertised`.
    pub fn start(addr: SocketAddr, advertised: SocketAddr) -> OwnTansu {
        let bin = std::env::var("TRIBUTARY_TEST_TANSU").unwrap_or_else(|_| {
            format!(
                "{}/.cargo/bin/tansu",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let log = std::fs::File::create(format!("/tmp/tributary-faults-tansu-{}.log", addr.port()))
            .expect("tansu log");
        let child = std::process::Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{addr}"),
                "--advertised-listener-url",
                &format!("tcp://{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start tansu ({bin}): {e}"));
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not listen on {addr}"
            );
            // The poll interval of a wait on the condition (tansu listening), bounded above.
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnTansu { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OwnTansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `host:port` of a loopback database URL, to put a proxy in front of.
pub fn upstream_of(url: &str) -> SocketAddr {
    let host = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the URL");
    host.parse().expect("a loopback address")
}
