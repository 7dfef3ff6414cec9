//! Task configuration: the TOML task file, parsed strictly and validated before anything runs.
//!
//! Unknown keys are refused on admission (a typo must not silently change behaviour). Every
//! default is a named constant with the reason for its value.

mod bounds;
mod health;
mod live;
pub use live::with_added_tables;
mod mapping;
mod oracle;
mod precheck;
mod redact;
mod secret;
mod selection;
mod throttle;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use bounds::{Bounds, DEFAULT_MAX_IN_FLIGHT_BYTES, DTS_MAX_VALUE_BYTES};
pub use health::{parse_size, HeartbeatSpec, SlotSpec};
pub(crate) use mapping::first_duplicate;
pub use mapping::{
    CanalJsonSpec, Capitalisation, DtsAvroSpec, Operation, PartitionPolicy, SchemaOptions,
    SchemaRegistrySpec, SharePlexJsonSpec, TableOptions,
};
pub use oracle::{LogMinerDictionary, OracleConnect, OracleTarget};
pub use precheck::{check_item_names, PrecheckSpec, DEFAULT_LONG_TRANSACTION};
pub use redact::redact_toml;
pub use secret::resolve_password;
pub(crate) use selection::split_exact;
pub use selection::{qualified_name, TableSelection, TableSelector};
pub use throttle::{FullThrottle, IncrementalThrottle, ThrottleRates, ThrottleSpec, BYTES_PER_MB};

/// Snapshot connections: two saturate a 2-core machine's walsender-free COPY; more help on
/// bigger servers, and each holds one backend for the snapshot's duration.
pub const DEFAULT_SNAPSHOT_CONNECTIONS: usize = 2;
/// Other workers reading ranges of a shard's chunk groups, at most (`source.snapshot_lanes`):
/// none unless asked, since every group then waits for the lanes' acknowledgements (measured
/// 0.53 x one worker's speed on two shared cores, BENCHMARKS.md).
pub const DEFAULT_SNAPSHOT_LANES: usize = 0;
/// Slot creation waits for running transactions to end; past this the task reports them.
pub const DEFAULT_SLOT_CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often durable progress is persisted and confirmed: the replay window after a crash.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Standby status updates go out at least this often, well inside PostgreSQL's default
/// 60 s `wal_sender_timeout` (and the 10 s that test and demo servers use).
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(3);
/// Silence on the replication connection after which it is taken as lost: PostgreSQL's own
/// `wal_receiver_timeout` default. Every status update asks the server for a keepalive, so a
/// live server is never silent for long.
pub const DEFAULT_RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// `ALTER TABLE ... REPLICA IDENTITY` needs an ACCESS EXCLUSIVE lock: past this wait behind
/// the application's transactions, the task stops and names who holds the table.
pub const DEFAULT_REPLICA_IDENTITY_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// DTS's default: a source or broker down for up to 12 hours is waited out.
pub const DEFAULT_CONNECTION_WINDOW: Duration = Duration::from_secs(720 * 60);
/// DTS's default for other transient failures.
pub const DEFAULT_OTHER_WINDOW: Duration = Duration::from_secs(10 * 60);
/// DTS's 7-day automatic resume of a task failed by a transient cause.
pub const DEFAULT_AUTO_RESUME_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A whole task file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: String,
    pub source: SourceSpec,
    pub destination: DestinationSpec,
    pub objects: ObjectsSpec,
    #[serde(default)]
    pub migration: MigrationSpec,
    /// Speed limits per phase (`config::throttle`), changeable on a running task.
    #[serde(default)]
    pub throttle: ThrottleSpec,
    /// How the cluster splits the task into shards (each with its own slot and publication).
    #[serde(default)]
    pub sharding: Sharding,
    /// How long failures are retried, and for how long a failed task is resumed automatically.
    #[serde(default)]
    pub retry: RetrySpec,
    /// Free-form labels (owner, team...), changeable on a running task.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Warnings of the precheck the task accepts (`crate::precheck`).
    #[serde(default)]
    pub precheck: PrecheckSpec,
    /// The heartbeat (latency, and an idle database's slot kept moving).
    #[serde(default)]
    pub heartbeat: HeartbeatSpec,
    /// Slot safety: the retained-WAL warning.
    #[serde(default)]
    pub slot: SlotSpec,
    /// Set by the cluster, never read from a task file: the shard's requests to read a table
    /// again (`ctl task resnapshot`), each table with its latest request's number. The
    /// checkpoint records the requests taken (`Checkpoint::rereads`).
    #[serde(skip)]
    pub rereads: std::collections::BTreeMap<String, u64>,
    /// Set by the worker (its node file's `cluster_id`), never read from a task file: the
    /// first part of an exactly-once shard's `transactional.id`.
    #[serde(skip)]
    pub cluster_id: String,
}

