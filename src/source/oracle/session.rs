//! The Oracle session the source talks to: the calls LogMiner mining needs (and the facts the
//! precheck judges, `database_facts` and `table_facts`), as one async trait with two
//! implementations.
//!
//! - `real` (cargo feature `oracle`): Oracle's own pure-Rust thin driver, crate `oracledb`
//!   (26.0.0-beta.5), no Oracle Instant Client. Chosen over `oracle-rs` 0.1 because it is
//!   maintained by Oracle alongside python-oracledb's thin mode (the same protocol code path
//!   Oracle supports, 12.1 to 26ai), it forbids unsafe code, it covers what mining needs
//!   (PL/SQL blocks, `V$` queries, TLS through `tcps://` with rustls) and more besides (wallets,
//!   DRCP, pools); `oracle-rs` is a young one-author crate. Its API is synchronous: every call
//!   runs in `spawn_blocking`. It needs Rust 1.89, hence the package's `rust-version`. The
//!   real session is compiled in CI, and has not run against a live Oracle here.
//! - `script`: a scripted stand-in of the database (logs appearing over time, LogMiner rows, a
//!   missing archived log) that answers every call and records it, so tests assert the exact
//!   SQL the source would send.
//!
//! Every call has one SQL text, built here (`sql`), so the real session sends exactly what the
//! stand-in records. SCNs are written as literals: they are numbers, and a literal keeps the
//! recorded text the text sent.

pub mod script;

#[cfg(feature = "oracle")]
pub mod real;

use std::future::Future;

use tokio::sync::mpsc;

use crate::config::LogMinerDictionary;
use crate::position::{Scn, Xid};

use super::logminer::LogMinerRow;
use super::table::OraTable;

/// One redo log file LogMiner can be given (`V$ARCHIVED_LOG`, or `V$LOG` + `V$LOGFILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The file's path on the database server (`NAME` / `MEMBER`).
    pub name: String,
    /// `THREAD#`: the RAC instance's redo thread (1 on a single instance).
    pub thread: u16,
    /// `SEQUENCE#`.
    pub sequence: u64,
    /// `FIRST_CHANGE#`: the first SCN in the log.
    pub first_scn: Scn,
    /// `NEXT_CHANGE#`: the first SCN of the next log (the current online log's is
    /// 281474976710655, "infinite").
    pub next_scn: Scn,
    /// An archived copy (`V$ARCHIVED_LOG`) rather than an online log.
    pub archived: bool,
}

impl LogFile {
    /// Whether the log holds redo of an SCN in `[from, to]`.
    pub fn covers(&self, from: Scn, to: Scn) -> bool {
        self.first_scn <= to && self.next_scn > from
    }
}

/// An archived log holding the start or the end of a LogMiner dictionary written into the redo
/// by `DBMS_LOGMNR_D.BUILD` (`V$ARCHIVED_LOG.DICTIONARY_BEGIN` / `DICTIONARY_END`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DictionaryLog {
    pub thread: u16,
    pub sequence: u64,
    pub first_scn: Scn,
    pub next_scn: Scn,
    pub begin: bool,
    pub end: bool,
}

/// The newest complete dictionary among `logs`: its `DICTIONARY_BEGIN` log, for which a
/// `DICTIONARY_END` log of the same thread at or after it exists (a build may span logs).
pub fn newest_dictionary(logs: &[DictionaryLog]) -> Option<DictionaryLog> {
    logs.iter()
        .filter(|b| b.begin)
        .filter(|b| {
            logs.iter()
                .any(|e| e.end && e.thread == b.thread && e.sequence >= b.sequence)
        })
        .max_by_key(|b| (b.first_scn, b.sequence))
        .copied()
}

/// A transaction open on the database (`GV$TRANSACTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTransaction {
    pub xid: Xid,
    pub start_scn: Scn,
}

