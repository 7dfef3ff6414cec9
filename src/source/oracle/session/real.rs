//! `OracleSession` on a live database through `oracledb`, Oracle's pure-Rust thin driver
//! (cargo feature `oracle`; see `super` for the choice). The driver is synchronous: each call
//! runs on the blocking pool with the connection behind a mutex, so a cancelled call never
//! leaves it half-used by two callers. Compiled in CI; it has not run against a live Oracle
//! in this project (no Oracle Database can run on its machines).

use std::sync::{Arc, Mutex};

use oracledb::{Connection, ErrorKind, Row};

use crate::config::{LogMinerDictionary, OracleConnect};
use crate::position::{Scn, Xid};
use crate::source::oracle::logminer::LogMinerRow;

use tokio::sync::mpsc;

use super::{
    sql, xid, Connector, ContentsFilter, DatabaseFacts, DatabaseInfo, DictTable, DictionaryLog,
    LogFile, OpenTransaction, OracleSession, SessionError, TableFacts, TextRows, READ_BATCH_ROWS,
};
use crate::source::oracle::dictionary::{self, ColumnRow, KeyRow};
use crate::source::oracle::table::{OraTable, OraType};

/// A session on one connection.
pub struct RealSession {
    conn: Arc<Mutex<Connection>>,
}

impl RealSession {
    /// Connects (on the blocking pool).
    pub async fn connect(c: &OracleConnect) -> Result<RealSession, SessionError> {
        let mut config = oracledb::Config::default()
            .set_credentials(&c.user, &c.password)
            .set_connect_string(&c.descriptor())
            .map_err(convert)?;
        if let Some(w) = &c.wallet_location {
            config = config.set_wallet_location(w.clone());
        }
        let conn = tokio::task::spawn_blocking(move || oracledb::connect(config))
            .await
            .map_err(|e| SessionError::Connection(format!("the connecting task failed: {e}")))?
            .map_err(convert)?;
        Ok(RealSession {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, oracledb::Error> + Send + 'static,
    ) -> Result<T, SessionError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard)
        })
        .await
        .map_err(|e| SessionError::Client(format!("the Oracle call's task failed: {e}")))?
        .map_err(convert)
    }

    async fn execute(&self, statement: String) -> Result<(), SessionError> {
        self.with(move |c| c.execute(&statement, &[]).map(|_| ()))
            .await
    }
}

/// The driver's error as a `SessionError`: a database error keeps its `ORA-` number, a dead
/// or refused connection is `Connection`.
fn convert(e: oracledb::Error) -> SessionError {
    match e.kind() {
        ErrorKind::DbError(db) => {
            let message = db.message();
            let message = message
                .strip_prefix(&format!("ORA-{:05}: ", db.code()))
                .unwrap_or(message);
            SessionError::Database {
                code: u32::try_from(db.code()).unwrap_or(u32::MAX),
                message: message.to_owned(),
            }
        }
        ErrorKind::DeadConnection
        | ErrorKind::NotConnected
        | ErrorKind::CallTimeoutExceeded
        | ErrorKind::ListenerRefusedConnection(..)
        | ErrorKind::UnexpectedRefuse(_)
        | ErrorKind::InvalidServiceName(..)
        | ErrorKind::InvalidSid(..)
        | ErrorKind::TlsOperation
        | ErrorKind::StreamOperation => SessionError::Connection(e.to_string()),
        _ => SessionError::Client(e.to_string()),
    }
}

fn scn(row: &Row, i: usize) -> Result<Scn, oracledb::Error> {
    Ok(Scn(row.get::<u64>(i)?))
}

fn opt_scn(row: &Row, i: usize) -> Result<Option<Scn>, oracledb::Error> {
    Ok(row.get::<Option<u64>>(i)?.map(Scn))
}

fn read_xid(row: &Row, at: usize) -> Result<Xid, oracledb::Error> {
    Ok(xid(
        row.get::<Option<u16>>(at)?.unwrap_or(0),
        row.get::<Option<u16>>(at + 1)?.unwrap_or(0),
        row.get::<Option<u32>>(at + 2)?.unwrap_or(0),
    ))
}

/// One `sql::CONTENTS_COLUMNS` row.
fn contents_row(row: &Row) -> Result<LogMinerRow, oracledb::Error> {
    Ok(LogMinerRow {
        scn: scn(row, 0)?,
        start_scn: opt_scn(row, 1)?,
        commit_scn: opt_scn(row, 2)?,
        xid: read_xid(row, 3)?,
        operation_code: row.get::<i32>(6)?,
        seg_owner: row.get(7)?,
        table_name: row.get(8)?,
        row_id: row.get(9)?,
        sql_redo: row.get(10)?,
        rollback: row.get::<Option<i32>>(11)? == Some(1),
        rs_id: row.get::<Option<String>>(12)?.unwrap_or_default(),
        ssn: row.get::<Option<u32>>(13)?.unwrap_or(0),
        csf: row.get::<Option<i32>>(14)? == Some(1),
        info: row.get(15)?,
        timestamp_ms: row.get::<Option<i64>>(16)?.unwrap_or(0),
    })
}