/// How a task is split into shards. Every shard has its own replication slot, and PostgreSQL
/// decodes the whole WAL once per slot: more shards spread the work over more workers at the
/// cost of that decoding on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharding {
    /// One shard, one slot: the server decodes the WAL once (the default).
    #[default]
    None,
    /// One shard per schema.
    Schema,
    /// One shard per table.
    Table,
}

/// DTS's retry windows (after a task's first successful start; before it, errors fail it at
/// once).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Transient connection failures are retried with back-off this long.
    #[serde(default = "default_connection_window", with = "humantime_serde")]
    pub connection_window: Duration,
    /// Other transient failures are retried this long (must be smaller).
    #[serde(default = "default_other_window", with = "humantime_serde")]
    pub other_window: Duration,
    /// A task failed by a transient cause is resumed automatically this long after it failed.
    #[serde(default = "default_auto_resume_window", with = "humantime_serde")]
    pub auto_resume_window: Duration,
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            connection_window: DEFAULT_CONNECTION_WINDOW,
            other_window: DEFAULT_OTHER_WINDOW,
            auto_resume_window: DEFAULT_AUTO_RESUME_WINDOW,
        }
    }
}

/// The source database.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub kind: SourceKind,
    /// PostgreSQL: a libpq-style URL (`postgres://user@host:port/db?sslmode=require`).
    #[serde(default)]
    pub url: String,
    /// Reads the password from this file (first line) instead of the URL.
    pub password_file: Option<String>,
    /// Reads the password from this environment variable instead of the URL.
    pub password_env: Option<String>,
    /// CA certificate to verify the server with (`sslmode=verify-ca`/`verify-full` semantics).
    pub ssl_root_cert: Option<String>,
    #[serde(default = "default_snapshot_connections")]
    pub snapshot_connections: usize,
    /// Rows per chunk of a table read in key-range chunks beside the stream.
    #[serde(default = "default_snapshot_chunk_rows")]
    pub snapshot_chunk_rows: usize,
    /// Other workers of the cluster that read one range of each chunk group besides the
    /// shard's own `snapshot_connections` (at most this many; 0: only the shard's owner).
    #[serde(default = "default_snapshot_lanes")]
    pub snapshot_lanes: usize,
    #[serde(default = "default_slot_create_timeout", with = "humantime_serde")]
    pub slot_create_timeout: Duration,
    #[serde(default = "default_status_interval", with = "humantime_serde")]
    pub status_interval: Duration,
    /// No message from the server for this long (not even the keepalive each status update
    /// asks for) and the replication connection is taken as lost: a network partition that
    /// closes nothing ends in a reconnection instead of a wait without end.
    #[serde(default = "default_receive_timeout", with = "humantime_serde")]
    pub receive_timeout: Duration,
    /// What a task does when its slot is gone or invalidated at a resume (a failover to a
    /// standby without a synced copy): `fail` (default: the task fails with that reason) or
    /// `resnapshot` (the task starts again from scratch: a new slot, every table read again).
    #[serde(default)]
    pub on_slot_loss: OnSlotLoss,
    /// Oracle (`config::oracle`): the server (a RAC's SCAN or VIP) and listener port (1521).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Oracle: the service to connect to, or the instance's SID (exactly one).
    pub service_name: Option<String>,
    pub sid: Option<String>,
    /// Oracle: the mining user and its password (or `password_file`/`password_env`).
    pub user: Option<String>,
    pub password: Option<String>,
    /// Oracle: the PDB whose tables are captured, when `service_name` is the CDB's.
    pub pdb: Option<String>,
    /// Oracle: TLS (`tcps`), trusting the CAs of `wallet_location`'s `ewallet.pem`.
    pub tls: Option<bool>,
    pub wallet_location: Option<String>,
    /// Oracle: LogMiner window bounds in SCNs (defaults 1,000 and 100,000).
    pub logminer_window_min: Option<u64>,
    pub logminer_window_max: Option<u64>,
    /// Oracle: bytes of open transactions' rows held in memory before the largest spills
    /// (`"64MiB"` by default; a size as `slot.max_retained_wal` takes).
    pub logminer_memory_budget: Option<String>,
    /// Oracle: where spilled transactions go (default: the system's temporary directory,
    /// `tributary-oracle/<task>-<shard>`); deleted files of a killed run are removed at start.
    pub logminer_spill_dir: Option<String>,
    /// Oracle: where LogMiner takes table definitions from, `"online_catalog"` (default) or
    /// `"redo_logs"` (a dictionary built into the redo, DDL tracked through it).
    pub logminer_dictionary: Option<String>,
    /// Oracle: how old a `CURRENT_SCN` reading must be before a window mines up to it, so
    /// every instance's log writer has written the redo below it (default 5 s; `"0s"` off).
    #[serde(default, with = "humantime_serde")]
    pub logminer_flush_delay: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Postgres,
    /// LogMiner over a self-managed Oracle database (issue 9): configured and validated, not
    /// yet wired into a running source (`TaskSpec::wired_source`).
    Oracle,
}