/// Which `V$LOGMNR_CONTENTS` rows a window reads: the task's tables (whole owners, or single
/// tables) plus every transaction's START, COMMIT and ROLLBACK rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentsFilter {
    /// Owners (schemas) captured whole, as stored (upper case unless quoted at creation).
    pub owners: Vec<String>,
    /// Single tables, `(owner, table)` as stored.
    pub tables: Vec<(String, String)>,
    /// A PDB's rows only (`SRC_CON_NAME`), when LogMiner runs in `CDB$ROOT`.
    pub pdb: Option<String>,
}

/// The database a session is connected to (`V$DATABASE`, the version, the time zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// `V$DATABASE.DBID`: a checkpoint belongs to this database and no other.
    pub dbid: u64,
    /// `V$DATABASE.NAME`.
    pub name: String,
    /// The version string, e.g. `19.0.0.0.0`.
    pub version: String,
    /// `DBTIMEZONE`'s offset east of UTC, in seconds (TIMESTAMP WITH LOCAL TIME ZONE values).
    pub time_zone_offset_secs: i32,
}

/// A table as the dictionary describes it, with the optimizer's row count (`NUM_ROWS`, 0
/// before statistics), for progress only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictTable {
    pub table: OraTable,
    pub estimated_rows: u64,
}

/// A batch of a flashback read's rows: per column its text in the form `sql::select_expr`
/// selects (the pinned NLS formats; binary values in hex), `None` for NULL.
pub type TextRows = Vec<Vec<Option<String>>>;

/// Rows per `TextRows` batch a read sends.
pub const READ_BATCH_ROWS: usize = 512;

/// The precheck's facts about the database (`sql::database_facts`, one query each), read
/// where LogMiner runs (`CDB$ROOT` when a PDB is captured), before
/// `precheck::oracle::facts_of` matches them with the selected tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFacts {
    /// `PRODUCT_COMPONENT_VERSION.VERSION` of the database, e.g. `19.0.0.0.0`, `12.1.0.2.0`.
    pub version: String,
    /// `V$DATABASE.LOG_MODE`: `ARCHIVELOG` or `NOARCHIVELOG`.
    pub log_mode: String,
    /// `V$DATABASE.SUPPLEMENTAL_LOG_DATA_MIN`: `YES`, `IMPLICIT` or `NO`.
    pub supplemental_min: String,
    /// `V$DATABASE.SUPPLEMENTAL_LOG_DATA_ALL`: `YES` or `NO`.
    pub supplemental_all: String,
    /// The system privileges and roles the session holds.
    pub privileges: Vec<String>,
    /// Seconds since the oldest archived log still on disk began (`None`: none archived).
    pub archived_logs_reach_secs: Option<u64>,
    /// `UNDO_RETENTION` in seconds.
    pub undo_retention_secs: u64,
}

/// The precheck's facts about the owners' tables (`sql::table_facts`, one query each), read
/// where the tables are (the PDB when one is captured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableFacts {
    /// The owners' tables with an `ALL COLUMN LOGGING` log group, `(owner, table)`.
    pub all_columns_logged: Vec<(String, String)>,
    /// The bytes of the owners' table segments (partitions and LOB segments summed per
    /// table), `(owner, table, bytes)`; a table with no segment yet is not listed.
    pub segment_bytes: Vec<(String, String, u64)>,
}

/// Why a session call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The connection is gone (closed, reset, timed out): retrying may work.
    #[error("the connection to Oracle was lost: {0}")]
    Connection(String),
    /// The database answered with an error, `ORA-<code>: <message>` (a stack of several
    /// `ORA-` lines shows on one line, `; ` between them).
    #[error("ORA-{code:05}: {}", .message.trim().replace('\n', "; "))]
    Database { code: u32, message: String },
    /// Anything else the client reported (a value it could not convert...).
    #[error("{0}")]
    Client(String),
}