impl OracleSession for RealSession {
    async fn pin_nls(&mut self) -> Result<(), SessionError> {
        for statement in sql::NLS {
            self.execute(statement.to_owned()).await?;
        }
        Ok(())
    }

    async fn set_container(&mut self, container: &str) -> Result<(), SessionError> {
        self.execute(sql::set_container(container)).await
    }

    async fn current_scn(&mut self) -> Result<Scn, SessionError> {
        self.with(|c| scn(&c.query_row(sql::CURRENT_SCN, &[])?, 0))
            .await
    }

    async fn logs(&mut self, from: Scn, to: Scn) -> Result<Vec<LogFile>, SessionError> {
        let q = sql::logs(from, to);
        self.with(move |c| {
            let mut out = Vec::new();
            for row in c.query(&q, &[])? {
                let row = row?;
                out.push(LogFile {
                    name: row.get(0)?,
                    thread: row.get(1)?,
                    sequence: row.get(2)?,
                    first_scn: scn(&row, 3)?,
                    next_scn: scn(&row, 4)?,
                    archived: row.get::<String>(5)? == "YES",
                });
            }
            Ok(out)
        })
        .await
    }

    async fn add_logfile(&mut self, name: &str, first: bool) -> Result<(), SessionError> {
        self.execute(sql::add_logfile(name, first)).await
    }

    async fn start_logmnr(
        &mut self,
        start: Scn,
        end: Scn,
        dictionary: LogMinerDictionary,
    ) -> Result<(), SessionError> {
        self.execute(sql::start_logmnr(start, end, dictionary))
            .await
    }

    async fn build_dictionary(&mut self) -> Result<(), SessionError> {
        self.execute(sql::BUILD_DICTIONARY.to_owned()).await
    }

    async fn archive_current_log(&mut self) -> Result<(), SessionError> {
        self.execute(sql::ARCHIVE_LOG_CURRENT.to_owned()).await
    }

    async fn dictionary_logs(&mut self, at: Scn) -> Result<Vec<DictionaryLog>, SessionError> {
        let q = sql::dictionary_logs(at);
        self.with(move |c| {
            let mut out = Vec::new();
            for row in c.query(&q, &[])? {
                let row = row?;
                out.push(DictionaryLog {
                    thread: row.get(0)?,
                    sequence: row.get(1)?,
                    first_scn: scn(&row, 2)?,
                    next_scn: scn(&row, 3)?,
                    begin: row.get::<String>(4)? == "YES",
                    end: row.get::<String>(5)? == "YES",
                });
            }
            Ok(out)
        })
        .await
    }