/// The Kafka destination and the message format.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSpec {
    pub kind: DestinationKind,
    pub bootstrap_servers: String,
    /// One topic for every table; otherwise one topic per table, `<task>.<schema>.<table>`.
    pub topic: Option<String>,
    #[serde(default)]
    pub format: FormatKind,
    /// `all` (default, idempotent), `1` or `0` (both turn idempotence off: rows may be lost or
    /// doubled).
    pub acks: Option<String>,
    pub compression: Option<String>,
    /// Create missing topics (default true) with `partitions` and `replication_factor`.
    pub create_topics: Option<bool>,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    pub security_protocol: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    pub sasl_password_env: Option<String>,
    pub ssl_ca_location: Option<String>,
    pub ssl_certificate_location: Option<String>,
    pub ssl_key_location: Option<String>,
    pub message_max_bytes: Option<usize>,
    pub max_in_flight_records: Option<usize>,
    /// Bytes handed to Kafka and not yet acknowledged past which the task waits (`"64MiB"` by
    /// default; `config::bounds`).
    #[serde(
        default,
        deserialize_with = "bounds::de_size_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_in_flight_bytes: Option<u64>,
    /// The largest value a record may have (DTS's 256 MiB, capped by `message_max_bytes`).
    #[serde(
        default,
        deserialize_with = "bounds::de_size_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_value_bytes: Option<u64>,
    /// Raw librdkafka producer properties, passed through.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub debezium: DebeziumSpec,
    /// How records are spread over partitions: `partition_zero`, `hash_table` or `hash_key`
    /// (default: `partition_zero` for the DTS formats, Java's murmur2 of the key for
    /// `debezium_json`).
    pub partition_policy: Option<PartitionPolicy>,
    /// Where DDL messages go (default: the data topic when `topic` is set, else `<task>`).
    pub ddl_topic: Option<String>,
    /// `keep` (default), `lower` or `upper`: the case of names in messages and topics.
    #[serde(default)]
    pub capitalisation: Capitalisation,
    pub schema_registry: Option<SchemaRegistrySpec>,
    #[serde(default)]
    pub dts_avro: DtsAvroSpec,
    #[serde(default)]
    pub canal_json: CanalJsonSpec,
    #[serde(default)]
    pub shareplex_json: SharePlexJsonSpec,
    /// `at_least_once` (the default) or `exactly_once`: Kafka transactions, each holding a batch
    /// of records and the shard's checkpoint record (`crate::sink::kafka::txn`).
    #[serde(default)]
    pub delivery: Delivery,
    /// Exactly-once: a Kafka transaction commits at the first source-transaction boundary
    /// after it has been open this long (default 1 s)...
    #[serde(default, with = "humantime_serde::option")]
    pub transaction_interval: Option<std::time::Duration>,
    /// ...or holds this many records (default 1,000,000).
    pub transaction_records: Option<u64>,
}

/// What a task does about a lost slot (`source.on_slot_loss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSlotLoss {
    #[default]
    Fail,
    /// A new slot and a new snapshot of every table: consumers see every row again.
    Resnapshot,
}

/// How records reach Kafka (`destination.delivery`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Idempotent producer; after a failure, records since the last checkpoint are sent again.
    #[default]
    AtLeastOnce,
    /// Transactions: `read_committed` consumers see each record once.
    ExactlyOnce,
}

/// Exactly-once's default `destination.transaction_interval`.
pub const DEFAULT_TRANSACTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Exactly-once's default `destination.transaction_records`.
pub const DEFAULT_TRANSACTION_RECORDS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    Kafka,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    #[default]
    DebeziumJson,
    CanalJson,
    DtsAvro,
    #[serde(rename = "shareplex_json")]
    SharePlexJson,
}

