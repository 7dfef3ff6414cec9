//! Turns librdkafka errors into [`SinkError`]s, classified by error code (never by message
//! text), at the three places where the cause is known: a local refusal in `send`, a failed
//! delivery report, and a failed metadata or admin request.
//!
//! A delivery report only carries an error after librdkafka's own retries are exhausted (the
//! idempotent producer retries retriable errors until `message.timeout.ms`), so "retriable"
//! here means "a restart of the task from its checkpoint may succeed", not "retry this send".

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};

use super::producer::Refusal;
use crate::sink::{Record, SinkError};

/// Table name used for errors raised in the delivery callback, which only has the message.
pub(crate) const UNKNOWN_TABLE: &str = "(see topic)";

/// Longest key text quoted in an error message.
const MAX_KEY_TEXT: usize = 200;

/// What an error code means for the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// The record itself is too large: the task cannot pass it without operator action.
    TooLarge,
    /// The cluster may recover (broker down, leader election, timeouts).
    Retriable,
    /// Authorization, invalid request, producer fencing, and everything unknown.
    Fatal,
}

/// Classifies an error code. Unknown codes are fatal: an operator looks before data moves on.
pub(crate) fn classify(code: RDKafkaErrorCode) -> ErrorClass {
    use RDKafkaErrorCode as C;
    match code {
        C::MessageSizeTooLarge | C::InvalidMessageSize => ErrorClass::TooLarge,
        C::MessageTimedOut
        | C::BrokerTransportFailure
        | C::AllBrokersDown
        | C::Resolve
        | C::OperationTimedOut
        | C::TimedOutQueue
        | C::QueueFull
        | C::ISRInsufficient
        | C::Retry
        | C::PurgeQueue
        | C::PurgeInflight
        | C::RequestTimedOut
        | C::NetworkException
        | C::LeaderNotAvailable
        | C::NotLeaderForPartition
        | C::BrokerNotAvailable
        | C::ReplicaNotAvailable
        | C::NotEnoughReplicas
        | C::NotEnoughReplicasAfterAppend
        | C::UnknownTopicOrPartition
        | C::KafkaStorageError
        | C::FencedLeaderEpoch
        | C::UnknownLeaderEpoch
        | C::ThrottlingQuotaExceeded
        | C::CoordinatorLoadInProgress
        | C::CoordinatorNotAvailable
        | C::NotCoordinator
        | C::NotController => ErrorClass::Retriable,
        _ => ErrorClass::Fatal,
    }
}

/// Codes that mean the brokers could not be reached (as opposed to a broker refusing).
pub(crate) fn is_connection_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageTimedOut
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::OperationTimedOut
            | C::RequestTimedOut
            | C::NetworkException
            | C::BrokerNotAvailable
    )
}

/// The librdkafka error code inside a client error, if it has one.
pub(crate) fn code_of(err: &KafkaError) -> Option<RDKafkaErrorCode> {
    err.rdkafka_error_code()
}

/// Key bytes as text for an error message (lossy UTF-8, shortened).
pub(crate) fn key_text(key: Option<&[u8]>) -> String {
    let Some(key) = key else {
        return "null".to_owned();
    };
    let text = String::from_utf8_lossy(key);
    match text.char_indices().nth(MAX_KEY_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// An error for a record librdkafka refused to queue (other than `QueueFull`).
pub(crate) fn send_error(err: KafkaError, record: &Record<'_>) -> SinkError {
    let size = record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len);
    classified(err, record.topic, record.table, record.key, size)
}

/// An error from a failed delivery report.
pub(crate) fn delivery_error(err: &KafkaError, message: &BorrowedMessage<'_>) -> SinkError {
    let size = message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len);
    classified(
        err.clone(),
        message.topic(),
        UNKNOWN_TABLE,
        message.key(),
        size,
    )
}

fn classified(
    err: KafkaError,
    topic: &str,
    table: &str,
    key: Option<&[u8]>,
    size: usize,
) -> SinkError {
    let code = code_of(&err);
    let class = code.map_or(ErrorClass::Fatal, classify);
    match class {
        ErrorClass::TooLarge => SinkError::RecordTooLarge {
            topic: topic.to_owned(),
            table: table.to_owned(),
            key: key_text(key),
            size,
        },
        ErrorClass::Retriable | ErrorClass::Fatal => SinkError::Delivery {
            topic: topic.to_owned(),
            table: table.to_owned(),
            reason: err.to_string(),
            retriable: class == ErrorClass::Retriable,
            connection: code.is_some_and(is_connection_code),
        },
    }
}

