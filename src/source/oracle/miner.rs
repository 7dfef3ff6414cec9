//! The mining loop: LogMiner sessions over bounded SCN windows.
//!
//! ```text
//!  pin NLS (once) ─► current SCN ─► end = min(start + window, settled SCN)
//!     ─► logs covering [start, end] (archived copy preferred; gaps per thread = missing log)
//!     ─► ADD_LOGFILE (NEW, ADDFILE...) ─► START_LOGMNR(start, end, online catalog)
//!     ─► V$LOGMNR_CONTENTS (task's tables + START/COMMIT/ROLLBACK) ─► END_LOGMNR
//!     ─► next start = end + 1; window doubles after a full, quiet window, halves after a
//!        large one, within [window_min, window_max]
//! ```
//! With `logminer_dictionary = "redo_logs"`, each window is mined with the dictionary LogMiner
//! finds in the redo (`DICT_FROM_REDO_LOGS + DDL_DICT_TRACKING`): the newest complete dictionary
//! build whose first log begins at or before the window, with every log from that one to the
//! window's end added, so LogMiner applies the DDL between the build and each row and renders
//! the row by its table's definition at its SCN. When no build exists yet the miner writes one
//! (`DBMS_LOGMNR_D.BUILD`, then `ALTER SYSTEM ARCHIVE LOG CURRENT` so that it is in an archived
//! log) and mines with the online catalog until a window starts after it. When the build in use
//! lies more than `REBUILD_AFTER_LOGS` logs behind the window, a new one is written, used once
//! mining passes it: every window re-reads the logs from its build, so the build must follow.
//!
//! A window never mines past the settled SCN: one below a `CURRENT_SCN` read at least
//! `flush_delay` ago (default 5 s). LogMiner reads the redo log files, and a change's redo can
//! sit in the log buffer for up to three seconds before the log writer writes it (on RAC, in
//! each instance's buffer for its own thread); a window ending at the current SCN could pass
//! a change whose redo is not yet on disk and never see it. Any change made after the reading
//! gets that SCN or a higher one, so every change below it was made before the reading and is
//! written by the time the delay has passed. Debezium writes to a flush table on each instance
//! instead; this costs no write to the database, and adds the delay to the latency.
//!
//! The log list is read again for every window, so a log switch (a new online log, an
//! online log archived) is picked up by the next window. A log the window needs that the
//! database no longer has fails the task with a definite error naming its thread and sequence
//! and the retention to keep (DTS's rule). `CONTINUOUS_MINE` is not used: it is gone since
//! Oracle 19c.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{LogMinerDictionary, OracleConnect};
use crate::position::Scn;
use crate::source::{ErrorClass, SourceError};

use super::logminer::LogMinerRow;
use super::session::{newest_dictionary, ContentsFilter, LogFile, OracleSession, SessionError};

/// A window with fewer rows than this, and as wide as the window allowed, doubles the window.
pub const QUIET_ROWS: usize = 1_000;
/// A window with more rows than this halves the window (bounding the rows one LogMiner
/// session materialises).
pub const LARGE_ROWS: usize = 50_000;

/// With a redo-log dictionary, a new build is written once the one in use lies more than this
/// many whole logs (all threads) before the window being mined.
pub const REBUILD_AFTER_LOGS: usize = 8;

/// Window bounds: the width in SCNs, and how old the SCN a window ends at must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowBounds {
    pub min: u64,
    pub max: u64,
    /// `logminer_flush_delay`: a window ends below a `CURRENT_SCN` read this long ago.
    pub flush_delay: Duration,
}

impl WindowBounds {
    pub fn from_connect(c: &OracleConnect) -> WindowBounds {
        WindowBounds {
            min: c.window_min,
            max: c.window_max,
            flush_delay: c.flush_delay,
        }
    }
}

/// One mined window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `[start, end]`, both mined.
    pub start: Scn,
    pub end: Scn,
    /// The logs added, in the order added.
    pub logs: Vec<LogFile>,
    pub rows: Vec<LogMinerRow>,
}

