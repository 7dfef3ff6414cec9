//! Kafka sink configuration: typed options, their defaults and reasons, validation, and the
//! translation into librdkafka properties.
//!
//! Typed options win: a raw `properties` entry that would set the same librdkafka property
//! (under any of its aliases) is refused by `validate`, so one setting cannot be given two
//! ways. Raw properties are applied after the tuning defaults, so they can change those.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::ClientConfig;
use tracing::level_filters::LevelFilter;

use crate::sink::SinkError;

/// Producer acknowledgement level (FORMATS.md "Acknowledgement").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Acks {
    /// Every in-sync replica has the record; idempotent producer on. The only level that
    /// neither loses nor doubles rows on producer retries.
    #[default]
    All,
    /// The partition leader has the record; idempotence off (rows can be lost or doubled).
    One,
    /// Nothing is acknowledged by the broker: librdkafka reports a record delivered once its
    /// produce request is written to the socket, so the watermark, and every checkpoint built
    /// on it, counts records sent, not records stored. A record the broker drops is lost
    /// without the task noticing.
    Zero,
}

impl Acks {
    /// What a task gives up with this level, for the warning logged at start (`None`: nothing).
    pub fn risk(self) -> Option<&'static str> {
        match self {
            Acks::All => None,
            Acks::One => Some(
                "destination.acks = \"1\" turns the idempotent producer off, so rows can be lost \
                 or doubled: a retried send can write a row twice, and a leader that fails before \
                 its followers copy a record loses it after acknowledging it; use acks = \"all\" \
                 to lose and double nothing",
            ),
            Acks::Zero => Some(
                "destination.acks = \"0\" turns the idempotent producer off and the broker \
                 acknowledges nothing: checkpoints record what was sent, not what the broker \
                 stored, so rows can be lost (or doubled) without the task noticing; use \
                 acks = \"all\" to lose and double nothing",
            ),
        }
    }

    /// The librdkafka `acks` value.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::One => "1",
            Acks::Zero => "0",
        }
    }
}

impl FromStr for Acks {
    type Err = SinkError;

    fn from_str(s: &str) -> Result<Self, SinkError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" | "-1" => Ok(Acks::All),
            "1" | "one" => Ok(Acks::One),
            "0" | "zero" => Ok(Acks::Zero),
            other => Err(invalid(
                "acks",
                format!("{other:?} is not one of all, 1, 0"),
            )),
        }
    }
}

/// Where and how the sink produces. Filled by the task configuration loader.
#[derive(Clone)]
pub struct KafkaSinkConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    pub acks: Acks,
    /// `none`, `gzip`, `snappy`, `lz4` (default) or `zstd`.
    pub compression: String,
    /// Create missing topics in `prepare_topics` (else they are a `MissingTopic` error).
    pub create_topics: bool,
    /// Partitions of created topics.
    pub partitions: i32,
    /// Replication factor of created topics (`-1`: the broker's default).
    pub replication_factor: i32,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: Option<String>,
    /// `SCRAM-SHA-256`, `SCRAM-SHA-512` or `PLAIN`.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    /// Never printed by `Debug`.
    pub sasl_password: Option<String>,
    pub ssl_ca_location: Option<String>,
    pub ssl_certificate_location: Option<String>,
    pub ssl_key_location: Option<String>,
    /// Raw librdkafka properties, for what has no typed option.
    pub properties: BTreeMap<String, String>,
    /// Most records accepted by `send` and not yet acknowledged (the backpressure bound).
    pub max_in_flight_records: usize,
    /// Producer `message.max.bytes` (librdkafka's default, 1,000,000, when `None`).
    pub message_max_bytes: Option<usize>,
    /// The runner's byte bound on records in flight and its largest value
    /// (`crate::config::Bounds`): librdkafka's queue is sized to hold what they let through.
    pub bounds: crate::config::Bounds,
    /// How long `flush` waits for the last acknowledgements.
    pub flush_timeout: Duration,
    /// How long a metadata or admin request waits for the brokers.
    pub request_timeout: Duration,
    /// Exactly-once delivery: records and the shard's checkpoint record committed together in
    /// Kafka transactions (`super::txn`); `None`: at least once.
    pub transactions: Option<Transactional>,
}

/// A transactional producer's identity and its checkpoint topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transactional {
    /// `transactional.id`: the same for every producer of one shard lane, whichever worker
    /// runs it, so a new one fences the one before.
    pub id: String,
    /// The compacted topic holding each lane's checkpoint record.
    pub checkpoint_topic: String,
    /// `transaction.timeout.ms`: the coordinator aborts a transaction open longer.
    pub timeout: Duration,
}