impl FormatKind {
    /// The DTS formats (Canal JSON, DTS Avro, SharePlex JSON) share DTS's defaults.
    pub fn is_dts(self) -> bool {
        !matches!(self, FormatKind::DebeziumJson)
    }
}

/// Debezium format options, named as Debezium names them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DebeziumSpec {
    pub schemas_enable: Option<bool>,
    pub tombstones_on_delete: Option<bool>,
    /// `precise` (default), `double` or `string`.
    pub decimal_handling_mode: Option<String>,
    /// `numeric` (default) or `string`.
    pub interval_handling_mode: Option<String>,
    /// `json` (default) or `map`.
    pub hstore_handling_mode: Option<String>,
    pub unavailable_value_placeholder: Option<String>,
}

/// Which tables the task moves.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsSpec {
    /// `schema.table`, or a glob over stored names; `schema.*` is the whole schema, tables
    /// created later included.
    pub tables: Vec<String>,
    /// Tables without a primary key for which the task sets `REPLICA IDENTITY FULL`.
    #[serde(default)]
    pub replica_identity_full: Vec<String>,
    /// Tables for which only inserts are published (no key needed).
    #[serde(default)]
    pub insert_only: Vec<String>,
    /// `keep` (default): tributary changes no replica identity beyond `replica_identity_full`;
    /// `auto`: it sets the identity each table needs, as DTS does (`identity_plan`).
    #[serde(default)]
    pub replica_identity: ReplicaIdentityMode,
    /// How long each `ALTER TABLE ... REPLICA IDENTITY` under `auto` waits for its lock.
    #[serde(
        default = "default_replica_identity_lock_timeout",
        with = "humantime_serde"
    )]
    pub replica_identity_lock_timeout: Duration,
    /// Per-table settings by exact `schema.table`: topic, partitions, key columns, filter,
    /// operations and name mapping.
    #[serde(default)]
    pub table: std::collections::BTreeMap<String, TableOptions>,
    /// Per-schema settings by schema name: name mapping.
    #[serde(default)]
    pub schema: std::collections::BTreeMap<String, SchemaOptions>,
}

/// `objects.replica_identity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaIdentityMode {
    /// Change nothing (besides `objects.replica_identity_full`).
    #[default]
    Keep,
    /// `USING INDEX` for a table with only a unique NOT NULL index, FULL for a keyless table
    /// and wherever full before images are needed; restored when the task is deleted.
    Auto,
}

/// The migration phases.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSpec {
    #[serde(default = "default_phases")]
    pub phases: Vec<Phase>,
    #[serde(default = "default_checkpoint_interval", with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Alias of `throttle.full.rows_per_second`.
    pub snapshot_rows_per_second: Option<i64>,
    /// Alias of `throttle.incremental.rows_per_second`.
    pub stream_events_per_second: Option<i64>,
}

