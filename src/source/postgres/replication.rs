//! The replication stream's transport: a reader task and a status task over one connection.
//!
//! ```text
//!   socket ──► reader task ──(bounded channel of CopyData batches)──► decoder / pipeline
//!     ▲
//!     └─────── status task ◄── confirm(lsn) (persisted checkpoints) + timer + reply requests
//! ```
//! Reading the socket is decoupled from the pipeline, and standby status updates go out on a
//! timer even while the pipeline (and so the reader) is blocked, so `wal_sender_timeout` never
//! ends a slow but healthy stream. The `flush` position reported is only ever one the pipeline
//! confirmed, i.e. one whose events are durable and checkpointed. Each status update asks the
//! server for a keepalive, so a connection silent for `receive_timeout` is taken as lost (a
//! partition that closes nothing), as PostgreSQL's `wal_receiver_timeout` does.
//! See <https://www.postgresql.org/docs/15/protocol-replication.html>.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use super::conn::Io;
use super::error::{PgSourceError, ServerError};
use super::frame::{standby_status_update, STANDBY_STATUS_UPDATE_LEN};
use crate::position::{Lsn, ResumeToken};

/// CopyData batches buffered between the socket and the decoder. Each batch is one socket read
/// (up to `READ_CHUNK` bytes), so this bounds memory at a few MB.
const CHANNEL_BATCHES: usize = 32;
const READ_CHUNK: usize = 256 * 1024;

/// A running replication stream.
pub struct ReplicationStream {
    frames: mpsc::Receiver<Result<Vec<Bytes>, PgSourceError>>,
    reader: JoinHandle<()>,
    status: JoinHandle<()>,
}

impl ReplicationStream {
    /// Takes over a connection in CopyBoth mode. `confirmed` carries the resume tokens the
    /// pipeline has made durable and saved (its current value is what the slot already has).
    /// `timing` is the status interval and the receive timeout.
    pub fn start(
        io: Box<dyn Io>,
        rbuf: BytesMut,
        confirmed: watch::Receiver<ResumeToken>,
        timing: (Duration, Duration),
    ) -> ReplicationStream {
        let (status_interval, receive_timeout) = timing;
        let (read, write) = tokio::io::split(io);
        let (tx, frames) = mpsc::channel(CHANNEL_BATCHES);
        let reply = std::sync::Arc::new(Notify::new());
        let reader = tokio::spawn(read_loop(read, rbuf, tx, reply.clone(), receive_timeout));
        let status = tokio::spawn(status_loop(write, confirmed, reply, status_interval));
        ReplicationStream {
            frames,
            reader,
            status,
        }
    }

    /// The next batch of CopyData payloads (XLogData or keepalive), in stream order.
    /// `None` when the server ended the stream.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Bytes>, PgSourceError>> {
        self.frames.recv().await
    }

    /// The next batch if one is already received (`None` when none is, or the stream ended:
    /// `next_batch` tells which).
    pub fn try_next_batch(&mut self) -> Option<Result<Vec<Bytes>, PgSourceError>> {
        self.frames.try_recv().ok()
    }
}

impl Drop for ReplicationStream {
    fn drop(&mut self) {
        self.reader.abort();
        self.status.abort();
    }
}

async fn read_loop(
    mut read: ReadHalf<Box<dyn Io>>,
    mut buf: BytesMut,
    tx: mpsc::Sender<Result<Vec<Bytes>, PgSourceError>>,
    reply: std::sync::Arc<Notify>,
    receive_timeout: Duration,
) {
    loop {
        let mut batch = Vec::new();
        match split_messages(&mut buf, &mut batch, &reply) {
            Ok(true) => {}
            Ok(false) => {
                let _ = tx.send(Ok(batch)).await;
                return;
            }
            Err(e) => {
                if !batch.is_empty() {
                    let _ = tx.send(Ok(batch)).await;
                }
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
        if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
            return;
        }
        buf.reserve(READ_CHUNK);
        let Ok(read) = tokio::time::timeout(receive_timeout, read.read_buf(&mut buf)).await else {
            let silent = format!(
                "no message from the server for {receive_timeout:?} (source.receive_timeout), although every status update asks for one: the connection is taken as lost"
            );
            let _ = tx.send(Err(closed(&silent))).await;
            return;
        };
        match read {
            Ok(0) => {
                let _ = tx
                    .send(Err(closed("the server closed the replication connection")))
                    .await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Err(closed(&e.to_string()))).await;
                return;
            }
        }
    }
}