impl Transactional {
    /// The checkpoint topic unless a task names another.
    pub const DEFAULT_CHECKPOINT_TOPIC: &'static str = "__tributary_checkpoints";
    /// A minute: far above a commit interval, below brokers' `transaction.max.timeout.ms`
    /// (15 minutes by default).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
}

impl KafkaSinkConfig {
    /// Records in flight by default: a fraction of a second of work at the test broker's
    /// rates, which keeps every partition's batches full without letting a stalled broker pile
    /// up memory. A record in flight costs about 1.5 KB of producer memory for a ~640-byte
    /// Debezium value (librdkafka's copy, its headers, the produce request): 50k records is
    /// ~75 MB. Against tansu on 2 cores, 20k, 50k and 100k gave the same snapshot throughput
    /// (1M rows: 3.4-4.3 s), while 100k let the process peak at 175-215 MB.
    pub const DEFAULT_MAX_IN_FLIGHT_RECORDS: usize = 50_000;
    /// lz4: the cheapest codec in CPU per byte saved; it doubled the broker's intake in the
    /// measurements of TEST-ENV.md (250k → 460k records/s).
    pub const DEFAULT_COMPRESSION: &'static str = "lz4";
    /// A flush waits one minute: longer than librdkafka's retry back-off cycles, shorter than
    /// an operator's patience at shutdown.
    pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
    /// Metadata and admin requests: enough for a broker that is starting, short enough that
    /// a wrong address is reported within seconds.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Producer linger: with `acks=all` a produce round-trip costs about a millisecond on a
    /// LAN, so 5 ms of batching gathers about a thousand records per batch at 200k records/s
    /// (larger batches still form under load, bounded by `BATCH_NUM_MESSAGES`), while adding
    /// latency far below any checkpoint interval. Against tansu on a shared 2-core machine,
    /// 5 ms was on average as fast as or faster than 10 and 20 ms (noisy runs).
    pub const LINGER_MS: u32 = 5;
    /// Records per produce batch (librdkafka caps it at 1,000,000).
    pub const BATCH_NUM_MESSAGES: u32 = 10_000;
    /// Bytes per produce batch: 1 MiB, well above what 10 ms of rows fill, below the broker's
    /// default 1 MiB request limits once compressed.
    pub const BATCH_SIZE: u32 = 1_000_000;

    /// Checks every field; the first problem is returned.
    pub fn validate(&self) -> Result<(), SinkError> {
        self.validate_basics()?;
        self.validate_security()?;
        self.validate_properties()
    }

