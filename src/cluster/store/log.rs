//! The Raft log in sled: entries keyed by big-endian index (so ranges scan in order), and the
//! vote and log pointers beside them.
//!
//! Durability contract (openraft's): `append` calls `LogFlushed` only after sled has flushed
//! the entries to disk, and `save_vote` returns only after the vote is flushed. sled recovers a
//! prefix of its writes after a crash, so the unflushed pointers (`committed`, `last_purged`)
//! are never ahead of the flushed entries they describe; losing the latest of them only makes
//! openraft re-apply or re-purge a little less.
//!
//! `append` flushes inline: openraft 0.9 awaits each append's `LogFlushed` before it takes the
//! next client write, so every command costs one flush however many writers wait (a group
//! commit thread was tried: its batches were always of one). A flush writes and
//! `sync_file_range`s sled's current buffer: a fraction of a millisecond here.

// openraft's `StorageError` (224 bytes) is what every storage trait method returns; boxing it
// in the private helpers only to unbox it at the trait boundary buys nothing on a path that
// errs only on a failing disk.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, StorageError,
    Vote,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{index_key, io_error, DynError};
use crate::cluster::{NodeId, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The most entries one `limited_get_log_entries` reads (a replication payload is smaller).
const READ_LIMIT: u64 = 1_000;

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// The Raft log, vote and log pointers of this node (cheap to clone: sled handles).
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    alive: super::Alive,
}

impl LogStore {
    pub(super) fn open(db: &sled::Db, alive: super::Alive) -> sled::Result<LogStore> {
        Ok(LogStore {
            db: db.clone(),
            log: db.open_tree("log")?,
            meta: db.open_tree("log_meta")?,
            alive,
        })
    }

    /// Resolves once this store and its state machine are dropped everywhere.
    pub fn released(&self) -> super::Released {
        self.alive.released()
    }

    /// Whether this directory already holds Raft state (a vote or log): decides whether a node
    /// initialises the cluster.
    #[allow(
        clippy::unused_async,
        reason = "async by contract, like every other storage read openraft makes"
    )]
    pub async fn is_initialized(&self) -> bool {
        let has = |key| matches!(self.meta.contains_key(key), Ok(true));
        has(VOTE) || has(LAST_PURGED) || !self.log.is_empty()
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &[u8], subject: Subject) -> Result<Option<T>> {
        let read_err = |e: &DynError| subject.error(ErrorVerb::Read, e);
        match self.meta.get(key).map_err(|e| read_err(&e))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| read_err(&e)),
            None => Ok(None),
        }
    }

    fn write_meta<T: Serialize>(&self, key: &[u8], value: &T, subject: Subject) -> Result<()> {
        let write_err = |e: &DynError| subject.error(ErrorVerb::Write, e);
        let bytes = serde_json::to_vec(value).map_err(|e| write_err(&e))?;
        self.meta.insert(key, bytes).map_err(|e| write_err(&e))?;
        Ok(())
    }

    async fn flush(&self, subject: Subject) -> Result<()> {
        match self.db.flush_async().await {
            Ok(_) => Ok(()),
            Err(e) => Err(subject.error(ErrorVerb::Write, &e)),
        }
    }

    fn last_log_id(&self) -> Result<Option<LogId<NodeId>>> {
        let last = self.log.last().map_err(|e| read_logs(&e))?;
        last.map(|(key, bytes)| decode(&key, &bytes).map(|e| e.log_id))
            .transpose()
    }

    /// Removes the entries in `range` in one sled batch.
    fn remove(&self, range: (Bound<[u8; 8]>, Bound<[u8; 8]>), verb: ErrorVerb) -> Result<()> {
        let mut batch = sled::Batch::default();
        for key in self.log.range(range).keys() {
            batch.remove(key.map_err(|e| Subject::Logs.error(verb, &e))?);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| Subject::Logs.error(verb, &e))
    }
}

/// What an I/O error was about (openraft's `ErrorSubject` without the type parameter noise).
#[derive(Clone, Copy)]
enum Subject {
    Vote,
    Logs,
    Committed,
}

impl Subject {
    fn error(self, verb: ErrorVerb, e: &DynError) -> StorageError<NodeId> {
        let subject = match self {
            Subject::Vote => ErrorSubject::Vote,
            Subject::Logs => ErrorSubject::Logs,
            Subject::Committed => ErrorSubject::Store,
        };
        io_error(subject, verb, e)
    }
}

fn read_logs(e: &DynError) -> StorageError<NodeId> {
    Subject::Logs.error(ErrorVerb::Read, e)
}

fn decode(key: &[u8], bytes: &[u8]) -> Result<Entry<TypeConfig>> {
    serde_json::from_slice(bytes).map_err(|e| {
        let index = key.try_into().map(u64::from_be_bytes).unwrap_or_default();
        io_error(ErrorSubject::LogIndex(index), ErrorVerb::Read, &e)
    })
}

/// `range` of log indexes as a range of sled keys.
fn key_range(range: &impl RangeBounds<u64>) -> (Bound<[u8; 8]>, Bound<[u8; 8]>) {
    let map = |b: Bound<&u64>| b.map(|i| index_key(*i));
    (map(range.start_bound()), map(range.end_bound()))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let mut entries = Vec::new();
        for item in self.log.range(key_range(&range)) {
            let (key, bytes) = item.map_err(|e| read_logs(&e))?;
            entries.push(decode(&key, &bytes)?);
        }
        Ok(entries)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let end = end.min(start.saturating_add(READ_LIMIT));
        self.try_get_log_entries(start..end).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let last_purged_log_id = self.read_meta(LAST_PURGED, Subject::Logs)?;
        let last_log_id = self.last_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        self.write_meta(VOTE, vote, Subject::Vote)?;
        self.flush(Subject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        self.read_meta(VOTE, Subject::Vote)
    }

    /// Recorded without its own flush: the next append's flush (or sled's background one)
    /// persists it, and a committed id that is a little old only re-applies less on restart.
    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        self.write_meta(COMMITTED, &committed, Subject::Committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        Ok(self
            .read_meta::<Option<LogId<NodeId>>>(COMMITTED, Subject::Committed)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry)
                .map_err(|e| io_error(ErrorSubject::Log(entry.log_id), ErrorVerb::Write, &e))?;
            batch.insert(&index_key(entry.log_id.index), bytes);
        }
        let written = self.log.apply_batch(batch);
        let flushed = match written {
            Ok(()) => self.db.flush_async().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match flushed {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = Subject::Logs.error(ErrorVerb::Write, &e);
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        self.remove(key_range(&(log_id.index..)), ErrorVerb::Delete)?;
        self.flush(Subject::Logs).await
    }

    /// Records the purge point before removing the entries, so a crash between the two leaves
    /// entries below it (ignored), never a hole above it.
    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        self.write_meta(LAST_PURGED, &log_id, Subject::Logs)?;
        self.remove(key_range(&(..=log_id.index)), ErrorVerb::Delete)
    }
}
