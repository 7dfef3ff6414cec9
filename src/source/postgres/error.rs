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

use crate::position::Lsn;
pub use crate::source::ErrorClass;

/// How a slot's fix is phrased in errors that need a new snapshot.
const RELEASE_FIX: &str = "run `tributary release` for this task (it drops the slot and the local checkpoint) and start the task again, with a new snapshot";

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
    #[error("user {user:?} may not read {tables}: grant it with GRANT SELECT ON <table> TO {user} (or GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO {user})")]
    NoSelectPrivilege { user: String, tables: String },
    #[error("no table matches {selector:?} in database {database}: fix objects.tables or create the table")]
    MissingTable { selector: String, database: String },
    #[error("table {table} has no primary key and no REPLICA IDENTITY FULL, so its UPDATE and DELETE would fail once it is published: add a primary key, list it in objects.replica_identity_full (tributary sets REPLICA IDENTITY FULL) or in objects.insert_only, or set objects.replica_identity = \"auto\"")]
    NoKey { table: String },
    /// DDL on a selected table before incremental migration (DTS fails the task the same way).
    #[error("table {table} changed during the {phase} phase ({what}): DDL on a selected table is not supported until the full phase has ended; run `tributary release` for this task (or delete it) and start it again, so that it migrates the new definition")]
    DefinitionChanged {
        table: String,
        phase: &'static str,
        what: &'static str,
    },
    /// DDL on a table while its chunks were read: the retry reads its definition again.
    #[error("table {table} changed (its columns) while its chunked snapshot was read, after key {after}: the chunks read so far are kept; the task retries and reads the rest under the new definition")]
    ChunkDefinitionChanged { table: String, after: String },
    /// `objects.replica_identity = "auto"` could not lock a table in time.
    #[error("setting REPLICA IDENTITY {identity} on table {table} waited objects.replica_identity_lock_timeout ({timeout}) for its lock, held by PID(s) {blockers}: end those sessions' transactions (or run the ALTER TABLE yourself) and start the task again, or raise the timeout")]
    IdentityLockTimeout {
        table: String,
        identity: String,
        timeout: String,
        blockers: String,
    },
    /// A row filter does not fit its table (`objects.table.<t>.filter`).
    #[error("invalid task setting objects.table.filter: table {table}: {reason}")]
    Filter { table: String, reason: String },
    #[error("creating replication slot {slot} waited {waited_secs}s for running transactions to end: {blockers}; end or commit them, or raise source.slot_create_timeout")]
    SlotCreateTimeout {
        slot: String,
        waited_secs: u64,
        blockers: String,
    },
    #[error("replication slot {slot} {how}: the changes since the checkpoint are gone; set source.on_slot_loss = \"resnapshot\" to read every table again automatically, or {RELEASE_FIX}")]
    SlotLost { slot: String, how: String },
    #[error("the checkpoint of replication slot {slot} lies past this server's timeline fork: {why}; the changes delivered after the fork exist only on the old primary, and this server's own at those positions would be skipped; set source.on_slot_loss = \"resnapshot\" to read every table again automatically, or {RELEASE_FIX}")]
    TimelineFork { slot: String, why: String },
    #[error("replication slot {slot} does not match the checkpoint: {what}; streaming on would skip or repeat changes: {RELEASE_FIX}")]
    SlotMismatch { slot: String, what: String },
    #[error("replication slot {slot} is at LSN {slot_lsn}, past the checkpoint's {checkpoint_lsn}: the changes between them were confirmed without being delivered (a restored data directory, a slot advanced by hand, or a promoted standby without slot sync); {RELEASE_FIX}")]
    SlotAhead {
        slot: String,
        slot_lsn: Lsn,
        checkpoint_lsn: Lsn,
    },
    #[error("replication slot {slot} is in use by PID {pid}: stop the process that holds it (a running tributary for this task?) and try again")]
    SlotInUse { slot: String, pid: i32 },
    #[error("table {table}, column {column} at {position}: the row has {cells} values for {columns} columns")]
    MissingCell {
        table: String,
        column: String,
        position: String,
        cells: usize,
        columns: usize,
    },
    #[error("PostgreSQL error while {context}: {server}{}", hint_suffix(.server))]
    Server {
        context: String,
        server: ServerError,
    },
    #[error("PostgreSQL connection failed while {context}: {reason}")]
    Connection { context: String, reason: String },
    #[error("unexpected message from PostgreSQL while {context}: {what}")]
    Protocol { context: String, what: String },
    #[error("could not settle snapshot lane {lane}'s Kafka transactions ({reason}): the shard retries once the brokers answer")]
    LaneUnsettled { lane: usize, reason: String },
    #[error("spilling streamed transaction {xid} under {dir} failed: {reason}: free disk space there (or set TMPDIR to a larger disk)")]
    Spill {
        xid: u32,
        dir: String,
        reason: String,
    },
    #[error("malformed replication message at {lsn}: {reason}")]
    Decode {
        lsn: crate::position::Lsn,
        reason: String,
    },
    #[error("{target} is an Oracle-mode port (IvorySQL or PolarDB-O) and the session could not be switched to the PostgreSQL parser: point source.url at the server's PostgreSQL-mode port {pg_port}")]
    OracleModePort { target: String, pg_port: String },
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

    /// Whether the server could not be reached or the connection broke: connection failures
    /// (SQLSTATE class 08), the server shutting down or starting (57P01-57P03), or no
    /// connection at all.
    pub fn is_connection(&self) -> bool {
        match self {
            PgSourceError::Unreachable { .. } | PgSourceError::Connection { .. } => true,
            PgSourceError::Server { server, .. } => {
                server.code.starts_with("08")
                    || matches!(server.code.as_str(), "57P01" | "57P02" | "57P03")
            }
            _ => false,
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            PgSourceError::Unreachable { .. }
            | PgSourceError::Connection { .. }
            | PgSourceError::Spill { .. }
            | PgSourceError::LaneUnsettled { .. }
            | PgSourceError::ChunkDefinitionChanged { .. } => ErrorClass::Transient,
            PgSourceError::Server { server, .. } if is_transient_code(&server.code) => {
                ErrorClass::Transient
            }
            _ => ErrorClass::Definite,
        }
    }
}