    fn validate_basics(&self) -> Result<(), SinkError> {
        if self
            .bootstrap_servers
            .split(',')
            .any(|s| s.trim().is_empty())
        {
            return Err(invalid(
                "bootstrap_servers",
                "must list host:port pairs separated by commas",
            ));
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&self.compression.as_str()) {
            return Err(invalid(
                "compression",
                format!(
                    "{:?} is not one of none, gzip, snappy, lz4, zstd",
                    self.compression
                ),
            ));
        }
        if self.partitions < 1 {
            return Err(invalid("partitions", "must be at least 1"));
        }
        if self.replication_factor < 1 && self.replication_factor != -1 {
            return Err(invalid(
                "replication_factor",
                "must be at least 1, or -1 for the broker's default",
            ));
        }
        if self.max_in_flight_records == 0 || self.max_in_flight_records > 10_000_000 {
            return Err(invalid(
                "max_in_flight_records",
                "must be between 1 and 10,000,000",
            ));
        }
        if let Some(bytes) = self.message_max_bytes {
            if !(1000..=1_000_000_000).contains(&bytes) {
                return Err(invalid(
                    "message_max_bytes",
                    "must be between 1000 and 1,000,000,000",
                ));
            }
        }
        if self.flush_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(invalid("flush_timeout", "timeouts must be positive"));
        }
        if self.transactions.is_some() && self.acks != Acks::All {
            return Err(invalid(
                "acks",
                "exactly-once delivery needs acks = \"all\" (transactions need the idempotent producer)",
            ));
        }
        Ok(())
    }

    fn validate_security(&self) -> Result<(), SinkError> {
        let protocol = self
            .security_protocol
            .as_deref()
            .map(str::to_ascii_lowercase);
        let protocol = protocol.as_deref().unwrap_or("plaintext");
        if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(&protocol) {
            return Err(invalid(
                "security_protocol",
                format!("{protocol:?} is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
            ));
        }
        let sasl = protocol.starts_with("sasl_");
        match (&self.sasl_mechanism, sasl) {
            (None, true) => {
                return Err(invalid(
                    "sasl_mechanism",
                    "is required by a sasl_* security_protocol",
                ))
            }
            (Some(_), false) => {
                return Err(invalid(
                    "sasl_mechanism",
                    "needs security_protocol sasl_plaintext or sasl_ssl",
                ))
            }
            (Some(m), true)
                if !["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"].contains(&m.as_str()) =>
            {
                return Err(invalid(
                    "sasl_mechanism",
                    format!("{m:?} is not one of SCRAM-SHA-256, SCRAM-SHA-512, PLAIN"),
                ));
            }
            _ => {}
        }
        if sasl && (self.sasl_username.is_none() || self.sasl_password.is_none()) {
            return Err(invalid(
                "sasl_username",
                "SASL needs both sasl_username and sasl_password",
            ));
        }
        let ssl_files = [
            &self.ssl_ca_location,
            &self.ssl_certificate_location,
            &self.ssl_key_location,
        ];
        if !protocol.ends_with("ssl") && ssl_files.iter().any(|f| f.is_some()) {
            return Err(invalid(
                "ssl_ca_location",
                "ssl_* files need security_protocol ssl or sasl_ssl",
            ));
        }
        Ok(())
    }

    fn validate_properties(&self) -> Result<(), SinkError> {
        for key in self.properties.keys() {
            if let Some(typed) = typed_option_of(key) {
                return Err(invalid(
                    "properties",
                    format!("{key:?} is set by the typed option `{typed}`: set it there only"),
                ));
            }
            if REFUSED_PROPERTIES.contains(&key.as_str()) {
                return Err(invalid(
                    "properties",
                    format!("{key:?} would break delivery tracking"),
                ));
            }
        }
        Ok(())
    }

    /// librdkafka properties shared by the producer and the admin client.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        let optional = [
            ("security.protocol", &self.security_protocol),
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
        // Metadata requests must never create topics as a side effect.
        config.set("allow.auto.create.topics", "false");
        config.set_log_level(librdkafka_log_level());
        config
    }

    /// librdkafka properties of the producer: shared ones, delivery guarantees, tuning, raw.
    pub(crate) fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", (self.acks == Acks::All).to_string())
            .set("acks", self.acks.as_librdkafka())
            .set("compression.codec", &self.compression)
            // Keys land on the partition the Java client (and Debezium) would choose.
            .set("partitioner", "murmur2_random")
            .set("linger.ms", Self::LINGER_MS.to_string())
            .set("batch.num.messages", Self::BATCH_NUM_MESSAGES.to_string())
            .set("batch.size", Self::BATCH_SIZE.to_string())
            // librdkafka's own queue holds at least the sink's in-flight bound, so QueueFull
            // only comes from the byte limit (queue.buffering.max.kbytes).
            .set(
                "queue.buffering.max.messages",
                self.queue_messages().to_string(),
            );
        // The runner lets at most its byte budget plus one record (a value up to the limit,
        // its key and headers) be in flight: librdkafka's queue holds that much, so its own
        // QueueFull never stalls a record the runner's bound lets through.
        config.set(
            "queue.buffering.max.kbytes",
            self.queue_kbytes().to_string(),
        );
        if let Some(bytes) = self.message_max_bytes {
            config.set("message.max.bytes", bytes.to_string());
        }
        if let Some(t) = &self.transactions {
            config
                .set("transactional.id", &t.id)
                .set("transaction.timeout.ms", t.timeout.as_millis().to_string());
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// `queue.buffering.max.kbytes`: the runner's budget and one largest value, plus 1 MiB for
    /// that record's key and headers.
    fn queue_kbytes(&self) -> u64 {
        let bytes = self
            .bounds
            .max_in_flight_bytes
            .saturating_add(self.bounds.max_value_bytes);
        (bytes.div_ceil(1024) + 1024).min(i32::MAX as u64)
    }

    fn queue_messages(&self) -> usize {
        self.max_in_flight_records
            .saturating_add(1000)
            .min(i32::MAX as usize)
    }
}