/// Why mining stopped.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// A log holding redo the task still needs is gone.
    #[error("the archived redo log of thread {thread} sequence {sequence} ({detail}) is needed to mine from SCN {scn} but the database no longer has it: keep archived logs longer (more than 24 hours for an incremental-only task, at least 7 days with full + incremental, as DTS requires; e.g. RMAN's DELETE ARCHIVELOG ... COMPLETED BEFORE 'SYSDATE-7'), then restore the log or start the task again with a full load")]
    MissingLog {
        thread: u16,
        sequence: u64,
        scn: Scn,
        detail: String,
    },
    /// LogMiner reported a missing log without saying which (ORA-01291).
    #[error("LogMiner cannot mine SCNs {start} to {end}: {error}: a redo log of that range is gone; keep archived logs longer (more than 24 hours for an incremental-only task, at least 7 days with full + incremental, as DTS requires), then restore the log or start the task again with a full load")]
    MissingRange {
        start: Scn,
        end: Scn,
        error: SessionError,
    },
    /// The mining user lacks a privilege.
    #[error("{call} failed: {error}: grant the mining user LogMiner's privileges (the README's GRANT script: LOGMINING, EXECUTE ON DBMS_LOGMNR, SELECT ON V_$DATABASE, V_$LOG, V_$LOGFILE, V_$ARCHIVED_LOG, V_$LOGMNR_CONTENTS, GV_$TRANSACTION)")]
    Privileges {
        call: &'static str,
        error: SessionError,
    },
    /// The connection broke.
    #[error("{call} failed: {error}")]
    Connection {
        call: &'static str,
        error: SessionError,
    },
    /// Any other database or client error.
    #[error("{call} failed: {error}")]
    Other {
        call: &'static str,
        error: SessionError,
    },
}

/// ORA- numbers saying the connection or instance is gone: ORA-03113 end-of-file on the
/// channel, 03114 not connected, 03135 lost contact, 01033/01034/01089 instance starting,
/// unavailable or shutting down, 12514/12541/12170/12537 listener and network.
const CONNECTION_CODES: [u32; 10] = [
    3113, 3114, 3135, 1033, 1034, 1089, 12514, 12541, 12170, 12537,
];
/// ORA-01031 insufficient privileges, 00942 no such table or view (a `V$` view not granted),
/// 06550 PL/SQL compilation error (`DBMS_LOGMNR` not granted), 01435 user does not exist.
const PRIVILEGE_CODES: [u32; 4] = [1031, 942, 6550, 1435];

impl MinerError {
    pub fn class(&self) -> ErrorClass {
        match self {
            MinerError::Connection { .. } | MinerError::Other { .. } => ErrorClass::Transient,
            MinerError::MissingLog { .. }
            | MinerError::MissingRange { .. }
            | MinerError::Privileges { .. } => ErrorClass::Definite,
        }
    }

    /// The classified error the supervisor acts on.
    pub fn into_source_error(self) -> SourceError {
        match self {
            e @ MinerError::Connection { .. } => SourceError::connection(e),
            e => SourceError::new(e.class(), e),
        }
    }

    /// Classifies a session error of `call`.
    pub fn from_session(call: &'static str, error: SessionError) -> MinerError {
        match &error {
            SessionError::Connection(_) => MinerError::Connection { call, error },
            SessionError::Database { code, .. } if CONNECTION_CODES.contains(code) => {
                MinerError::Connection { call, error }
            }
            SessionError::Database { code, .. } if PRIVILEGE_CODES.contains(code) => {
                MinerError::Privileges { call, error }
            }
            _ => MinerError::Other { call, error },
        }
    }
}

/// ORA-01284 file cannot be opened, 00308 cannot open archived log, 01291 missing logfile.
fn is_missing_log(e: &SessionError) -> bool {
    match e {
        SessionError::Database { code, message } => {
            matches!(code, 1284 | 308 | 1291) || message.contains("ORA-00308")
        }
        _ => false,
    }
}

/// The logs to add for `[start, end]`: one per thread and sequence, the archived copy where
/// there is one (an online log may be overwritten once archived), ordered by thread and
/// sequence. A thread whose logs skip a sequence, or start after `start`, is missing a log.
pub fn choose_logs(listed: Vec<LogFile>, start: Scn) -> Result<Vec<LogFile>, MinerError> {
    let mut by_key: BTreeMap<(u16, u64), LogFile> = BTreeMap::new();
    for log in listed {
        match by_key.get(&(log.thread, log.sequence)) {
            Some(kept) if kept.archived || !log.archived => {}
            _ => {
                by_key.insert((log.thread, log.sequence), log);
            }
        }
    }
    let logs: Vec<LogFile> = by_key.into_values().collect();
    for pair in logs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.thread == b.thread && b.sequence != a.sequence + 1 {
            return Err(MinerError::MissingLog {
                thread: a.thread,
                sequence: a.sequence + 1,
                scn: start,
                detail: format!(
                    "between sequence {} and {}, not in V$ARCHIVED_LOG",
                    a.sequence, b.sequence
                ),
            });
        }
    }
    let mut first_of_thread: BTreeMap<u16, &LogFile> = BTreeMap::new();
    for log in &logs {
        first_of_thread.entry(log.thread).or_insert(log);
    }
    for log in first_of_thread.values() {
        if log.first_scn > start && log.sequence > 1 {
            return Err(MinerError::MissingLog {
                thread: log.thread,
                sequence: log.sequence - 1,
                scn: start,
                detail: format!(
                    "the log before sequence {}, which starts at SCN {}, not in V$ARCHIVED_LOG",
                    log.sequence, log.first_scn
                ),
            });
        }
    }
    Ok(logs)
}