    async fn contents(
        &mut self,
        filter: &ContentsFilter,
    ) -> Result<Vec<LogMinerRow>, SessionError> {
        let q = sql::contents(filter);
        self.with(move |c| {
            let mut out = Vec::new();
            for row in c.query(&q, &[])? {
                out.push(contents_row(&row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn end_logmnr(&mut self) -> Result<(), SessionError> {
        self.execute(sql::END_LOGMNR.to_owned()).await
    }

    async fn open_transactions(&mut self, at: Scn) -> Result<Vec<OpenTransaction>, SessionError> {
        let q = sql::open_transactions(at);
        self.with(move |c| {
            let mut out = Vec::new();
            for row in c.query(&q, &[])? {
                let row = row?;
                out.push(OpenTransaction {
                    xid: read_xid(&row, 0)?,
                    start_scn: scn(&row, 3)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn database(&mut self) -> Result<DatabaseInfo, SessionError> {
        self.with(|c| {
            let row = c.query_row(sql::DATABASE, &[])?;
            let offset: Option<String> = row.get(3)?;
            Ok(DatabaseInfo {
                dbid: row.get(0)?,
                name: row.get(1)?,
                version: row.get::<Option<String>>(2)?.unwrap_or_default(),
                time_zone_offset_secs: offset.as_deref().and_then(tz_offset).unwrap_or(0),
            })
        })
        .await
    }

    async fn tables(
        &mut self,
        owners: &[String],
        as_of: Option<Scn>,
    ) -> Result<Vec<DictTable>, SessionError> {
        let (cq, kq) = (sql::columns(owners, as_of), sql::keys(owners, as_of));
        self.with(move |c| {
            let mut columns = Vec::new();
            for row in c.query(&cq, &[])? {
                columns.push(column_row(&row?)?);
            }
            let mut keys = Vec::new();
            for row in c.query(&kq, &[])? {
                let row = row?;
                keys.push(KeyRow {
                    owner: row.get(0)?,
                    table: row.get(1)?,
                    constraint: row.get(2)?,
                    primary: row.get::<String>(3)? == "P",
                    column: row.get(4)?,
                });
            }
            Ok(dictionary::build(columns, keys))
        })
        .await
    }

    async fn read_table(
        &mut self,
        table: &OraTable,
        scn: Scn,
        rows: mpsc::Sender<TextRows>,
    ) -> Result<u64, SessionError> {
        let q = sql::read_table(table, scn);
        let binary: Vec<bool> = table
            .columns
            .iter()
            .map(|c| matches!(c.ty, OraType::Blob | OraType::LongRaw))
            .collect();
        self.with(move |c| {
            let mut read = 0u64;
            let mut batch = Vec::with_capacity(READ_BATCH_ROWS);
            for row in c.query(&q, &[])? {
                batch.push(text_row(&row?, &binary)?);
                if batch.len() == READ_BATCH_ROWS {
                    read += batch.len() as u64;
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH_ROWS));
                    if rows.blocking_send(full).is_err() {
                        return Ok(read);
                    }
                }
            }
            read += batch.len() as u64;
            if !batch.is_empty() {
                let _ = rows.blocking_send(batch);
            }
            Ok(read)
        })
        .await
    }

    async fn database_facts(&mut self) -> Result<DatabaseFacts, SessionError> {
        self.with(move |c| {
            let version = c
                .query_row(sql::FACT_VERSION, &[])?
                .get::<Option<String>>(0)?;
            let log_mode = c.query_row(sql::FACT_LOG_MODE, &[])?.get::<String>(0)?;
            let supplemental = c.query_row(sql::FACT_SUPPLEMENTAL, &[])?;
            let privileges = strings(c, sql::FACT_PRIVILEGES)?;
            let reach = c.query_row(sql::FACT_ARCHIVED_LOGS_REACH, &[])?;
            let undo = c.query_row(sql::FACT_UNDO_RETENTION, &[])?;
            Ok(DatabaseFacts {
                version: version.unwrap_or_default(),
                log_mode,
                supplemental_min: supplemental.get::<Option<String>>(0)?.unwrap_or_default(),
                supplemental_all: supplemental.get::<Option<String>>(1)?.unwrap_or_default(),
                privileges,
                archived_logs_reach_secs: reach.get::<Option<u64>>(0)?,
                undo_retention_secs: undo
                    .get::<Option<String>>(0)?
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            })
        })
        .await
    }

    async fn table_facts(&mut self, owners: &[String]) -> Result<TableFacts, SessionError> {
        let (logged, segments) = (
            sql::fact_all_columns_logged(owners),
            sql::fact_segments(owners),
        );
        self.with(move |c| {
            let all_columns_logged = pairs(c, &logged)?;
            let mut segment_bytes = Vec::new();
            for row in c.query(&segments, &[])? {
                let row = row?;
                let bytes = row.get::<Option<u64>>(2)?.unwrap_or(0);
                segment_bytes.push((row.get(0)?, row.get(1)?, bytes));
            }
            Ok(TableFacts {
                all_columns_logged,
                segment_bytes,
            })
        })
        .await
    }
}

/// A query's first column, every row.
fn strings(c: &Connection, q: &str) -> Result<Vec<String>, oracledb::Error> {
    let mut out = Vec::new();
    for row in c.query(q, &[])? {
        out.push(row?.get(0)?);
    }
    Ok(out)
}

/// A query's first two columns, every row.
fn pairs(c: &Connection, q: &str) -> Result<Vec<(String, String)>, oracledb::Error> {
    let mut out = Vec::new();
    for row in c.query(q, &[])? {
        let row = row?;
        out.push((row.get(0)?, row.get(1)?));
    }
    Ok(out)
}

/// `TZ_OFFSET`'s `+HH:MI` in seconds east of UTC.
fn tz_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let (h, m) = rest.split_once(':')?;
    Some(sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60))
}

fn column_row(row: &Row) -> Result<ColumnRow, oracledb::Error> {
    Ok(ColumnRow {
        owner: row.get(0)?,
        table: row.get(1)?,
        object_id: row.get(2)?,
        column: row.get(3)?,
        data_type: row.get(4)?,
        data_length: row.get::<Option<u32>>(5)?.unwrap_or(0),
        precision: row.get(6)?,
        scale: row.get(7)?,
        char_length: row.get::<Option<u32>>(8)?.unwrap_or(0),
        char_used: row.get(9)?,
        nullable: row.get::<Option<String>>(10)?.as_deref() != Some("N"),
        num_rows: row.get::<Option<u64>>(11)?.unwrap_or(0),
    })
}

/// A flashback read's row as text: BLOB and LONG RAW bytes in hex, the rest as selected.
fn text_row(row: &Row, binary: &[bool]) -> Result<Vec<Option<String>>, oracledb::Error> {
    let mut out = Vec::with_capacity(binary.len());
    for (i, bin) in binary.iter().enumerate() {
        out.push(if *bin {
            row.get::<Option<Vec<u8>>>(i)?.map(hex::encode_upper)
        } else {
            row.get::<Option<String>>(i)?
        });
    }
    Ok(out)
}

/// Opens `RealSession`s with one connection's settings.
pub struct RealConnector(pub OracleConnect);

impl Connector for RealConnector {
    type Session = RealSession;

    async fn connect(&self) -> Result<RealSession, SessionError> {
        RealSession::connect(&self.0).await
    }
}