impl SessionError {
    /// The `ORA-` number, for database errors.
    pub fn ora_code(&self) -> Option<u32> {
        match self {
            SessionError::Database { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `NEXT_CHANGE#` of the current online log.
pub const INFINITE_SCN: Scn = Scn(281_474_976_710_655);

/// The session calls of LogMiner mining. Async; an implementation on a synchronous client
/// runs each call in `spawn_blocking`.
pub trait OracleSession: Send {
    /// Pins the session's NLS formats (`sql::NLS`, in order) so SQL_REDO literals keep full
    /// precision and the time of day. The first call of a session.
    fn pin_nls(&mut self) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// `ALTER SESSION SET CONTAINER` (`sql::set_container`): a common user connected to a
    /// CDB's service reads a PDB's dictionary and tables in the PDB, and mines in `CDB$ROOT`.
    fn set_container(
        &mut self,
        container: &str,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// `V$DATABASE.CURRENT_SCN`.
    fn current_scn(&mut self) -> impl Future<Output = Result<Scn, SessionError>> + Send;

    /// The archived and online logs holding redo of `[from, to]`, in any order; a log may be
    /// listed both archived and online (the miner prefers the archived copy).
    fn logs(
        &mut self,
        from: Scn,
        to: Scn,
    ) -> impl Future<Output = Result<Vec<LogFile>, SessionError>> + Send;

    /// `DBMS_LOGMNR.ADD_LOGFILE`, `NEW` for the first file of a window, `ADDFILE` after.
    fn add_logfile(
        &mut self,
        name: &str,
        first: bool,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// `DBMS_LOGMNR.START_LOGMNR` over `[start, end]`, the dictionary from the online catalog
    /// or from the added logs (`sql::start_logmnr`).
    fn start_logmnr(
        &mut self,
        start: Scn,
        end: Scn,
        dictionary: LogMinerDictionary,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// `DBMS_LOGMNR_D.BUILD` into the redo logs (`sql::BUILD_DICTIONARY`).
    fn build_dictionary(&mut self) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// `ALTER SYSTEM ARCHIVE LOG CURRENT`: every thread's current log switched and archived,
    /// so a dictionary just built is in an archived log.
    fn archive_current_log(&mut self) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// The archived logs marking a dictionary's start or end, beginning at or before `at`
    /// (`sql::dictionary_logs`).
    fn dictionary_logs(
        &mut self,
        at: Scn,
    ) -> impl Future<Output = Result<Vec<DictionaryLog>, SessionError>> + Send;

    /// The window's `V$LOGMNR_CONTENTS` rows the filter selects, in LogMiner's order.
    fn contents(
        &mut self,
        filter: &ContentsFilter,
    ) -> impl Future<Output = Result<Vec<LogMinerRow>, SessionError>> + Send;

    /// `DBMS_LOGMNR.END_LOGMNR`.
    fn end_logmnr(&mut self) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// The transactions open now that started at or before `at`.
    fn open_transactions(
        &mut self,
        at: Scn,
    ) -> impl Future<Output = Result<Vec<OpenTransaction>, SessionError>> + Send;

    /// The connected database (`sql::DATABASE`).
    fn database(&mut self) -> impl Future<Output = Result<DatabaseInfo, SessionError>> + Send;

    /// The tables of `owners` (as stored) with their columns and key, from the dictionary
    /// (`sql::columns`, `sql::keys`, combined by `dictionary::build`): as it is now, or as it
    /// was at SCN `as_of` (a flashback query of the dictionary views, which the undo bounds).
    fn tables(
        &mut self,
        owners: &[String],
        as_of: Option<Scn>,
    ) -> impl Future<Output = Result<Vec<DictTable>, SessionError>> + Send;

    /// Reads `table` as of `scn` (`sql::read_table`, a flashback query), sending its rows in
    /// batches of `READ_BATCH_ROWS` to `rows`; returns how many it read. A closed `rows` ends
    /// the read early.
    fn read_table(
        &mut self,
        table: &OraTable,
        scn: Scn,
        rows: mpsc::Sender<TextRows>,
    ) -> impl Future<Output = Result<u64, SessionError>> + Send;

    /// The precheck's facts about the database: each query of `sql::database_facts`, in its
    /// order, once, in the session's container. A query that fails (a view the user may not
    /// read) fails the call.
    fn database_facts(
        &mut self,
    ) -> impl Future<Output = Result<DatabaseFacts, SessionError>> + Send;

    /// The precheck's facts about `owners`' tables: each query of `sql::table_facts(owners)`,
    /// in its order, once, in the session's container. A query that fails fails the call.
    fn table_facts(
        &mut self,
        owners: &[String],
    ) -> impl Future<Output = Result<TableFacts, SessionError>> + Send;
}

/// Opens sessions: the source's first one, and one per parallel snapshot reader.
pub trait Connector: Send + Sync + 'static {
    type Session: OracleSession + 'static;

    fn connect(&self) -> impl Future<Output = Result<Self::Session, SessionError>> + Send;
}

/// The SQL text of every call.
pub mod sql {
    use super::ContentsFilter;
    use crate::config::LogMinerDictionary;
    use crate::position::Scn;

    /// The NLS settings, in the order they are sent.
    pub const NLS: [&str; 4] = [
        "ALTER SESSION SET NLS_DATE_FORMAT = 'SYYYY-MM-DD HH24:MI:SS'",
        "ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'SYYYY-MM-DD HH24:MI:SS.FF9'",
        "ALTER SESSION SET NLS_TIMESTAMP_TZ_FORMAT = 'SYYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'",
        "ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'",
    ];

    pub const CURRENT_SCN: &str = "SELECT CURRENT_SCN FROM V$DATABASE";

    /// The root container of a CDB, where LogMiner runs.
    pub const ROOT: &str = "CDB$ROOT";

    pub fn set_container(container: &str) -> String {
        format!("ALTER SESSION SET CONTAINER = {}", ident(container))
    }

    pub const END_LOGMNR: &str = "BEGIN DBMS_LOGMNR.END_LOGMNR; END;";

    /// A string literal: quoted, quotes doubled.
    pub fn literal(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    /// Archived logs (valid, local copies, one per thread and sequence) and online logs (one
    /// member per group) holding redo of `[from, to]`. Columns: name, thread, sequence,
    /// first SCN, next SCN, archived (`'YES'`/`'NO'`: the online list says whether its copy
    /// exists, the miner takes the archived row then).
    pub fn logs(from: Scn, to: Scn) -> String {
        format!(
            "SELECT MIN(NAME), THREAD#, SEQUENCE#, FIRST_CHANGE#, NEXT_CHANGE#, 'YES' \
             FROM V$ARCHIVED_LOG \
             WHERE NAME IS NOT NULL AND STATUS = 'A' AND STANDBY_DEST = 'NO' \
             AND FIRST_CHANGE# <= {to} AND NEXT_CHANGE# > {from} \
             GROUP BY THREAD#, SEQUENCE#, FIRST_CHANGE#, NEXT_CHANGE# \
             UNION ALL \
             SELECT MIN(F.MEMBER), L.THREAD#, L.SEQUENCE#, L.FIRST_CHANGE#, L.NEXT_CHANGE#, 'NO' \
             FROM V$LOG L JOIN V$LOGFILE F ON F.GROUP# = L.GROUP# \
             WHERE L.STATUS IN ('CURRENT', 'ACTIVE', 'INACTIVE') \
             AND L.FIRST_CHANGE# <= {to} AND L.NEXT_CHANGE# > {from} \
             GROUP BY L.THREAD#, L.SEQUENCE#, L.FIRST_CHANGE#, L.NEXT_CHANGE#",
            from = from.0,
            to = to.0
        )
    }

    pub fn add_logfile(name: &str, first: bool) -> String {
        format!(
            "BEGIN DBMS_LOGMNR.ADD_LOGFILE(LOGFILENAME => {}, OPTIONS => DBMS_LOGMNR.{}); END;",
            literal(name),
            if first { "NEW" } else { "ADDFILE" }
        )
    }

    pub fn start_logmnr(start: Scn, end: Scn, dictionary: LogMinerDictionary) -> String {
        let options = match dictionary {
            LogMinerDictionary::OnlineCatalog => "DBMS_LOGMNR.DICT_FROM_ONLINE_CATALOG",
            LogMinerDictionary::RedoLogs => {
                "DBMS_LOGMNR.DICT_FROM_REDO_LOGS + DBMS_LOGMNR.DDL_DICT_TRACKING"
            }
        };
        format!(
            "BEGIN DBMS_LOGMNR.START_LOGMNR(STARTSCN => {}, ENDSCN => {}, \
             OPTIONS => {options}); END;",
            start.0, end.0
        )
    }

    /// Writes the dictionary into the redo, for `DICT_FROM_REDO_LOGS`.
    pub const BUILD_DICTIONARY: &str =
        "BEGIN DBMS_LOGMNR_D.BUILD(OPTIONS => DBMS_LOGMNR_D.STORE_IN_REDO_LOGS); END;";

    pub const ARCHIVE_LOG_CURRENT: &str = "ALTER SYSTEM ARCHIVE LOG CURRENT";

    /// The archived logs (valid, local) marking the start or end of a dictionary, beginning at
    /// or before `at`. Columns: thread, sequence, first SCN, next SCN, DICTIONARY_BEGIN,
    /// DICTIONARY_END (`YES`/`NO`).
    pub fn dictionary_logs(at: Scn) -> String {
        format!(
            "SELECT DISTINCT THREAD#, SEQUENCE#, FIRST_CHANGE#, NEXT_CHANGE#, DICTIONARY_BEGIN, \
             DICTIONARY_END FROM V$ARCHIVED_LOG \
             WHERE NAME IS NOT NULL AND STATUS = 'A' AND STANDBY_DEST = 'NO' \
             AND (DICTIONARY_BEGIN = 'YES' OR DICTIONARY_END = 'YES') AND FIRST_CHANGE# <= {}",
            at.0
        )
    }

    /// The columns `LogMinerRow` holds, in `real`'s reading order; `TIMESTAMP` as
    /// milliseconds since the epoch (a DATE: whole seconds).
    pub const CONTENTS_COLUMNS: &str = "SCN, START_SCN, COMMIT_SCN, XIDUSN, XIDSLT, XIDSQN, \
         OPERATION_CODE, SEG_OWNER, TABLE_NAME, ROW_ID, SQL_REDO, ROLLBACK, RS_ID, SSN, CSF, INFO, \
         ROUND((TIMESTAMP - DATE '1970-01-01') * 86400000)";

    /// The window's rows: START (6), COMMIT (7) and ROLLBACK (36) of every transaction, and
    /// any operation on the filter's owners and tables (DML, DDL, LOB operations).
    pub fn contents(f: &ContentsFilter) -> String {
        let mut captured = Vec::new();
        if !f.owners.is_empty() {
            let owners: Vec<String> = f.owners.iter().map(|o| literal(o)).collect();
            captured.push(format!("SEG_OWNER IN ({})", owners.join(", ")));
        }
        for (owner, table) in &f.tables {
            captured.push(format!(
                "(SEG_OWNER = {} AND TABLE_NAME = {})",
                literal(owner),
                literal(table)
            ));
        }
        let mut condition = String::from("OPERATION_CODE IN (6, 7, 36)");
        for c in captured {
            condition.push_str(" OR ");
            condition.push_str(&c);
        }
        let pdb = f
            .pdb
            .as_deref()
            .map(|p| format!(" AND SRC_CON_NAME = {}", literal(p)))
            .unwrap_or_default();
        format!("SELECT {CONTENTS_COLUMNS} FROM V$LOGMNR_CONTENTS WHERE ({condition}){pdb}")
    }

    /// The connected database: DBID, name, version, `DBTIMEZONE`'s offset (`+HH:MI`).
    pub const DATABASE: &str = "SELECT DBID, NAME, \
         (SELECT VERSION FROM PRODUCT_COMPONENT_VERSION WHERE PRODUCT LIKE 'Oracle%' AND ROWNUM = 1), \
         TZ_OFFSET(DBTIMEZONE) FROM V$DATABASE";

    /// The tables of `owners` and their columns, in column order. Columns: owner, table,
    /// object id, column, DATA_TYPE, DATA_LENGTH, DATA_PRECISION, DATA_SCALE, CHAR_LENGTH,
    /// CHAR_USED, NULLABLE (`Y`/`N`), NUM_ROWS. Temporary, nested, external and dropped
    /// (recycle bin) tables are left out. With `as_of`, each view is read `AS OF SCN`: the
    /// definitions a DDL-tracking dictionary renders a row of that SCN by.
    pub fn columns(owners: &[String], as_of: Option<Scn>) -> String {
        let at = flashback(as_of);
        format!(
            "SELECT C.OWNER, C.TABLE_NAME, O.OBJECT_ID, C.COLUMN_NAME, C.DATA_TYPE, C.DATA_LENGTH, \
             C.DATA_PRECISION, C.DATA_SCALE, C.CHAR_LENGTH, C.CHAR_USED, C.NULLABLE, NVL(T.NUM_ROWS, 0) \
             FROM ALL_TAB_COLUMNS{at} C \
             JOIN ALL_TABLES{at} T ON T.OWNER = C.OWNER AND T.TABLE_NAME = C.TABLE_NAME \
             JOIN ALL_OBJECTS{at} O ON O.OWNER = C.OWNER AND O.OBJECT_NAME = C.TABLE_NAME \
             AND O.OBJECT_TYPE = 'TABLE' AND O.SUBOBJECT_NAME IS NULL \
             WHERE C.OWNER IN ({}) AND T.TEMPORARY = 'N' AND T.NESTED = 'NO' \
             AND T.DROPPED = 'NO' AND T.EXTERNAL = 'NO' \
             ORDER BY C.OWNER, C.TABLE_NAME, C.COLUMN_ID",
            in_list(owners)
        )
    }

    /// The enabled primary and unique keys of `owners`' tables, column by column in key
    /// order. Columns: owner, table, constraint name, type (`P`/`U`), column.
    pub fn keys(owners: &[String], as_of: Option<Scn>) -> String {
        let at = flashback(as_of);
        format!(
            "SELECT K.OWNER, K.TABLE_NAME, K.CONSTRAINT_NAME, K.CONSTRAINT_TYPE, CC.COLUMN_NAME \
             FROM ALL_CONSTRAINTS{at} K JOIN ALL_CONS_COLUMNS{at} CC \
             ON CC.OWNER = K.OWNER AND CC.CONSTRAINT_NAME = K.CONSTRAINT_NAME \
             WHERE K.OWNER IN ({}) AND K.CONSTRAINT_TYPE IN ('P', 'U') AND K.STATUS = 'ENABLED' \
             ORDER BY K.OWNER, K.TABLE_NAME, K.CONSTRAINT_TYPE, K.CONSTRAINT_NAME, CC.POSITION",
            in_list(owners)
        )
    }

    /// ` AS OF SCN n` after a dictionary view, or nothing for the current dictionary.
    fn flashback(as_of: Option<Scn>) -> String {
        as_of
            .map(|s| format!(" AS OF SCN {}", s.0))
            .unwrap_or_default()
    }

    fn in_list(items: &[String]) -> String {
        let quoted: Vec<String> = items.iter().map(|o| literal(o)).collect();
        quoted.join(", ")
    }

    /// A double-quoted identifier (stored names keep their case).
    pub fn ident(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    /// How a flashback read selects a column so that its text is what the SQL_REDO parser
    /// reads for its type: numbers with `.` as the decimal point, dates and timestamps in the
    /// pinned NLS formats, RAW in hex, XMLTYPE serialised. BLOB and LONG RAW are selected as
    /// they are (the session hexes their bytes); a type the source does not map is NULL.
    pub fn select_expr(col: &super::super::table::OraColumn) -> String {
        use super::super::table::OraType as T;
        let c = ident(&col.name);
        match &col.ty {
            T::Number { .. } | T::Float { .. } => {
                format!("TO_CHAR({c}, 'TM9', 'NLS_NUMERIC_CHARACTERS=''.,''')")
            }
            T::BinaryFloat | T::BinaryDouble => format!("TO_CHAR({c})"),
            T::Date => format!("TO_CHAR({c}, 'SYYYY-MM-DD HH24:MI:SS')"),
            T::Timestamp { .. } => format!("TO_CHAR({c}, 'SYYYY-MM-DD HH24:MI:SS.FF9')"),
            T::TimestampTz { .. } | T::TimestampLtz { .. } => {
                format!("TO_CHAR({c}, 'SYYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM')")
            }
            T::IntervalYm { .. } | T::IntervalDs { .. } => format!("TO_CHAR({c})"),
            T::Raw { .. } => format!("RAWTOHEX({c})"),
            T::Rowid | T::Urowid => format!("ROWIDTOCHAR({c})"),
            T::XmlType => format!("XMLSERIALIZE(DOCUMENT {c} AS CLOB)"),
            T::Other(_) => "NULL".into(),
            _ => c,
        }
    }

    /// The flashback read of a table at `scn`.
    pub fn read_table(t: &super::super::table::OraTable, scn: Scn) -> String {
        let cols: Vec<String> = t.columns.iter().map(select_expr).collect();
        format!(
            "SELECT {} FROM {}.{} AS OF SCN {}",
            cols.join(", "),
            ident(&t.owner),
            ident(&t.name),
            scn.0
        )
    }

    /// The precheck's version fact: the database's release (e.g. `19.0.0.0.0`).
    pub const FACT_VERSION: &str = "SELECT VERSION FROM PRODUCT_COMPONENT_VERSION \
         WHERE PRODUCT LIKE 'Oracle%' AND ROWNUM = 1";

    pub const FACT_LOG_MODE: &str = "SELECT LOG_MODE FROM V$DATABASE";

    pub const FACT_SUPPLEMENTAL: &str =
        "SELECT SUPPLEMENTAL_LOG_DATA_MIN, SUPPLEMENTAL_LOG_DATA_ALL FROM V$DATABASE";

    /// The system privileges and the roles (direct and nested) the session holds.
    pub const FACT_PRIVILEGES: &str =
        "SELECT PRIVILEGE FROM SESSION_PRIVS UNION ALL SELECT ROLE FROM SESSION_ROLES";

    /// Seconds back to the start of the oldest archived log still on disk (NULL when none
    /// is), in the database's own clock (never negative: a log stamped after SYSDATE by a
    /// clock step reads as 0).
    pub const FACT_ARCHIVED_LOGS_REACH: &str =
        "SELECT GREATEST(ROUND((SYSDATE - MIN(FIRST_TIME)) * 86400), 0) FROM V$ARCHIVED_LOG \
         WHERE NAME IS NOT NULL AND DELETED = 'NO' AND STATUS = 'A' AND STANDBY_DEST = 'NO'";

    pub const FACT_UNDO_RETENTION: &str =
        "SELECT VALUE FROM V$PARAMETER WHERE NAME = 'undo_retention'";

    /// The owners' tables with ALL COLUMNS supplemental logging. Columns: owner, table.
    pub fn fact_all_columns_logged(owners: &[String]) -> String {
        format!(
            "SELECT DISTINCT OWNER, TABLE_NAME FROM ALL_LOG_GROUPS \
             WHERE LOG_GROUP_TYPE = 'ALL COLUMN LOGGING' AND OWNER IN ({})",
            in_list(owners)
        )
    }

    /// The owners' table sizes: table, partition and subpartition segments, and the LOB
    /// segments of their columns, summed per table. Columns: owner, table, bytes.
    /// `DBA_SEGMENTS` (readable with SELECT ANY DICTIONARY, which the mining user holds)
    /// rather than `ALL_TABLES.BLOCKS`: it is the space allocated whether or not statistics
    /// were gathered (`BLOCKS` is NULL before `DBMS_STATS` and stale after), and it counts
    /// the LOB segments a flashback read reads too.
    pub fn fact_segments(owners: &[String]) -> String {
        let owners = in_list(owners);
        format!(
            "SELECT OWNER, TABLE_NAME, SUM(BYTES) FROM (\
             SELECT S.OWNER, S.SEGMENT_NAME TABLE_NAME, S.BYTES FROM DBA_SEGMENTS S \
             WHERE S.OWNER IN ({owners}) \
             AND S.SEGMENT_TYPE IN ('TABLE', 'TABLE PARTITION', 'TABLE SUBPARTITION') \
             UNION ALL \
             SELECT L.OWNER, L.TABLE_NAME, S.BYTES FROM DBA_LOBS L JOIN DBA_SEGMENTS S \
             ON S.OWNER = L.OWNER AND S.SEGMENT_NAME = L.SEGMENT_NAME \
             WHERE L.OWNER IN ({owners})) \
             GROUP BY OWNER, TABLE_NAME"
        )
    }

    /// The database facts' queries, named, in the order `OracleSession::database_facts`
    /// sends them.
    pub fn database_facts() -> Vec<(&'static str, String)> {
        [
            ("version", FACT_VERSION),
            ("log_mode", FACT_LOG_MODE),
            ("supplemental", FACT_SUPPLEMENTAL),
            ("privileges", FACT_PRIVILEGES),
            ("archived_logs_reach", FACT_ARCHIVED_LOGS_REACH),
            ("undo_retention", FACT_UNDO_RETENTION),
        ]
        .into_iter()
        .map(|(name, q)| (name, q.to_owned()))
        .collect()
    }

    /// The table facts' queries, named, in the order `OracleSession::table_facts` sends them.
    pub fn table_facts(owners: &[String]) -> Vec<(&'static str, String)> {
        vec![
            ("all_columns_logged", fact_all_columns_logged(owners)),
            ("segments", fact_segments(owners)),
        ]
    }

    /// `GV$TRANSACTION`: every RAC instance's open transactions, not only the connected one's.
    pub fn open_transactions(at: Scn) -> String {
        format!(
            "SELECT XIDUSN, XIDSLT, XIDSQN, START_SCN FROM GV$TRANSACTION WHERE START_SCN <= {}",
            at.0
        )
    }
}

/// Packs `XIDUSN.XIDSLT.XIDSQN` as `Xid` does.
pub fn xid(usn: u16, slot: u16, sqn: u32) -> Xid {
    Xid((u64::from(usn) << 48) | (u64::from(slot) << 32) | u64::from(sqn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_quotes_names_and_selects_transaction_boundaries() {
        assert_eq!(
            sql::add_logfile("/u01/arch/1_12_'x'.arc", true),
            "BEGIN DBMS_LOGMNR.ADD_LOGFILE(LOGFILENAME => '/u01/arch/1_12_''x''.arc', OPTIONS => DBMS_LOGMNR.NEW); END;"
        );
        let f = ContentsFilter {
            owners: vec!["HR".into()],
            tables: vec![("SHOP".into(), "ORDERS".into())],
            pdb: Some("PDB1".into()),
        };
        let q = sql::contents(&f);
        assert!(
            q.ends_with("WHERE (OPERATION_CODE IN (6, 7, 36) OR SEG_OWNER IN ('HR') OR (SEG_OWNER = 'SHOP' AND TABLE_NAME = 'ORDERS')) AND SRC_CON_NAME = 'PDB1'"),
            "{q}"
        );
        assert_eq!(xid(2, 3, 4).to_string(), "2.3.4");
        let log = LogFile {
            name: "a".into(),
            thread: 1,
            sequence: 1,
            first_scn: Scn(100),
            next_scn: Scn(200),
            archived: true,
        };
        assert!(log.covers(Scn(199), Scn(300)) && log.covers(Scn(0), Scn(100)));
        assert!(!log.covers(Scn(200), Scn(300)) && !log.covers(Scn(0), Scn(99)));
    }
}