/// An error from a metadata request: brokers that refused the login or the TLS handshake
/// (`refusal`, as the client's error callback saw it) and unreachable brokers are named, the
/// rest is kept as is.
pub(crate) fn metadata_error(
    err: KafkaError,
    servers: &str,
    refusal: Option<Refusal>,
) -> SinkError {
    match (code_of(&err).map(classify), refusal) {
        (Some(ErrorClass::Retriable), Some(r)) => SinkError::Refused {
            servers: servers.to_owned(),
            reason: r.reason,
            fix: if r.code == RDKafkaErrorCode::SSL {
                "check destination.ssl_ca_location (the CA that signed the brokers' certificates) and security_protocol"
            } else {
                "check destination.sasl_mechanism, sasl_username and the password (sasl_password or sasl_password_env)"
            },
        },
        (Some(ErrorClass::Retriable), None) => SinkError::Unreachable {
            servers: servers.to_owned(),
        },
        _ => SinkError::Client(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use RDKafkaErrorCode as C;
        let table = [
            (C::MessageSizeTooLarge, ErrorClass::TooLarge),
            (C::InvalidMessageSize, ErrorClass::TooLarge),
            (C::MessageTimedOut, ErrorClass::Retriable),
            (C::BrokerTransportFailure, ErrorClass::Retriable),
            (C::AllBrokersDown, ErrorClass::Retriable),
            (C::NotEnoughReplicas, ErrorClass::Retriable),
            (C::NotEnoughReplicasAfterAppend, ErrorClass::Retriable),
            (C::LeaderNotAvailable, ErrorClass::Retriable),
            (C::NotLeaderForPartition, ErrorClass::Retriable),
            (C::RequestTimedOut, ErrorClass::Retriable),
            (C::QueueFull, ErrorClass::Retriable),
            (C::TopicAuthorizationFailed, ErrorClass::Fatal),
            (C::ClusterAuthorizationFailed, ErrorClass::Fatal),
            (C::InvalidRecord, ErrorClass::Fatal),
            (C::OutOfOrderSequenceNumber, ErrorClass::Fatal),
            (C::InvalidProducerEpoch, ErrorClass::Fatal),
            (C::UnknownTopic, ErrorClass::Fatal),
            (C::Fatal, ErrorClass::Fatal),
            (C::Unknown, ErrorClass::Fatal),
        ];
        for (code, class) in table {
            assert_eq!(classify(code), class, "{code:?}");
        }
    }

    fn record<'a>(key: &'a [u8], value: &'a [u8]) -> Record<'a> {
        Record {
            topic: "t",
            partition: None,
            key: Some(key),
            value: Some(value),
            position: "0/1:0",
            tx: "1",
            table: "public.orders",
            extra_headers: &[],
        }
    }

    #[test]
    fn too_large_names_topic_table_key_and_size() {
        let err = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        let e = send_error(err, &record(br#"{"id":"42"}"#, &[0; 100]));
        let SinkError::RecordTooLarge {
            topic,
            table,
            key,
            size,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            (topic.as_str(), table.as_str(), key.as_str()),
            ("t", "public.orders", r#"{"id":"42"}"#)
        );
        assert_eq!(*size, 111);
        assert!(!e.is_transient());
        assert_eq!(e.kind(), "record_too_large");
    }

    #[test]
    fn retriable_and_fatal_delivery_errors() {
        let transient = send_error(
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            &record(b"k", b"v"),
        );
        assert!(transient.is_transient());
        let fatal = send_error(
            KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed),
            &record(b"k", b"v"),
        );
        assert!(!fatal.is_transient());
        assert_eq!(fatal.kind(), "delivery_fatal");
    }

    #[test]
    fn metadata_timeout_is_unreachable_or_refused() {
        let timeout = || KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        let e = metadata_error(timeout(), "h:1", None);
        assert!(matches!(&e, SinkError::Unreachable { servers } if servers == "h:1"));
        let e = metadata_error(
            KafkaError::MetadataFetch(RDKafkaErrorCode::Authentication),
            "h:1",
            None,
        );
        assert!(matches!(e, SinkError::Client(_)));
        let login = Refusal {
            code: RDKafkaErrorCode::Authentication,
            reason: "SASL authentication error: invalid credentials".into(),
        };
        let e = metadata_error(timeout(), "h:1", Some(login));
        assert_eq!(e.kind(), "refused");
        assert!(!e.is_transient() && !e.is_connection());
        let line = e.to_string();
        assert!(
            line.contains("h:1 refused the connection (SASL authentication error")
                && line.contains("sasl_username"),
            "{line}"
        );
        let tls = Refusal {
            code: RDKafkaErrorCode::SSL,
            reason: "SSL handshake failed: certificate verify failed".into(),
        };
        let line = metadata_error(timeout(), "h:1", Some(tls)).to_string();
        assert!(line.contains("ssl_ca_location"), "{line}");
    }

    #[test]
    fn key_text_is_short_and_lossy() {
        assert_eq!(key_text(None), "null");
        assert_eq!(key_text(Some(&[0xff, b'a'])), "\u{fffd}a");
        assert_eq!(
            key_text(Some(&[b'x'; 500])).chars().count(),
            MAX_KEY_TEXT + 1
        );
    }
}