impl Default for MigrationSpec {
    fn default() -> Self {
        MigrationSpec {
            phases: default_phases(),
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            snapshot_rows_per_second: None,
            stream_events_per_second: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Schema,
    Full,
    Incremental,
}

fn default_phases() -> Vec<Phase> {
    vec![Phase::Full, Phase::Incremental]
}
const fn default_snapshot_chunk_rows() -> usize {
    crate::source::postgres::chunk::DEFAULT_CHUNK_ROWS
}

const fn default_snapshot_connections() -> usize {
    DEFAULT_SNAPSHOT_CONNECTIONS
}
const fn default_snapshot_lanes() -> usize {
    DEFAULT_SNAPSHOT_LANES
}
const fn default_slot_create_timeout() -> Duration {
    DEFAULT_SLOT_CREATE_TIMEOUT
}
const fn default_status_interval() -> Duration {
    DEFAULT_STATUS_INTERVAL
}
const fn default_receive_timeout() -> Duration {
    DEFAULT_RECEIVE_TIMEOUT
}
const fn default_replica_identity_lock_timeout() -> Duration {
    DEFAULT_REPLICA_IDENTITY_LOCK_TIMEOUT
}
const fn default_checkpoint_interval() -> Duration {
    DEFAULT_CHECKPOINT_INTERVAL
}
const fn default_connection_window() -> Duration {
    DEFAULT_CONNECTION_WINDOW
}
const fn default_other_window() -> Duration {
    DEFAULT_OTHER_WINDOW
}
const fn default_auto_resume_window() -> Duration {
    DEFAULT_AUTO_RESUME_WINDOW
}

/// A task file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read task file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("task file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("invalid task setting {field}: {constraint}")]
    Invalid {
        field: &'static str,
        constraint: String,
    },
    #[error("{field} cannot change on a running task: delete the task and create it again to change it (only throttle.*, migration.snapshot_rows_per_second, migration.stream_events_per_second, retry.*, precheck.* and labels can change live; tables are added with `tributary ctl task add-tables`)")]
    Frozen { field: String },
}

impl TaskSpec {
    /// Reads, parses and validates a task file.
    pub fn load(path: &Path) -> Result<TaskSpec, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: p, message },
            other => other,
        })
    }

    /// Parses and validates a task from TOML text.
    pub fn parse(text: &str) -> Result<TaskSpec, ConfigError> {
        let spec: TaskSpec = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: String::new(),
            message: e.message().replace('\n', " ").trim().to_owned() + &span_hint(text, e.span()),
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Rejects settings that cannot work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, constraint: &str| {
            Err(ConfigError::Invalid {
                field,
                constraint: constraint.to_owned(),
            })
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return invalid(
                "name",
                "use letters, digits, '_' or '-' (it names the slot, publication and topics)",
            );
        }
        if self.objects.tables.is_empty() {
            return invalid(
                "objects.tables",
                "select at least one table, e.g. [\"public.orders\"] or [\"public.*\"]",
            );
        }
        for t in self
            .objects
            .tables
            .iter()
            .chain(&self.objects.replica_identity_full)
            .chain(&self.objects.insert_only)
        {
            TableSelector::parse(t).map_err(|constraint| ConfigError::Invalid {
                field: "objects.tables",
                constraint,
            })?;
        }
        let phases = &self.migration.phases;
        if phases.is_empty() {
            return invalid(
                "migration.phases",
                "name \"schema\", \"full\", \"incremental\" or several",
            );
        }
        if self.source.snapshot_connections == 0 || self.source.snapshot_connections > 64 {
            return invalid("source.snapshot_connections", "between 1 and 64");
        }
        if self.source.snapshot_lanes > 64 {
            return invalid("source.snapshot_lanes", "between 0 and 64");
        }
        if !(1..=1_000_000).contains(&self.source.snapshot_chunk_rows) {
            return invalid("source.snapshot_chunk_rows", "between 1 and 1000000");
        }
        for (field, d) in [
            (
                "migration.checkpoint_interval",
                self.migration.checkpoint_interval,
            ),
            ("source.status_interval", self.source.status_interval),
            ("source.receive_timeout", self.source.receive_timeout),
            (
                "objects.replica_identity_lock_timeout",
                self.objects.replica_identity_lock_timeout,
            ),
            (
                "source.slot_create_timeout",
                self.source.slot_create_timeout,
            ),
        ] {
            if d.is_zero() {
                return invalid(field, "must be longer than 0, e.g. \"1s\"");
            }
        }
        if self.source.receive_timeout <= self.source.status_interval * 2 {
            return invalid(
                "source.receive_timeout",
                "must be longer than two source.status_interval (each status update asks the server for an answer), e.g. \"60s\"",
            );
        }
        let r = &self.retry;
        if r.other_window.is_zero() || r.connection_window.is_zero() {
            return invalid("retry", "retry windows must be longer than 0, e.g. \"10m\"");
        }
        if r.other_window >= r.connection_window {
            return invalid(
                "retry.other_window",
                "must be smaller than retry.connection_window (defaults 10m and 720m)",
            );
        }
        if self.source.password_file.is_some() && self.source.password_env.is_some() {
            return invalid(
                "source.password_file",
                "give password_file or password_env, not both",
            );
        }
        if self.destination.bootstrap_servers.trim().is_empty() {
            return invalid(
                "destination.bootstrap_servers",
                "name at least one broker, e.g. \"127.0.0.1:9092\"",
            );
        }
        self.throttle.validate(&self.migration)?;
        mapping::validate_objects(&self.objects.table, &self.objects.schema)?;
        self.validate_destination()?;
        self.precheck.validate()?;
        match self.source.kind {
            SourceKind::Postgres => {
                if let Some(field) = oracle::first_oracle_setting(&self.source) {
                    return invalid(
                        field,
                        "only an Oracle source (kind = \"oracle\") takes it: a PostgreSQL source is named by url (password in url, password_file or password_env)",
                    );
                }
                if self.source.url.is_empty()
                    || self.source.url.parse::<tokio_postgres::Config>().is_err()
                {
                    return invalid(
                        "source.url",
                        "a PostgreSQL URL such as postgres://user@127.0.0.1:5432/db",
                    );
                }
            }
            SourceKind::Oracle => oracle::validate(&self.source)?,
        }
        Ok(())
    }

    /// Refuses a source kind this build cannot run (Oracle without the cargo feature `oracle`,
    /// which brings its thin client), before anything connects.
    pub fn wired_source(&self) -> Result<(), ConfigError> {
        match self.source.kind {
            SourceKind::Postgres => Ok(()),
            SourceKind::Oracle if cfg!(feature = "oracle") => Ok(()),
            SourceKind::Oracle => Err(ConfigError::Invalid {
                field: "source.kind",
                constraint: "this build of tributary has no Oracle client: build it with `cargo build --release --features oracle` (README, \"Oracle source\")".into(),
            }),
        }
    }

    fn validate_destination(&self) -> Result<(), ConfigError> {
        let d = &self.destination;
        let invalid = |field, constraint: &str| {
            Err(ConfigError::Invalid {
                field,
                constraint: constraint.to_owned(),
            })
        };
        if d.partitions.is_some_and(|p| p < 1) {
            return invalid("destination.partitions", "a topic has at least 1 partition");
        }
        validate_producer(d)?;
        bounds::validate_bounds(d)?;
        self.validate_delivery()?;
        if d.ddl_topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return invalid(
                "destination.ddl_topic",
                "the topic is empty: name one or leave it out",
            );
        }
        if d.schema_registry.is_some() && d.format != FormatKind::DtsAvro {
            return invalid(
                "destination.schema_registry",
                "only format = \"dts_avro\" uses a schema registry: remove the section or change the format",
            );
        }
        if let Some(r) = &d.schema_registry {
            if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
                return invalid(
                    "destination.schema_registry.url",
                    "an http:// or https:// URL, e.g. \"http://127.0.0.1:8081\"",
                );
            }
            if r.password_file.is_some() && r.password_env.is_some() {
                return invalid(
                    "destination.schema_registry.password_file",
                    "give password_file or password_env, not both",
                );
            }
        }
        let one_of = |field, v: &Option<String>, allowed: &[&str]| match v {
            Some(x) if !allowed.contains(&x.as_str()) => {
                Err(ConfigError::not_one_of(field, x, &allowed.join(" or ")))
            }
            _ => Ok(()),
        };
        one_of(
            "destination.dts_avro.object_name",
            &d.dts_avro.object_name,
            &["schema_table", "database_schema_table"],
        )?;
        one_of(
            "destination.dts_avro.source_type",
            &d.dts_avro.source_type,
            &["PostgreSQL", "PPAS"],
        )?;
        one_of(
            "destination.canal_json.database",
            &d.canal_json.database,
            &["schema", "database"],
        )?;
        if d.shareplex_json.memory_budget_bytes == Some(0) {
            return invalid(
                "destination.shareplex_json.memory_budget_bytes",
                "must be more than 0, e.g. 67108864 (64 MiB)",
            );
        }
        Ok(())
    }

    /// The partition policy in force: the task's, else the format's default (FORMATS.md).
    /// `None` means Java's murmur2 of the key (Debezium's default).
    pub fn partition_policy(&self) -> Option<PartitionPolicy> {
        let d = &self.destination;
        d.partition_policy
            .or(d.format.is_dts().then_some(PartitionPolicy::PartitionZero))
    }

    pub fn has_phase(&self, phase: Phase) -> bool {
        self.migration.phases.contains(&phase)
    }

    /// The object selection as recorded in a checkpoint at the first start: a later start
    /// with another selection is refused unless it only adds to `objects.tables`.
    pub fn selection_record(&self) -> Vec<String> {
        let o = &self.objects;
        let tagged = |tag: &str, v: &[String]| {
            v.iter()
                .map(|t| format!("{tag}={t}"))
                .collect::<Vec<String>>()
        };
        let mut all = tagged("tables", &o.tables);
        all.extend(tagged("replica_identity_full", &o.replica_identity_full));
        all.extend(tagged("insert_only", &o.insert_only));
        all
    }
}

