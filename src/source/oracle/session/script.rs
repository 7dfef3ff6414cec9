//! A scripted stand-in of an Oracle database behind `OracleSession`, for tests (no Oracle can
//! run on this project's machines): redo logs with their SCN ranges that appear, switch and
//! get archived as the database's SCN clock moves (or at `ALTER SYSTEM ARCHIVE LOG CURRENT`),
//! `V$LOGMNR_CONTENTS` rows, archived logs deleted from disk or from the catalog, the
//! dictionary through time (tables redefined or dropped at an SCN, read now or `AS OF SCN`),
//! dictionary builds written into the current log, and injected errors.
//!
//! It answers as Oracle does where the source can go wrong: `START_LOGMNR` before any
//! `ADD_LOGFILE` fails with ORA-01292, reading contents before `START_LOGMNR` with ORA-01306, a
//! window the added logs do not cover with ORA-01291, adding a deleted archived log with
//! ORA-01284 / ORA-00308, `START_LOGMNR` on the redo-log dictionary without an archived log
//! holding a build at or before the window added with ORA-01371. The precheck's facts describe
//! a well-configured database unless a test says otherwise (ARCHIVELOG, minimal and per-table
//! ALL COLUMNS logging, every needed privilege, 8 days of archived logs, an hour of undo).
//! Every call is recorded as the SQL text the real session sends (`super::sql`), so tests
//! assert the exact statements and their order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::LogMinerDictionary;
use crate::position::Scn;
use crate::source::oracle::logminer::{op, LogMinerRow};

use tokio::sync::mpsc;

use super::{
    sql, Connector, ContentsFilter, DatabaseFacts, DatabaseInfo, DictTable, DictionaryLog, LogFile,
    OpenTransaction, OracleSession, SessionError, TableFacts, TextRows, INFINITE_SCN,
    READ_BATCH_ROWS,
};
use crate::source::oracle::table::OraTable;

/// One redo log of the script: sequence `sequence` of `thread` holds `[first, next)`. It is
/// the current online log while the clock is below `next`, and is archived when the clock
/// reaches `next` (the log switch).
#[derive(Debug, Clone)]
pub struct ScriptLog {
    pub thread: u16,
    pub sequence: u64,
    pub first: Scn,
    pub next: Scn,
}

impl ScriptLog {
    pub fn online_name(&self) -> String {
        format!("/u01/oradata/ORCL/redo{:02}.log", self.sequence % 3 + 1)
    }

    pub fn archived_name(&self) -> String {
        format!("/u01/arch/{}_{}_1122334455.arc", self.thread, self.sequence)
    }
}

#[derive(Debug, Default)]
struct State {
    logs: Vec<ScriptLog>,
    rows: Vec<LogMinerRow>,
    open: Vec<OpenTransaction>,
    /// `current_scn` answers, one per call; the last one repeats.
    clock: VecDeque<Scn>,
    now: Scn,
    /// Online redo groups: the newest this many logs are listed in `V$LOG`.
    online_groups: usize,
    /// Archived logs whose file is gone but which `V$ARCHIVED_LOG` still lists.
    deleted: BTreeSet<u64>,
    /// Archived logs gone from disk and catalog (RMAN `DELETE ARCHIVELOG`).
    purged: BTreeSet<u64>,
    /// One-shot errors: the next call whose SQL starts with the prefix fails.
    inject: Vec<(String, SessionError)>,
    calls: Vec<String>,
    added: Vec<String>,
    window: Option<(Scn, Scn)>,
    database: Option<DatabaseInfo>,
    /// The dictionary through time: each table's definitions with the SCN each took effect
    /// at, scripted in SCN order.
    versions: Vec<(Scn, String, DictTable)>,
    /// Logs holding a dictionary `DBMS_LOGMNR_D.BUILD` wrote, `(thread, sequence)`.
    dictionaries: BTreeSet<(u16, u64)>,
    /// Each table's rows as a flashback read returns them, by `OWNER.NAME`.
    table_rows: HashMap<String, TextRows>,
    /// Sessions opened through `Connector::connect`.
    connects: u32,
    /// The next flashback read fails with this error after sending this many batches, once
    /// the test releases it.
    cut_read: Option<(usize, SessionError, Arc<tokio::sync::Notify>)>,
    /// The precheck's database facts; the table facts are made from the tables at each
    /// call (every table logged unless in `unlogged`, sized by `segments`).
    facts: Option<DatabaseFacts>,
    unlogged: BTreeSet<(String, String)>,
    segments: HashMap<String, u64>,
}