/// Mines windows one after another from a start SCN.
pub struct Miner<S> {
    session: S,
    filter: ContentsFilter,
    bounds: WindowBounds,
    next: Scn,
    window: u64,
    nls_pinned: bool,
    dictionary: LogMinerDictionary,
    /// The current SCN just before this run's newest dictionary build, until a window finds
    /// that build (or a newer one) archived.
    pending_build: Option<Scn>,
    /// `CURRENT_SCN` readings younger than the flush delay, oldest first.
    readings: VecDeque<(Instant, Scn)>,
    /// The newest SCN all of whose redo is written: one below a reading at least the flush
    /// delay old.
    settled: Option<Scn>,
}

impl<S: OracleSession> Miner<S> {
    /// Mining from `start` (inclusive), the window starting at its lower bound.
    pub fn new(session: S, filter: ContentsFilter, bounds: WindowBounds, start: Scn) -> Self {
        Miner {
            session,
            filter,
            bounds,
            next: start,
            window: bounds.min,
            nls_pinned: false,
            dictionary: LogMinerDictionary::OnlineCatalog,
            pending_build: None,
            readings: VecDeque::new(),
            settled: None,
        }
    }

    /// Mines with `dictionary` (the online catalog unless told).
    pub fn with_dictionary(mut self, dictionary: LogMinerDictionary) -> Self {
        self.dictionary = dictionary;
        self
    }

    /// The next SCN to mine.
    pub fn next_scn(&self) -> Scn {
        self.next
    }

    /// The current window width, in SCNs.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// The session, for the calls around mining (`mining_start`).
    pub fn session(&mut self) -> &mut S {
        &mut self.session
    }

    async fn pin(&mut self) -> Result<(), MinerError> {
        if !self.nls_pinned {
            self.session
                .pin_nls()
                .await
                .map_err(|e| MinerError::from_session("ALTER SESSION SET NLS_*", e))?;
            self.nls_pinned = true;
        }
        Ok(())
    }

    /// Mines the next window; `None` when mining has caught up with the database's current
    /// SCN (call again later).
    pub async fn next_window(&mut self) -> Result<Option<Window>, MinerError> {
        self.pin().await?;
        let current = self
            .session
            .current_scn()
            .await
            .map_err(|e| MinerError::from_session("SELECT CURRENT_SCN", e))?;
        let start = self.next;
        let Some(current) = self.settle(current) else {
            return Ok(None);
        };
        if current < start {
            return Ok(None);
        }
        let full_end = Scn(start.0.saturating_add(self.window));
        let end = full_end.min(current);
        let (from, dictionary) = self.dictionary_for(start).await?;
        let listed = self
            .session
            .logs(from, end)
            .await
            .map_err(|e| MinerError::from_session("the log list (V$ARCHIVED_LOG, V$LOG)", e))?;
        let logs = choose_logs(listed, from)?;
        if logs.is_empty() {
            return Err(MinerError::MissingRange {
                start,
                end,
                error: SessionError::Client(
                    "neither V$ARCHIVED_LOG nor V$LOG lists a log holding these SCNs".into(),
                ),
            });
        }
        for (i, log) in logs.iter().enumerate() {
            if let Err(e) = self.session.add_logfile(&log.name, i == 0).await {
                return Err(if is_missing_log(&e) {
                    MinerError::MissingLog {
                        thread: log.thread,
                        sequence: log.sequence,
                        scn: start,
                        detail: format!("{}: {e}", log.name),
                    }
                } else {
                    MinerError::from_session("DBMS_LOGMNR.ADD_LOGFILE", e)
                });
            }
        }
        if let Err(e) = self.session.start_logmnr(start, end, dictionary).await {
            return Err(if is_missing_log(&e) {
                MinerError::MissingRange {
                    start,
                    end,
                    error: e,
                }
            } else {
                MinerError::from_session("DBMS_LOGMNR.START_LOGMNR", e)
            });
        }
        let rows = match self.session.contents(&self.filter).await {
            Ok(rows) => rows,
            Err(e) => {
                let e = MinerError::from_session("SELECT FROM V$LOGMNR_CONTENTS", e);
                if !matches!(e, MinerError::Connection { .. }) {
                    // Best effort: the error being reported is the read's.
                    let _ = self.session.end_logmnr().await;
                }
                return Err(e);
            }
        };
        self.session
            .end_logmnr()
            .await
            .map_err(|e| MinerError::from_session("DBMS_LOGMNR.END_LOGMNR", e))?;
        self.resize(rows.len(), end == full_end);
        self.next = Scn(end.0 + 1);
        if dictionary == LogMinerDictionary::RedoLogs
            && self.pending_build.is_none()
            && logs.iter().filter(|l| l.next_scn <= start).count() > REBUILD_AFTER_LOGS
        {
            self.build_dictionary(false).await?;
        }
        Ok(Some(Window {
            start,
            end,
            logs,
            rows,
        }))
    }