impl TaskSpec {
    /// Exactly-once needs `acks = "all"` (transactions need the idempotent producer), and is
    /// not offered with snapshot lanes yet (each lane would need its own transactional id).
    fn validate_delivery(&self) -> Result<(), ConfigError> {
        let d = &self.destination;
        let invalid = |field, constraint: &str| {
            Err(ConfigError::Invalid {
                field,
                constraint: constraint.to_owned(),
            })
        };
        if d.delivery != Delivery::ExactlyOnce {
            if d.transaction_interval.is_some() || d.transaction_records.is_some() {
                return invalid(
                    "destination.transaction_interval",
                    "only destination.delivery = \"exactly_once\" uses transactions: remove the transaction settings or set delivery",
                );
            }
            return Ok(());
        }
        if !matches!(d.acks.as_deref(), None | Some("all") | Some("-1")) {
            return invalid(
                "destination.delivery",
                "exactly_once needs acks = \"all\" (transactions need the idempotent producer): remove destination.acks or set it to \"all\"",
            );
        }
        if d.transaction_interval.is_some_and(|i| i.is_zero()) {
            return invalid(
                "destination.transaction_interval",
                "must be more than 0, e.g. \"100ms\"",
            );
        }
        if d.transaction_records == Some(0) {
            return invalid(
                "destination.transaction_records",
                "must be more than 0, e.g. 10000",
            );
        }
        Ok(())
    }
}