/// SQLSTATE classes that clear by themselves: connection exceptions (08), insufficient
/// resources (53), operator intervention (57: shutdown, cancel), serialization failures, and
/// object in use (55006: "replication slot ... is active for PID n", which a shard moving
/// between workers meets until the old walsender exits).
fn is_transient_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "40001"
        || code == "40P01"
        || code == "55006"
}

impl From<PgSourceError> for crate::task::TaskError {
    fn from(e: PgSourceError) -> Self {
        crate::task::TaskError::from(crate::source::SourceError::from(e))
    }
}

impl From<PgSourceError> for crate::source::SourceError {
    fn from(e: PgSourceError) -> Self {
        use crate::source::SourceError;
        match e {
            PgSourceError::SlotLost { .. } | PgSourceError::TimelineFork { .. } => {
                SourceError::slot_lost(e)
            }
            PgSourceError::SlotMismatch { .. } | PgSourceError::SlotAhead { .. } => {
                SourceError::checkpoint_invalid(e)
            }
            _ if e.is_connection() => SourceError::connection(e),
            _ => SourceError::new(e.class(), e),
        }
    }
}

pub use crate::error::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> PgSourceError {
        PgSourceError::Server {
            context: "starting replication".into(),
            server: ServerError {
                code: code.into(),
                message: "replication slot \"s\" is active for PID 4242".into(),
                detail: None,
                hint: None,
            },
        }
    }

    #[test]
    fn errors_are_classified_by_sqlstate() {
        assert_eq!(server("55006").class(), ErrorClass::Transient);
        assert!(server("55006").to_string().contains("PID 4242"));
        assert_eq!(server("08006").class(), ErrorClass::Transient);
        assert_eq!(server("42P01").class(), ErrorClass::Definite);
        assert!(server("08006").is_connection() && server("57P01").is_connection());
        assert!(!server("55006").is_connection() && !server("53300").is_connection());
        let refused = crate::source::SourceError::from(PgSourceError::Unreachable {
            target: "h:1/db".into(),
            reason: "connection refused".into(),
        });
        assert!(refused.is_connection() && refused.class() == ErrorClass::Transient);
        assert!(!crate::source::SourceError::from(server("55006")).is_connection());
        let ahead = PgSourceError::SlotAhead {
            slot: "s".into(),
            slot_lsn: Lsn(0x200),
            checkpoint_lsn: Lsn(0x100),
        };
        assert_eq!(ahead.class(), ErrorClass::Definite);
        let line = ahead.to_string();
        assert!(
            line.contains("0/200") && line.contains("0/100") && line.contains("tributary release"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