    /// The SCN a window may mine up to, given a `CURRENT_SCN` reading just taken: the reading
    /// itself without a flush delay, else one below the newest reading at least the delay old
    /// (`None` until one is).
    fn settle(&mut self, current: Scn) -> Option<Scn> {
        let delay = self.bounds.flush_delay;
        if delay.is_zero() {
            return Some(current);
        }
        let now = Instant::now();
        if self.readings.back().is_none_or(|r| r.1 != current) {
            self.readings.push_back((now, current));
        }
        while let Some(&(at, scn)) = self.readings.front() {
            if now.duration_since(at) < delay {
                break;
            }
            self.settled = Some(Scn(scn.0.saturating_sub(1)));
            self.readings.pop_front();
        }
        self.settled
    }

    /// Where the window's logs are listed from, and the dictionary it is mined with: the
    /// window's start and the online catalog, or the first log of the newest dictionary build
    /// beginning at or before it (one is written when there is none).
    async fn dictionary_for(
        &mut self,
        start: Scn,
    ) -> Result<(Scn, LogMinerDictionary), MinerError> {
        if self.dictionary == LogMinerDictionary::OnlineCatalog {
            return Ok((start, LogMinerDictionary::OnlineCatalog));
        }
        let marks = self.session.dictionary_logs(start).await.map_err(|e| {
            MinerError::from_session("the dictionary logs (V$ARCHIVED_LOG.DICTIONARY_BEGIN)", e)
        })?;
        match newest_dictionary(&marks) {
            Some(build) => {
                if self.pending_build.is_some_and(|p| build.next_scn > p) {
                    self.pending_build = None;
                }
                Ok((build.first_scn, LogMinerDictionary::RedoLogs))
            }
            None => {
                if self.pending_build.is_none() {
                    self.build_dictionary(true).await?;
                }
                tracing::debug!(%start, "no LogMiner dictionary in the archived logs at or before the window yet: mined with the online catalog");
                Ok((start, LogMinerDictionary::OnlineCatalog))
            }
        }
    }

    /// Writes a dictionary into the redo; with `archive`, switches and archives the current
    /// logs so it can be used at once (without the privilege, at the next log switch).
    async fn build_dictionary(&mut self, archive: bool) -> Result<(), MinerError> {
        let at = self
            .session
            .current_scn()
            .await
            .map_err(|e| MinerError::from_session("SELECT CURRENT_SCN", e))?;
        self.session
            .build_dictionary()
            .await
            .map_err(|e| MinerError::from_session("DBMS_LOGMNR_D.BUILD", e))?;
        self.pending_build = Some(at);
        tracing::info!(scn = %at, "LogMiner dictionary written into the redo logs");
        if archive {
            if let Err(e) = self.session.archive_current_log().await {
                match MinerError::from_session("ALTER SYSTEM ARCHIVE LOG CURRENT", e) {
                    MinerError::Privileges { error, .. } => {
                        tracing::warn!(%error, "ALTER SYSTEM ARCHIVE LOG CURRENT was refused: the new LogMiner dictionary is used after the next log switch (GRANT ALTER SYSTEM to the mining user to use it at once)");
                    }
                    e => return Err(e),
                }
            }
        }
        Ok(())
    }

    fn resize(&mut self, rows: usize, full: bool) {
        if rows > LARGE_ROWS {
            self.window = (self.window / 2).max(self.bounds.min);
        } else if full && rows < QUIET_ROWS {
            self.window = self.window.saturating_mul(2).min(self.bounds.max);
        }
    }
}

/// Where mining starts for a snapshot read at SCN `snapshot`: the oldest start SCN of the
/// transactions open at it (their changes before `snapshot` are not in the snapshot, and
/// they commit after it), else `snapshot` itself.
pub async fn mining_start<S: OracleSession>(
    session: &mut S,
    snapshot: Scn,
) -> Result<Scn, MinerError> {
    let open = session
        .open_transactions(snapshot)
        .await
        .map_err(|e| MinerError::from_session("SELECT FROM GV$TRANSACTION", e))?;
    Ok(open
        .iter()
        .map(|t| t.start_scn)
        .min()
        .map_or(snapshot, |s| s.min(snapshot)))
}

#[cfg(test)]
mod tests;