/// librdkafka's log level from the `tracing` filter (rdkafka would read the `log` crate's,
/// which is off here). Warnings and errors always pass: they name unreachable brokers.
fn librdkafka_log_level() -> RDKafkaLogLevel {
    let current = LevelFilter::current();
    if current >= LevelFilter::DEBUG {
        RDKafkaLogLevel::Debug
    } else if current >= LevelFilter::INFO {
        RDKafkaLogLevel::Info
    } else {
        RDKafkaLogLevel::Warning
    }
}

/// Properties that would stop every acknowledgement from reaching the tracker, or that need a
/// transactional sink this one is not.
const REFUSED_PROPERTIES: &[&str] = &[
    "delivery.report.only.error",
    "transactional.id",
    "dr_cb",
    "dr_msg_cb",
];

/// The typed option that owns a librdkafka property (under any alias), if one does.
fn typed_option_of(key: &str) -> Option<&'static str> {
    Some(match key {
        "bootstrap.servers" | "metadata.broker.list" => "bootstrap_servers",
        "acks" | "request.required.acks" => "acks",
        "enable.idempotence" => "acks",
        "compression.codec" | "compression.type" => "compression",
        "security.protocol" => "security_protocol",
        "sasl.mechanism" | "sasl.mechanisms" => "sasl_mechanism",
        "sasl.username" => "sasl_username",
        "sasl.password" => "sasl_password",
        "ssl.ca.location" => "ssl_ca_location",
        "ssl.certificate.location" => "ssl_certificate_location",
        "ssl.key.location" => "ssl_key_location",
        "message.max.bytes" => "message_max_bytes",
        "queue.buffering.max.messages" => "max_in_flight_records",
        _ => return None,
    })
}

fn invalid(field: &'static str, constraint: impl Into<String>) -> SinkError {
    SinkError::InvalidField {
        field,
        constraint: constraint.into(),
    }
}

impl Default for KafkaSinkConfig {
    fn default() -> Self {
        KafkaSinkConfig {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            acks: Acks::All,
            compression: Self::DEFAULT_COMPRESSION.to_owned(),
            create_topics: true,
            partitions: 1,
            replication_factor: 1,
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            properties: BTreeMap::new(),
            max_in_flight_records: Self::DEFAULT_MAX_IN_FLIGHT_RECORDS,
            message_max_bytes: None,
            bounds: crate::config::Bounds::default(),
            flush_timeout: Self::DEFAULT_FLUSH_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            transactions: None,
        }
    }
}