/// The producer settings whose values the Kafka sink would refuse, refused when the task is
/// created (`tributary run` and `ctl create`) rather than when a worker builds its sink.
fn validate_producer(d: &DestinationSpec) -> Result<(), ConfigError> {
    if let Some(a) = d.acks.as_deref().filter(|a| !ACKS.contains(a)) {
        return Err(ConfigError::not_one_of(
            "destination.acks",
            a,
            "\"all\" (the default: idempotent, loses and doubles nothing), \"1\" or \"0\"",
        ));
    }
    if let Some(c) = d
        .compression
        .as_deref()
        .filter(|c| !COMPRESSION.contains(c))
    {
        return Err(ConfigError::not_one_of(
            "destination.compression",
            c,
            "lz4 (the default), gzip, snappy, zstd or none",
        ));
    }
    Ok(())
}

/// `destination.acks` values (`-1` is librdkafka's spelling of `all`).
pub const ACKS: [&str; 4] = ["all", "-1", "1", "0"];
/// `destination.compression` values: the codecs the bundled librdkafka is built with.
pub const COMPRESSION: [&str; 5] = ["lz4", "gzip", "snappy", "zstd", "none"];

impl ConfigError {
    /// `got` is not one of the `allowed` values of `field`.
    pub fn not_one_of(field: &'static str, got: &str, allowed: &str) -> ConfigError {
        ConfigError::Invalid {
            field,
            constraint: format!("{got:?} is not one of {allowed}"),
        }
    }
}