/// The facts of a well-configured 19c database.
fn good_facts() -> DatabaseFacts {
    DatabaseFacts {
        version: "19.0.0.0.0".into(),
        log_mode: "ARCHIVELOG".into(),
        supplemental_min: "YES".into(),
        supplemental_all: "NO".into(),
        privileges: crate::precheck::oracle::NEEDED_PRIVILEGES
            .iter()
            .map(|p| p.to_string())
            .collect(),
        archived_logs_reach_secs: Some(8 * 86_400),
        undo_retention_secs: 3600,
    }
}

/// The bytes of a table `ScriptSession::segment_bytes` did not size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// The stand-in. Clones share one database: keep one to script and inspect while the miner
/// owns another.
#[derive(Debug, Clone)]
pub struct ScriptSession {
    state: Arc<Mutex<State>>,
}

impl Default for ScriptSession {
    fn default() -> Self {
        ScriptSession::new()
    }
}

impl ScriptSession {
    pub fn new() -> ScriptSession {
        ScriptSession {
            state: Arc::new(Mutex::new(State {
                online_groups: 3,
                ..State::default()
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds log `sequence` of thread 1 holding `[first, next)`.
    pub fn log(self, sequence: u64, first: u64, next: u64) -> Self {
        self.thread_log(1, sequence, first, next)
    }

    pub fn thread_log(self, thread: u16, sequence: u64, first: u64, next: u64) -> Self {
        self.state().logs.push(ScriptLog {
            thread,
            sequence,
            first: Scn(first),
            next: Scn(next),
        });
        self
    }

    /// The SCNs `current_scn` answers, one per call (the last repeats).
    pub fn clock(self, scns: &[u64]) -> Self {
        {
            let mut s = self.state();
            s.clock = scns.iter().copied().map(Scn).collect();
            if let Some(first) = s.clock.front() {
                s.now = *first;
            }
        }
        self
    }

    /// Moves the database's clock (log switches happen as it passes a log's end).
    pub fn advance_to(&self, scn: u64) {
        let mut s = self.state();
        s.clock.clear();
        s.now = Scn(scn);
    }

    pub fn rows(self, rows: impl IntoIterator<Item = LogMinerRow>) -> Self {
        self.state().rows.extend(rows);
        self
    }

    pub fn open_transaction(self, t: OpenTransaction) -> Self {
        self.state().open.push(t);
        self
    }

    /// LogMiner rows that appear in the redo now (a running source mines them once the clock
    /// passes their SCN).
    pub fn push_rows(&self, rows: impl IntoIterator<Item = LogMinerRow>) {
        self.state().rows.extend(rows);
    }

    /// The database `database` answers.
    pub fn database_info(self, info: DatabaseInfo) -> Self {
        self.state().database = Some(info);
        self
    }

    /// A table of the dictionary, and the rows a flashback read of it returns.
    pub fn table(self, table: DictTable, rows: TextRows) -> Self {
        {
            let mut s = self.state();
            let name = table.table.qualified_name();
            s.table_rows.insert(name.clone(), rows);
            s.versions.push((Scn(0), name, table));
        }
        self
    }

    /// The dictionary now describes `table` so (a DDL ran), replacing the table of that name.
    pub fn redefine(&self, table: DictTable) {
        let now = self.state().now;
        self.redefine_at(table, now.0);
    }

    /// From SCN `scn` on, the dictionary describes `table` so (a DDL committed at `scn`).
    pub fn redefine_at(&self, table: DictTable, scn: u64) {
        let name = table.table.qualified_name();
        self.state().versions.push((Scn(scn), name, table));
    }

    /// Log `sequence` of `thread` holds a dictionary build (an earlier `DBMS_LOGMNR_D.BUILD`).
    pub fn dictionary_in(self, thread: u16, sequence: u64) -> Self {
        self.state().dictionaries.insert((thread, sequence));
        self
    }

    /// The `(thread, sequence)` of logs holding a dictionary build, in order.
    pub fn dictionary_builds(&self) -> Vec<(u16, u64)> {
        self.state().dictionaries.iter().copied().collect()
    }

    /// Edits the precheck's database facts (the defaults describe a well-configured
    /// database).
    pub fn facts_with(self, edit: impl FnOnce(&mut DatabaseFacts)) -> Self {
        {
            let mut s = self.state();
            edit(s.facts.get_or_insert_with(good_facts));
        }
        self
    }

    /// `V$DATABASE.LOG_MODE`.
    pub fn log_mode(self, mode: &str) -> Self {
        self.facts_with(|f| f.log_mode = mode.to_owned())
    }

    /// The database's release, e.g. `12.1.0.2.0`.
    pub fn version(self, version: &str) -> Self {
        self.facts_with(|f| f.version = version.to_owned())
    }

    /// The session holds every needed privilege but these.
    pub fn without_privileges(self, missing: &[&str]) -> Self {
        self.facts_with(|f| f.privileges.retain(|p| !missing.contains(&p.as_str())))
    }

    /// The oldest archived log on disk began this long ago (`None`: none archived).
    pub fn archived_logs_reach(self, secs: Option<u64>) -> Self {
        self.facts_with(|f| f.archived_logs_reach_secs = secs)
    }

    pub fn undo_retention(self, secs: u64) -> Self {
        self.facts_with(|f| f.undo_retention_secs = secs)
    }

    /// The table has no ALL COLUMNS supplemental log group.
    pub fn without_all_columns_logging(self, owner: &str, table: &str) -> Self {
        self.state()
            .unlogged
            .insert((owner.to_owned(), table.to_owned()));
        self
    }

    /// The table's segments hold `bytes` (otherwise `DEFAULT_SEGMENT_BYTES`).
    pub fn segment_bytes(self, owner: &str, table: &str, bytes: u64) -> Self {
        self.state()
            .segments
            .insert(format!("{owner}.{table}"), bytes);
        self
    }

    /// The next flashback read sends `batches` batches of rows, then fails with `error` (a
    /// connection lost mid-table) once the returned `Notify` is notified (so a test can first
    /// see the rows sent made durable).
    pub fn cut_next_read(&self, batches: usize, error: SessionError) -> Arc<tokio::sync::Notify> {
        let release = Arc::new(tokio::sync::Notify::new());
        self.state().cut_read = Some((batches, error, release.clone()));
        release
    }

    /// Sessions opened through `Connector::connect` so far.
    pub fn connects(&self) -> u32 {
        self.state().connects
    }

    /// The archived copy of `sequence` is deleted from disk, still listed in the catalog.
    pub fn delete_archived(&self, sequence: u64) {
        self.state().deleted.insert(sequence);
    }

    /// The archived copy of `sequence` is gone from disk and catalog.
    pub fn purge_archived(&self, sequence: u64) {
        self.state().purged.insert(sequence);
    }

    /// The next call whose SQL starts with `prefix` fails with `error`.
    pub fn fail_next(&self, prefix: &str, error: SessionError) {
        self.state().inject.push((prefix.to_owned(), error));
    }

    /// Every statement sent so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// Forgets the recorded statements.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }
}

impl State {
    /// Records a call; fails it if an error was injected for it.
    fn call(&mut self, sql: String) -> Result<(), SessionError> {
        let injected = self.inject.iter().position(|(p, _)| sql.starts_with(p));
        self.calls.push(sql);
        match injected {
            Some(i) => Err(self.inject.remove(i).1),
            None => Ok(()),
        }
    }

    /// The dictionary's tables at `as_of` (now when `None`): each name's newest version that
    /// took effect at or before it.
    fn tables_at(&self, as_of: Option<Scn>) -> Vec<DictTable> {
        let mut at: Vec<(&String, &DictTable)> = Vec::new();
        for (from, name, table) in &self.versions {
            if as_of.is_some_and(|a| *from > a) {
                continue;
            }
            match at.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = table,
                None => at.push((name, table)),
            }
        }
        at.into_iter().map(|(_, t)| t.clone()).collect()
    }

    /// The log of `thread` holding SCN `now`: the current online log.
    fn current_log(&mut self, thread: u16) -> Option<&mut ScriptLog> {
        let now = self.now;
        self.logs
            .iter_mut()
            .find(|l| l.thread == thread && l.first <= now && now < l.next)
    }

    /// A log switch on every thread: each current log ends at the clock, the next one (the
    /// scripted one, or a new one) starts after it, and the clock moves past the switch, so
    /// the ended logs are archived.
    fn switch_logs(&mut self) {
        let now = self.now;
        self.now = Scn(now.0 + 1);
        let threads: BTreeSet<u16> = self.logs.iter().map(|l| l.thread).collect();
        for thread in threads {
            let Some(current) = self.current_log(thread) else {
                continue;
            };
            let (sequence, old_next) = (current.sequence, current.next);
            current.next = Scn(now.0 + 1);
            match self
                .logs
                .iter_mut()
                .find(|l| l.thread == thread && l.sequence == sequence + 1)
            {
                Some(following) => following.first = Scn(now.0 + 1),
                None => self.logs.push(ScriptLog {
                    thread,
                    sequence: sequence + 1,
                    first: Scn(now.0 + 1),
                    next: old_next.max(Scn(now.0 + 2)),
                }),
            }
        }
    }

    /// The archived logs flagged as holding a dictionary, beginning at or before `at`.
    fn dictionary_logs(&self, at: Scn) -> Vec<DictionaryLog> {
        self.logs
            .iter()
            .filter(|l| self.dictionaries.contains(&(l.thread, l.sequence)))
            .filter(|l| l.first <= at && self.now >= l.next && !self.purged.contains(&l.sequence))
            .map(|l| DictionaryLog {
                thread: l.thread,
                sequence: l.sequence,
                first_scn: l.first,
                next_scn: l.next,
                begin: true,
                end: true,
            })
            .collect()
    }

    /// The tables of `owners`, logged and sized as scripted.
    fn table_facts(&self, owners: &[String]) -> TableFacts {
        let mut f = TableFacts::default();
        for d in self.tables_at(None) {
            let t = &d.table;
            if !owners.contains(&t.owner) {
                continue;
            }
            let key = (t.owner.clone(), t.name.clone());
            if !self.unlogged.contains(&key) {
                f.all_columns_logged.push(key.clone());
            }
            let bytes = self.segments.get(&t.qualified_name());
            let bytes = bytes.copied().unwrap_or(DEFAULT_SEGMENT_BYTES);
            f.segment_bytes.push((key.0, key.1, bytes));
        }
        f
    }

    fn online(&self, log: &ScriptLog) -> bool {
        let mut of_thread: Vec<&ScriptLog> = self
            .logs
            .iter()
            .filter(|l| l.thread == log.thread && l.first <= self.now)
            .collect();
        of_thread.sort_by_key(|l| std::cmp::Reverse(l.sequence));
        of_thread
            .iter()
            .take(self.online_groups)
            .any(|l| l.sequence == log.sequence)
    }

    fn listed(&self, from: Scn, to: Scn) -> Vec<LogFile> {
        let mut out = Vec::new();
        for l in self.logs.iter().filter(|l| l.first <= self.now) {
            let current = self.now < l.next;
            let next = if current { INFINITE_SCN } else { l.next };
            let file = |name: String, archived| LogFile {
                name,
                thread: l.thread,
                sequence: l.sequence,
                first_scn: l.first,
                next_scn: next,
                archived,
            };
            if !current && !self.purged.contains(&l.sequence) {
                out.push(file(l.archived_name(), true));
            }
            if self.online(l) {
                out.push(file(l.online_name(), false));
            }
        }
        out.retain(|f| f.covers(from, to));
        out
    }

    fn file(&self, name: &str) -> Option<(&ScriptLog, bool)> {
        self.logs.iter().find_map(|l| {
            if l.archived_name() == name && self.now >= l.next {
                Some((l, true))
            } else if l.online_name() == name && self.online(l) {
                Some((l, false))
            } else {
                None
            }
        })
    }
}

fn ora(code: u32, message: impl Into<String>) -> SessionError {
    SessionError::Database {
        code,
        message: message.into(),
    }
}

fn selected(f: &ContentsFilter, r: &LogMinerRow) -> bool {
    if [op::START, op::COMMIT, op::ROLLBACK].contains(&r.operation_code) {
        return true;
    }
    let (Some(owner), table) = (&r.seg_owner, &r.table_name) else {
        return false;
    };
    f.owners.contains(owner)
        || f.tables
            .iter()
            .any(|(o, t)| o == owner && Some(t) == table.as_ref())
}

impl OracleSession for ScriptSession {
    async fn pin_nls(&mut self) -> Result<(), SessionError> {
        let mut s = self.state();
        for stmt in sql::NLS {
            s.call(stmt.to_owned())?;
        }
        Ok(())
    }

    async fn set_container(&mut self, container: &str) -> Result<(), SessionError> {
        self.state().call(sql::set_container(container))
    }

    async fn current_scn(&mut self) -> Result<Scn, SessionError> {
        let mut s = self.state();
        s.call(sql::CURRENT_SCN.to_owned())?;
        if let Some(next) = s.clock.pop_front() {
            // The database's clock never goes back (a forced log switch may have moved it
            // past the scripted answer).
            s.now = next.max(s.now);
            if s.clock.is_empty() {
                s.clock.push_back(next);
            }
        }
        Ok(s.now)
    }

    async fn logs(&mut self, from: Scn, to: Scn) -> Result<Vec<LogFile>, SessionError> {
        let mut s = self.state();
        s.call(sql::logs(from, to))?;
        Ok(s.listed(from, to))
    }

    async fn add_logfile(&mut self, name: &str, first: bool) -> Result<(), SessionError> {
        let mut s = self.state();
        s.call(sql::add_logfile(name, first))?;
        let Some((log, archived)) = s.file(name) else {
            return Err(ora(
                1284,
                format!("file {name} cannot be opened\nORA-00308: cannot open archived log '{name}'\nORA-27037: unable to obtain file status"),
            ));
        };
        if archived && s.deleted.contains(&log.sequence) {
            return Err(ora(
                1284,
                format!("file {name} cannot be opened\nORA-00308: cannot open archived log '{name}'\nORA-27037: unable to obtain file status\nLinux-x86_64 Error: 2: No such file or directory"),
            ));
        }
        if first {
            s.added.clear();
            s.window = None;
        } else if s.added.iter().any(|a| a == name) {
            return Err(ora(1289, format!("cannot add duplicate logfile {name}")));
        }
        s.added.push(name.to_owned());
        Ok(())
    }

    async fn start_logmnr(
        &mut self,
        start: Scn,
        end: Scn,
        dictionary: LogMinerDictionary,
    ) -> Result<(), SessionError> {
        let mut s = self.state();
        s.call(sql::start_logmnr(start, end, dictionary))?;
        if s.added.is_empty() {
            return Err(ora(
                1292,
                "no log file has been specified for the current LogMiner session",
            ));
        }
        if dictionary == LogMinerDictionary::RedoLogs {
            let with_dictionary = s
                .added
                .iter()
                .filter_map(|n| s.file(n))
                .any(|(l, archived)| {
                    archived && s.dictionaries.contains(&(l.thread, l.sequence)) && l.first <= start
                });
            if !with_dictionary {
                return Err(ora(1371, "Complete LogMiner dictionary not found"));
            }
        }
        // Every SCN of the window in some added log of each thread that has one.
        let added: Vec<(u16, Scn, Scn)> = s
            .added
            .iter()
            .filter_map(|n| s.file(n))
            .map(|(l, _)| (l.thread, l.first, l.next))
            .collect();
        let threads: BTreeSet<u16> = added.iter().map(|a| a.0).collect();
        for t in threads {
            let mut ranges: Vec<(Scn, Scn)> = added
                .iter()
                .filter(|a| a.0 == t)
                .map(|a| (a.1, a.2))
                .collect();
            ranges.sort();
            let mut covered = start;
            for (first, next) in ranges {
                if first <= covered && next > covered {
                    covered = next;
                }
            }
            if covered <= end.min(s.now) {
                return Err(ora(1291, "missing logfile"));
            }
        }
        s.window = Some((start, end));
        Ok(())
    }

    async fn contents(
        &mut self,
        filter: &ContentsFilter,
    ) -> Result<Vec<LogMinerRow>, SessionError> {
        let mut s = self.state();
        s.call(sql::contents(filter))?;
        let Some((start, end)) = s.window else {
            return Err(ora(
                1306,
                "dbms_logmnr.start_logmnr() must be invoked before selecting from v$logmnr_contents",
            ));
        };
        Ok(s.rows
            .iter()
            .filter(|r| r.scn >= start && r.scn <= end && selected(filter, r))
            .cloned()
            .collect())
    }

    async fn end_logmnr(&mut self) -> Result<(), SessionError> {
        let mut s = self.state();
        s.call(sql::END_LOGMNR.to_owned())?;
        s.window = None;
        s.added.clear();
        Ok(())
    }

    async fn build_dictionary(&mut self) -> Result<(), SessionError> {
        let mut s = self.state();
        s.call(sql::BUILD_DICTIONARY.to_owned())?;
        let Some(log) = s.current_log(1) else {
            return Err(ora(
                1291,
                "missing logfile: no current online log of thread 1",
            ));
        };
        let at = (log.thread, log.sequence);
        s.dictionaries.insert(at);
        Ok(())
    }

    async fn archive_current_log(&mut self) -> Result<(), SessionError> {
        let mut s = self.state();
        s.call(sql::ARCHIVE_LOG_CURRENT.to_owned())?;
        s.switch_logs();
        Ok(())
    }

    async fn dictionary_logs(&mut self, at: Scn) -> Result<Vec<DictionaryLog>, SessionError> {
        let mut s = self.state();
        s.call(sql::dictionary_logs(at))?;
        Ok(s.dictionary_logs(at))
    }

    async fn open_transactions(&mut self, at: Scn) -> Result<Vec<OpenTransaction>, SessionError> {
        let mut s = self.state();
        s.call(sql::open_transactions(at))?;
        Ok(s.open
            .iter()
            .filter(|t| t.start_scn <= at)
            .copied()
            .collect())
    }

    async fn database(&mut self) -> Result<DatabaseInfo, SessionError> {
        let mut s = self.state();
        s.call(sql::DATABASE.to_owned())?;
        Ok(s.database.clone().unwrap_or(DatabaseInfo {
            dbid: 1_122_334_455,
            name: "ORCL".into(),
            version: "19.0.0.0.0".into(),
            time_zone_offset_secs: 0,
        }))
    }

    async fn tables(
        &mut self,
        owners: &[String],
        as_of: Option<Scn>,
    ) -> Result<Vec<DictTable>, SessionError> {
        let mut s = self.state();
        s.call(sql::columns(owners, as_of))?;
        s.call(sql::keys(owners, as_of))?;
        let mut tables = s.tables_at(as_of);
        tables.retain(|t| owners.contains(&t.table.owner));
        Ok(tables)
    }

    async fn read_table(
        &mut self,
        table: &OraTable,
        scn: Scn,
        rows: mpsc::Sender<TextRows>,
    ) -> Result<u64, SessionError> {
        let (all, cut) = {
            let mut s = self.state();
            s.call(sql::read_table(table, scn))?;
            let all = s
                .table_rows
                .get(&table.qualified_name())
                .cloned()
                .ok_or_else(|| ora(942, "table or view does not exist"))?;
            (all, s.cut_read.take())
        };
        let mut read = 0;
        for (i, batch) in all.chunks(READ_BATCH_ROWS).enumerate() {
            if let Some((after, error, release)) = &cut {
                if i == *after {
                    release.notified().await;
                    return Err(error.clone());
                }
            }
            if rows.send(batch.to_vec()).await.is_err() {
                break;
            }
            read += batch.len() as u64;
        }
        Ok(read)
    }

    async fn database_facts(&mut self) -> Result<DatabaseFacts, SessionError> {
        let mut s = self.state();
        for (_, query) in sql::database_facts() {
            s.call(query)?;
        }
        Ok(s.facts.clone().unwrap_or_else(good_facts))
    }

    async fn table_facts(&mut self, owners: &[String]) -> Result<TableFacts, SessionError> {
        let mut s = self.state();
        for (_, query) in sql::table_facts(owners) {
            s.call(query)?;
        }
        Ok(s.table_facts(owners))
    }
}

impl Connector for ScriptSession {
    type Session = ScriptSession;

    async fn connect(&self) -> Result<ScriptSession, SessionError> {
        self.state().connects += 1;
        Ok(self.clone())
    }
}