impl fmt::Debug for KafkaSinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k.contains("password") || k.contains("secret") {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("KafkaSinkConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("acks", &self.acks)
            .field("compression", &self.compression)
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("ssl_certificate_location", &self.ssl_certificate_location)
            .field("ssl_key_location", &self.ssl_key_location)
            .field("properties", &properties)
            .field("max_in_flight_records", &self.max_in_flight_records)
            .field("message_max_bytes", &self.message_max_bytes)
            .field("bounds", &self.bounds)
            .field("flush_timeout", &self.flush_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("transactions", &self.transactions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), SinkError>) -> &'static str {
        match result {
            Err(SinkError::InvalidField { field, .. }) => field,
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn default_is_valid_and_idempotent() {
        let config = KafkaSinkConfig::default();
        config.validate().unwrap();
        let rd = config.producer_config();
        assert_eq!(rd.get("enable.idempotence"), Some("true"));
        assert_eq!(rd.get("acks"), Some("all"));
        assert_eq!(rd.get("partitioner"), Some("murmur2_random"));
        assert_eq!(rd.get("compression.codec"), Some("lz4"));
    }

    #[test]
    fn librdkafka_queue_holds_the_runner_byte_budget_and_one_largest_value() {
        let config = KafkaSinkConfig {
            bounds: crate::config::Bounds {
                max_in_flight_bytes: 8 << 20,
                max_value_bytes: 1_000_000,
            },
            ..Default::default()
        };
        let kbytes: u64 = config
            .producer_config()
            .get("queue.buffering.max.kbytes")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            kbytes * 1024 >= (8 << 20) + 1_000_000 + (1 << 20),
            "{kbytes}"
        );
        assert!(
            kbytes * 1024 <= (8 << 20) + 1_000_000 + (2 << 20),
            "{kbytes}"
        );
    }

    #[test]
    fn acks_one_and_zero_turn_idempotence_off() {
        for acks in [Acks::One, Acks::Zero] {
            let config = KafkaSinkConfig {
                acks,
                ..Default::default()
            };
            assert_eq!(
                config.producer_config().get("enable.idempotence"),
                Some("false")
            );
        }
        assert_eq!("ALL".parse::<Acks>().unwrap(), Acks::All);
        assert_eq!("-1".parse::<Acks>().unwrap(), Acks::All);
        assert_eq!("0".parse::<Acks>().unwrap(), Acks::Zero);
        assert!("2".parse::<Acks>().is_err());
    }

    #[test]
    fn properties_contradicting_typed_options_are_refused() {
        for key in [
            "acks",
            "request.required.acks",
            "enable.idempotence",
            "compression.type",
            "bootstrap.servers",
        ] {
            let mut config = KafkaSinkConfig::default();
            config.properties.insert(key.into(), "x".into());
            assert_eq!(field_of(config.validate()), "properties", "{key}");
        }
        let mut config = KafkaSinkConfig::default();
        config
            .properties
            .insert("delivery.report.only.error".into(), "true".into());
        assert_eq!(field_of(config.validate()), "properties");
        let mut config = KafkaSinkConfig::default();
        config.properties.insert("linger.ms".into(), "50".into());
        config.validate().unwrap();
        assert_eq!(config.producer_config().get("linger.ms"), Some("50"));
    }

    #[test]
    fn field_checks() {
        let cases: Vec<(&str, KafkaSinkConfig)> = vec![
            (
                "bootstrap_servers",
                KafkaSinkConfig {
                    bootstrap_servers: "a:1,".into(),
                    ..Default::default()
                },
            ),
            (
                "compression",
                KafkaSinkConfig {
                    compression: "brotli".into(),
                    ..Default::default()
                },
            ),
            (
                "partitions",
                KafkaSinkConfig {
                    partitions: 0,
                    ..Default::default()
                },
            ),
            (
                "replication_factor",
                KafkaSinkConfig {
                    replication_factor: 0,
                    ..Default::default()
                },
            ),
            (
                "max_in_flight_records",
                KafkaSinkConfig {
                    max_in_flight_records: 0,
                    ..Default::default()
                },
            ),
            (
                "message_max_bytes",
                KafkaSinkConfig {
                    message_max_bytes: Some(10),
                    ..Default::default()
                },
            ),
            (
                "flush_timeout",
                KafkaSinkConfig {
                    flush_timeout: Duration::ZERO,
                    ..Default::default()
                },
            ),
            (
                "security_protocol",
                KafkaSinkConfig {
                    security_protocol: Some("tls".into()),
                    ..Default::default()
                },
            ),
        ];
        for (field, config) in cases {
            assert_eq!(field_of(config.validate()), field);
        }
        assert!(KafkaSinkConfig {
            replication_factor: -1,
            ..Default::default()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn sasl_and_ssl_checks() {
        let sasl = KafkaSinkConfig {
            security_protocol: Some("SASL_SSL".into()),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("u".into()),
            sasl_password: Some("hunter2".into()),
            ssl_ca_location: Some("/ca.pem".into()),
            ..Default::default()
        };
        sasl.validate().unwrap();
        assert_eq!(
            field_of(
                KafkaSinkConfig {
                    sasl_password: None,
                    ..sasl.clone()
                }
                .validate()
            ),
            "sasl_username"
        );
        assert_eq!(
            field_of(
                KafkaSinkConfig {
                    sasl_mechanism: Some("GSSAPI".into()),
                    ..sasl.clone()
                }
                .validate()
            ),
            "sasl_mechanism"
        );
        assert_eq!(
            field_of(
                KafkaSinkConfig {
                    sasl_mechanism: None,
                    ..sasl.clone()
                }
                .validate()
            ),
            "sasl_mechanism"
        );
        let plain = KafkaSinkConfig {
            security_protocol: Some("plaintext".into()),
            ..sasl.clone()
        };
        assert_eq!(field_of(plain.validate()), "sasl_mechanism");
        let ssl_without_tls = KafkaSinkConfig {
            ssl_ca_location: Some("/ca.pem".into()),
            ..Default::default()
        };
        assert_eq!(field_of(ssl_without_tls.validate()), "ssl_ca_location");
    }

    #[test]
    fn debug_never_prints_the_password() {
        let mut config = KafkaSinkConfig {
            sasl_password: Some("hunter2".into()),
            ..Default::default()
        };
        config
            .properties
            .insert("ssl.key.password".into(), "hunter3".into());
        let text = format!("{config:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
        assert!(text.contains("<redacted>"));
    }
}