/// " (line N)" for a parse error's position.
fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| {
        format!(
            " (line {})",
            text[..s.start.min(text.len())].lines().count().max(1)
        )
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_once_needs_acks_all_and_owns_its_transaction_settings() {
        let with = |lines: &str| {
            TaskSpec::parse(&GOOD.replace(
                "topic = \"shop\"\n",
                &format!("topic = \"shop\"\n{lines}\n"),
            ))
        };
        with("delivery = \"exactly_once\"\ntransaction_interval = \"2s\"").unwrap();
        let e = with("delivery = \"exactly_once\"\nacks = \"1\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly_once needs acks"), "{e}");
        let e = with("transaction_records = 5").unwrap_err().to_string();
        assert!(e.contains("only destination.delivery"), "{e}");
        let e = with("delivery = \"exactly_once\"\ntransaction_records = 0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("transaction_records"), "{e}");
        let lanes = GOOD.replace("[destination]", "snapshot_lanes = 2\n[destination]");
        let lanes = lanes.replace(
            "topic = \"shop\"\n",
            "topic = \"shop\"\ndelivery = \"exactly_once\"\n",
        );
        TaskSpec::parse(&lanes).expect("lanes commit their ranges in transactions of their own");
    }

    const GOOD: &str = r#"
name = "shop"
[source]
kind = "postgres"
url = "postgres://user@127.0.0.1:5432/shop"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:9092"
topic = "shop"
format = "debezium_json"
[objects]
tables = ["public.orders", "inventory.*"]
[migration]
phases = ["full", "incremental"]
"#;

    #[test]
    fn the_documented_example_parses() {
        let t = TaskSpec::parse(GOOD).unwrap();
        assert_eq!(t.name, "shop");
        assert_eq!(t.destination.topic.as_deref(), Some("shop"));
        assert!(t.has_phase(Phase::Full) && t.has_phase(Phase::Incremental));
        assert_eq!(t.source.snapshot_connections, DEFAULT_SNAPSHOT_CONNECTIONS);
        assert_eq!(t.source.snapshot_lanes, 0, "lanes only when asked");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_field_named() {
        let typo = GOOD.replace("topic = \"shop\"", "topik = \"shop\"");
        let e = TaskSpec::parse(&typo).unwrap_err().to_string();
        assert!(e.contains("topik"), "{e}");
        let bad = GOOD.replace("name = \"shop\"", "name = \"sh op\"");
        assert!(TaskSpec::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("name"));
        let none = GOOD.replace("[\"public.orders\", \"inventory.*\"]", "[]");
        assert!(TaskSpec::parse(&none)
            .unwrap_err()
            .to_string()
            .contains("objects.tables"));
        let zero = GOOD.replace("[migration]", "[migration]\ncheckpoint_interval = \"0s\"");
        let e = TaskSpec::parse(&zero).unwrap_err().to_string();
        assert!(e.contains("migration.checkpoint_interval"), "{e}");
        let zero = GOOD.replace("[destination]", "status_interval = \"0ms\"\n[destination]");
        let e = TaskSpec::parse(&zero).unwrap_err().to_string();
        assert!(e.contains("source.status_interval"), "{e}");
        let silent = GOOD.replace(
            "[destination]",
            "status_interval = \"5s\"\nreceive_timeout = \"10s\"\n[destination]",
        );
        let e = TaskSpec::parse(&silent).unwrap_err().to_string();
        assert!(
            e.contains("source.receive_timeout") && e.contains("two source.status_interval"),
            "{e}"
        );
        let ok = GOOD.replace("[destination]", "receive_timeout = \"7s\"\n[destination]");
        let spec = TaskSpec::parse(&ok).unwrap();
        assert_eq!(spec.source.receive_timeout, Duration::from_secs(7));
        assert_eq!(
            TaskSpec::parse(GOOD).unwrap().source.receive_timeout,
            DEFAULT_RECEIVE_TIMEOUT
        );
        let lanes = GOOD.replace("[destination]", "snapshot_lanes = 65\n[destination]");
        let e = TaskSpec::parse(&lanes).unwrap_err().to_string();
        assert!(
            e.contains("source.snapshot_lanes") && e.contains("0 and 64"),
            "{e}"
        );
        let phase = GOOD.replace("\"full\", \"incremental\"", "\"fast\"");
        assert!(TaskSpec::parse(&phase).is_err());
        assert!(TaskSpec::parse("name = ")
            .unwrap_err()
            .to_string()
            .contains("line"));
    }

    #[test]
    fn a_schema_only_task_and_the_replica_identity_mode_parse() {
        let t = TaskSpec::parse(&GOOD.replace("\"full\", \"incremental\"", "\"schema\"")).unwrap();
        assert!(t.has_phase(Phase::Schema) && !t.has_phase(Phase::Full));
        assert_eq!(t.objects.replica_identity, ReplicaIdentityMode::Keep);
        let auto = GOOD.replace(
            "[migration]",
            "replica_identity = \"auto\"\nreplica_identity_lock_timeout = \"2s\"\n[migration]",
        );
        let t = TaskSpec::parse(&auto).unwrap();
        assert_eq!(t.objects.replica_identity, ReplicaIdentityMode::Auto);
        assert_eq!(
            t.objects.replica_identity_lock_timeout,
            Duration::from_secs(2)
        );
        let e = TaskSpec::parse(
            &GOOD.replace("[migration]", "replica_identity = \"always\"\n[migration]"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("always") && e.contains("auto"), "{e}");
        let e = TaskSpec::parse(&GOOD.replace("\"full\", \"incremental\"", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("migration.phases"), "{e}");
    }

    #[test]
    fn producer_settings_are_checked_when_the_task_is_read() {
        let with = |line: &str| {
            TaskSpec::parse(&GOOD.replace("format = ", &format!("{line}\nformat = ")))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        for ok in ACKS.iter().map(|a| format!("acks = \"{a}\"")) {
            with(&ok).unwrap();
        }
        for ok in COMPRESSION.iter().map(|c| format!("compression = \"{c}\"")) {
            with(&ok).unwrap();
        }
        let e = with("acks = \"2\"").unwrap_err();
        assert!(
            e.contains("destination.acks") && e.contains("\"2\" is not one of \"all\""),
            "{e}"
        );
        let e = with("compression = \"brotli\"").unwrap_err();
        assert!(
            e.contains("destination.compression")
                && e.contains(
                    "\"brotli\" is not one of lz4 (the default), gzip, snappy, zstd or none"
                ),
            "{e}"
        );
        let e = with("partitions = 0").unwrap_err();
        assert!(e.contains("destination.partitions"), "{e}");
    }
}
