//! `OracleSession` on a live database through `oracledb`, Oracle's pure-Rust thin driver
//! (cargo feature `oracle`; see `super` for the choice). The driver is synchronous: each call
//! runs on the blocking pool with the connection behind a mutex, so a cancelled call never
//! leaves it half-used by two callers. Compiled in CI; it has not run against a live Oracle
//! in this project (no Oracle Database can run on its machines).

use std::sync::{Arc, Mutex};

use oracledb::{Connection, ErrorKind, Row};

use crate::config::OracleConnect;
use crate::position::{Scn, Xid};
use crate::source::oracle::logminer::LogMinerRow;

use super::{sql, xid, ContentsFilter, LogFile, OpenTransaction, OracleSession, SessionError};

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

    async fn start_logmnr(&mut self, start: Scn, end: Scn) -> Result<(), SessionError> {
        self.execute(sql::start_logmnr(start, end)).await
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
}
