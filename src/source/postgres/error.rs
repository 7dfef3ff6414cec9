//! PostgreSQL source errors, classified where the cause is known (by SQLSTATE, never by text).
//!
//! Every error renders as one line that names the problem and the fix: that line is what an
//! operator sees from `tributary run` or in a failed task's state.

use std::fmt;

/// An error reported by the server (ErrorResponse fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code)?;
        if let Some(d) = &self.detail {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

impl ServerError {
    pub fn from_db(e: &tokio_postgres::error::DbError) -> ServerError {
        ServerError {
            code: e.code().code().to_owned(),
            message: e.message().to_owned(),
            detail: e.detail().map(str::to_owned),
            hint: e.hint().map(str::to_owned),
        }
    }
}

/// What the supervisor does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// May clear by itself: retry with backoff (after the task's first successful start).
    Transient,
    /// Cannot proceed until an operator acts; the message names the fix.
    Definite,
}

#[derive(Debug, thiserror::Error)]
pub enum PgSourceError {
    #[error("cannot connect to PostgreSQL at {target}: {reason}: check that the server runs and source.url names the right host and port")]
    Unreachable { target: String, reason: String },
    #[error("PostgreSQL refused the login of user {user:?}: {server}: fix the password (source.url, source.password_file or source.password_env) or pg_hba.conf")]
    Auth { user: String, server: ServerError },
    #[error("PostgreSQL has wal_level={found}: logical replication needs wal_level=logical (set it in postgresql.conf or with ALTER SYSTEM SET wal_level = logical, then restart the server)")]
    WalLevel { found: String },
    #[error("user {user:?} may not use replication: grant it with ALTER ROLE {user} WITH REPLICATION (or use a superuser)")]
    NoReplicationPrivilege { user: String },
    #[error("no table matches {selector:?} in database {database}: fix objects.tables or create the table")]
    MissingTable { selector: String, database: String },
    #[error("table {table} has no primary key and no REPLICA IDENTITY FULL, so its UPDATE and DELETE would fail once it is published: add a primary key, list it in objects.replica_identity_full (tributary sets REPLICA IDENTITY FULL) or in objects.insert_only")]
    NoKey { table: String },
    #[error("creating replication slot {slot} waited {waited_secs}s for running transactions to end: {blockers}; end or commit them, or raise source.slot_create_timeout")]
    SlotCreateTimeout {
        slot: String,
        waited_secs: u64,
        blockers: String,
    },
    #[error("replication slot {slot} is gone or belongs to another server: the stream cannot resume without losing changes; delete the task's --data-dir to start over with a new snapshot")]
    SlotLost { slot: String },
    #[error("PostgreSQL error while {context}: {server}{}", hint_suffix(.server))]
    Server {
        context: String,
        server: ServerError,
    },
    #[error("PostgreSQL connection failed while {context}: {reason}")]
    Connection { context: String, reason: String },
    #[error("unexpected message from PostgreSQL while {context}: {what}")]
    Protocol { context: String, what: String },
    #[error("malformed replication message at {lsn}: {reason}")]
    Decode {
        lsn: crate::position::Lsn,
        reason: String,
    },
    #[error("TLS set-up failed: {0}: check sslmode and source.ssl_root_cert")]
    Tls(String),
    #[error(transparent)]
    UndecodableColumn(#[from] crate::value::UndecodableColumn),
}

fn hint_suffix(s: &ServerError) -> String {
    s.hint
        .as_ref()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default()
}

impl PgSourceError {
    /// Wraps a tokio-postgres error with what was being done, classifying server errors.
    pub fn sql(context: impl Into<String>, e: tokio_postgres::Error) -> PgSourceError {
        let context = context.into();
        match e.as_db_error() {
            Some(db) => PgSourceError::Server {
                context,
                server: ServerError::from_db(db),
            },
            None => PgSourceError::Connection {
                context,
                reason: error_chain(&e),
            },
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            PgSourceError::Unreachable { .. } | PgSourceError::Connection { .. } => {
                ErrorClass::Transient
            }
            PgSourceError::Server { server, .. } if is_transient_code(&server.code) => {
                ErrorClass::Transient
            }
            _ => ErrorClass::Definite,
        }
    }
}

/// SQLSTATE classes that clear by themselves: connection exceptions (08), insufficient
/// resources (53), operator intervention (57: shutdown, cancel), and serialization failures.
fn is_transient_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "40001"
        || code == "40P01"
}

/// The error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