fn closed(reason: &str) -> PgSourceError {
    PgSourceError::Connection {
        context: "streaming changes".into(),
        reason: reason.to_owned(),
    }
}

/// Moves every complete message out of `buf`: CopyData payloads into `out` (zero-copy).
/// Returns false when the server ended the copy.
fn split_messages(
    buf: &mut BytesMut,
    out: &mut Vec<Bytes>,
    reply: &Notify,
) -> Result<bool, PgSourceError> {
    while buf.len() >= 5 {
        let tag = buf[0];
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len < 4 {
            return Err(PgSourceError::Protocol {
                context: "streaming changes".into(),
                what: "bad message length".into(),
            });
        }
        if buf.len() < len + 1 {
            buf.reserve(len + 1 - buf.len());
            break;
        }
        let mut msg = buf.split_to(len + 1).freeze();
        msg.advance(5);
        match tag {
            b'd' => {
                // A primary keepalive asking for a reply: answer now, not at the next tick.
                if msg.len() >= 18 && msg[0] == b'k' && msg[17] == 1 {
                    reply.notify_one();
                }
                out.push(msg);
            }
            b'c' => return Ok(false),
            b'E' => return Err(stream_error(&msg)),
            _ => {} // Notices and parameter changes.
        }
    }
    Ok(true)
}

/// Parses an ErrorResponse body (type byte, NUL-terminated string, ..., NUL).
fn stream_error(body: &[u8]) -> PgSourceError {
    let mut server = ServerError {
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    for field in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let v = String::from_utf8_lossy(&field[1..]).into_owned();
        match field[0] {
            b'C' => server.code = v,
            b'M' => server.message = v,
            b'D' => server.detail = Some(v),
            b'H' => server.hint = Some(v),
            _ => {}
        }
    }
    PgSourceError::Server {
        context: "streaming changes".into(),
        server,
    }
}

async fn status_loop(
    mut write: WriteHalf<Box<dyn Io>>,
    mut confirm: watch::Receiver<ResumeToken>,
    reply: std::sync::Arc<Notify>,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = BytesMut::with_capacity(64);
    loop {
        tokio::select! {
            biased;
            changed = confirm.changed() => if changed.is_err() { return },
            _ = reply.notified() => {}
            _ = tick.tick() => {}
        }
        let lsn = match *confirm.borrow_and_update() {
            ResumeToken::Pg { confirmed_lsn } => confirmed_lsn,
            // Not a PostgreSQL token: confirm nothing new.
            ResumeToken::Oracle { .. } => Lsn::ZERO,
        };
        buf.clear();
        status_message(lsn, &mut buf);
        if write.write_all(&buf).await.is_err() || write.flush().await.is_err() {
            return;
        }
    }
}

/// A CopyData-wrapped Standby Status Update: write = flush = apply = `lsn`. It asks for a
/// keepalive back: its WAL end tells an idle stream how far the server is.
fn status_message(lsn: Lsn, out: &mut BytesMut) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    out.put_u8(b'd');
    out.put_u32(4 + STANDBY_STATUS_UPDATE_LEN as u32);
    standby_status_update(lsn, lsn, lsn, now, true, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn splits_copydata_across_reads_without_copying_and_sees_reply_requests() {
        let mut keepalive = vec![b'k'];
        keepalive.extend_from_slice(&[0; 16]);
        keepalive.push(1);
        let mut all = msg(b'd', b"wXYZ");
        all.extend(msg(b'd', &keepalive));
        all.extend(msg(b'N', b"notice"));
        let reply = Notify::new();
        let mut buf = BytesMut::from(&all[..7]);
        let mut out = Vec::new();
        assert!(split_messages(&mut buf, &mut out, &reply).unwrap());
        assert!(out.is_empty());
        buf.extend_from_slice(&all[7..]);
        assert!(split_messages(&mut buf, &mut out, &reply).unwrap());
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0][..], b"wXYZ");
        assert!(buf.is_empty());
        let mut end = BytesMut::from(&msg(b'c', b"")[..]);
        assert!(!split_messages(&mut end, &mut out, &reply).unwrap());
    }

    #[test]
    fn status_update_has_the_documented_layout() {
        let mut b = BytesMut::new();
        status_message(Lsn(0x1234), &mut b);
        assert_eq!(b.len(), 1 + 4 + 34);
        assert_eq!(b[5], b'r');
        assert_eq!(&b[6..14], &0x1234u64.to_be_bytes());
        assert_eq!(&b[14..22], &0x1234u64.to_be_bytes());
    }
}
