//! Schema registry errors, classified by where they happen and the HTTP status (never by text).
//!
//! Every error renders as one line naming the problem and the fix. The registry's own error body
//! (Confluent's `{"error_code": 40901, "message": "..."}`) is quoted in it, on one line and
//! shortened, because its message is often the only part that says what exactly went wrong.

use crate::source::ErrorClass;

/// Longest registry message quoted in an error.
const MAX_QUOTED: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("destination.schema_registry.{field}: {constraint}")]
    Config {
        field: &'static str,
        constraint: String,
    },
    #[error("no topic to register the DTS Avro schema under: the task maps no table to a topic")]
    NoTopic,
    #[error("schema registry {url} cannot be reached (trying to {call}): the task retries; check that the registry runs and that destination.schema_registry.url names it")]
    Unreachable {
        url: String,
        call: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("TLS with schema registry {url} failed (trying to {call}): check destination.schema_registry.ssl_ca_location (the CA that signed the registry's certificate) and, where the registry asks for a client certificate, ssl_certificate_location and ssl_key_location")]
    Tls {
        url: String,
        call: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("schema registry {url} refused the request (trying to {call}; HTTP {status}{detail}): check destination.schema_registry.username/password (password_file or password_env) and that this user may read and write the subject")]
    Auth {
        url: String,
        call: String,
        status: u16,
        detail: String,
    },
    #[error("the DTS Avro Record schema is not compatible with the schemas already under subject {subject} ({detail}): another Avro schema is written to this topic; map the tables to another topic (objects.table.\"<schema>.<table>\".topic), or, if that subject's schemas are no longer used, delete the subject or set its compatibility to NONE (PUT /config/{subject} {{\"compatibility\": \"NONE\"}})")]
    Incompatible { subject: String, detail: String },
    #[error("schema registry {url} refused the DTS Avro Record schema under subject {subject} (HTTP 422{detail}): the registry's message says why (an invalid schema, a subject in read-only mode); check that destination.schema_registry.url is a Confluent-compatible registry that takes Avro schemas")]
    InvalidSchema {
        url: String,
        subject: String,
        detail: String,
    },
    #[error(
        "schema registry {url} failed (trying to {call}; HTTP {status}{detail}): the task retries"
    )]
    Unavailable {
        url: String,
        call: String,
        status: u16,
        detail: String,
    },
    #[error("schema registry {url} answered HTTP {status} (trying to {call}{detail}): check that destination.schema_registry.url is a Confluent-compatible schema registry")]
    Unexpected {
        url: String,
        call: String,
        status: u16,
        detail: String,
    },
    #[error("schema registry {url} gave an answer that cannot be read (trying to {call}): {problem}; check that destination.schema_registry.url is a Confluent-compatible schema registry")]
    Malformed {
        url: String,
        call: String,
        problem: String,
    },
    #[error("the registry gave the DTS Avro Record schema id {first} under subject {first_subject} but id {other} under {other_subject}: every DTS Avro message carries the one schema's id, so use a registry (or registry context) that gives one schema one id across subjects")]
    IdMismatch {
        first: u32,
        first_subject: String,
        other: u32,
        other_subject: String,
    },
}

impl RegistryError {
    /// What the task does about it: retry (the registry is down or overloaded) or stop until an
    /// operator fixes the setting or the subject the message names.
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Unreachable { .. } | RegistryError::Unavailable { .. } => {
                ErrorClass::Transient
            }
            _ => ErrorClass::Definite,
        }
    }

    /// Whether the registry could not be reached at all (refused, timed out, reset).
    pub fn is_connection(&self) -> bool {
        matches!(self, RegistryError::Unreachable { .. })
    }
}

/// The registry's error body, quoted for a message: `, error_code 40901: <message>` for a
/// Confluent error body, `, body: <text>` for any other, nothing for an empty one.
pub(super) fn quoted_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ConfluentError {
        error_code: Option<i64>,
        message: Option<String>,
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return String::new();
    }
    match serde_json::from_str::<ConfluentError>(&text) {
        Ok(ConfluentError {
            error_code: Some(code),
            message,
        }) => format!(
            ", error_code {code}: {}",
            one_line(message.as_deref().unwrap_or(""))
        ),
        Ok(ConfluentError {
            error_code: None,
            message: Some(m),
        }) => format!(", message: {}", one_line(&m)),
        _ => format!(", body: {}", one_line(&text)),
    }
}

/// Confluent's `error_code` of an error body, if it is one.
pub(super) fn error_code(body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("error_code")?
        .as_i64()
}

/// `text` on one line (runs of whitespace become one space), at most [`MAX_QUOTED`] characters.
pub(super) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_QUOTED));
    for (n, word) in text.split_whitespace().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    if let Some((cut, _)) = out.char_indices().nth(MAX_QUOTED) {
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confluent_error_body_is_quoted_with_its_code() {
        // The error format of Confluent's API reference ("Errors"):
        // https://docs.confluent.io/platform/current/schema-registry/develop/api.html
        let body = br#"{
          "error_code": 422,
          "message": "schema may not be empty"
        }"#;
        assert_eq!(
            quoted_body(body),
            ", error_code 422: schema may not be empty"
        );
        assert_eq!(error_code(body), Some(422));
        assert_eq!(quoted_body(b""), "");
        assert_eq!(quoted_body(b"  \n"), "");
        assert_eq!(
            quoted_body(br#"{"message":"no code"}"#),
            ", message: no code"
        );
        assert_eq!(error_code(br#"{"message":"no code"}"#), None);
    }

    #[test]
    fn any_other_body_is_quoted_on_one_shortened_line() {
        let html = "<html>\n<body>\n  502 Bad   Gateway\n</body></html>";
        assert_eq!(
            quoted_body(html.as_bytes()),
            ", body: <html> <body> 502 Bad Gateway </body></html>"
        );
        assert_eq!(error_code(html.as_bytes()), None);
        let long = "é".repeat(MAX_QUOTED + 10);
        let quoted = one_line(&long);
        assert_eq!(quoted.chars().count(), MAX_QUOTED + 1);
        assert!(quoted.ends_with('…'));
        assert_eq!(one_line("short"), "short");
    }

    #[test]
    fn only_an_unreachable_or_failing_registry_is_transient() {
        let detail = String::new;
        let s = String::new;
        let definite = [
            RegistryError::Config {
                field: "url",
                constraint: s(),
            },
            RegistryError::NoTopic,
            RegistryError::Auth {
                url: s(),
                call: s(),
                status: 401,
                detail: detail(),
            },
            RegistryError::Incompatible {
                subject: s(),
                detail: detail(),
            },
            RegistryError::InvalidSchema {
                url: s(),
                subject: s(),
                detail: detail(),
            },
            RegistryError::Unexpected {
                url: s(),
                call: s(),
                status: 400,
                detail: detail(),
            },
            RegistryError::Malformed {
                url: s(),
                call: s(),
                problem: s(),
            },
            RegistryError::IdMismatch {
                first: 1,
                first_subject: s(),
                other: 2,
                other_subject: s(),
            },
        ];
        for e in &definite {
            assert_eq!(e.class(), ErrorClass::Definite, "{e}");
            assert!(!e.is_connection(), "{e}");
        }
        let unavailable = RegistryError::Unavailable {
            url: s(),
            call: s(),
            status: 503,
            detail: detail(),
        };
        assert_eq!(unavailable.class(), ErrorClass::Transient);
        assert!(!unavailable.is_connection());
    }
}
