//! The four Confluent Schema Registry calls DTS Avro needs, each turning the registry's answer
//! into a result or a classified [`RegistryError`].
//!
//! Requests carry Confluent's content type `application/vnd.schemaregistry.v1+json` and body
//! `{"schema": "<the schema JSON as a string>"}` (Avro is the default `schemaType`). Statuses
//! with a meaning for the call are handled by the call (a 404 `40403` from a lookup means "not
//! there yet"); the rest by `check`: 401/403 refused, 408/429/5xx transient,
//! anything else unexpected.

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::connect::{endpoint, http_client};
use super::error::{error_code, one_line, quoted_body};
use super::RegistryError;
use crate::config::SchemaRegistrySpec;

/// Confluent's content type for requests and answers, API version 1.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// The `Accept` header Confluent's API reference sends in its examples.
const ACCEPT: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";
/// Largest answer read: a schema by id is the largest, and Confluent's own limit on a schema is
/// well below this.
const MAX_BODY: usize = 8 << 20;

/// Confluent error codes with a meaning for a call.
const SUBJECT_NOT_FOUND: i64 = 40401;
const VERSION_NOT_FOUND: i64 = 40402;
const SCHEMA_NOT_FOUND: i64 = 40403;

/// A client for one registry, built from `[destination.schema_registry]`.
pub struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    credentials: Option<(String, String)>,
}

/// Whether a schema is registered under a subject ([`RegistryClient::lookup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// It is, with this id (global to the registry) and this version (within the subject).
    Registered { id: u32, version: u32 },
    /// The subject has no schema at all (Confluent `40401`).
    SubjectMissing,
    /// The subject holds other schemas, not this one (Confluent `40403`).
    SchemaMissing,
}

/// A compatibility check's answer ([`RegistryClient::compatibility`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compatibility {
    pub compatible: bool,
    /// The registry's reasons, where it gives them (Confluent 6+ with `verbose=true`).
    pub messages: Vec<String>,
}

/// The request the client is making, for messages.
enum Call<'a> {
    Register(&'a str),
    Lookup(&'a str),
    Compatibility(&'a str),
    SchemaById(u32),
}

impl std::fmt::Display for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Register(s) => write!(f, "register the schema under subject {s}"),
            Call::Lookup(s) => write!(f, "look the schema up under subject {s}"),
            Call::Compatibility(s) => {
                write!(f, "check the schema's compatibility with subject {s}")
            }
            Call::SchemaById(id) => write!(f, "fetch schema id {id}"),
        }
    }
}

#[derive(serde::Serialize)]
struct SchemaRequest<'a> {
    schema: &'a str,
}

impl RegistryClient {
    /// Checks the settings (URL, credentials, TLS files) and builds the client; makes no request.
    pub fn new(spec: &SchemaRegistrySpec) -> Result<RegistryClient, RegistryError> {
        let e = endpoint(spec)?;
        Ok(RegistryClient {
            http: http_client(spec)?,
            base: e.base,
            credentials: e.credentials,
        })
    }

    /// As [`RegistryClient::new`], with other timeouts (tests).
    #[cfg(test)]
    pub(crate) fn with_timeouts(
        spec: &SchemaRegistrySpec,
        connect: std::time::Duration,
        request: std::time::Duration,
    ) -> Result<RegistryClient, RegistryError> {
        let e = endpoint(spec)?;
        Ok(RegistryClient {
            http: super::connect::http_client_with(spec, connect, request)?,
            base: e.base,
            credentials: e.credentials,
        })
    }

    /// `POST /subjects/{subject}/versions`: registers `schema` (Avro JSON) under `subject` and
    /// returns its id. Registering a schema the subject already holds returns its existing id.
    /// A schema the subject's compatibility rule refuses is [`RegistryError::Incompatible`].
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let call = Call::Register(subject);
        let url = self.url(&["subjects", subject, "versions"], false);
        let (status, body) = self.post(url, schema, &call).await?;
        if status == StatusCode::CONFLICT {
            return Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                detail: format!("HTTP 409{}", quoted_body(&body)),
            });
        }
        self.reject_invalid(status, &body, subject)?;
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let r: Registered = self.parse(status, &body, &call)?;
        Ok(r.id)
    }

    /// `POST /subjects/{subject}`: whether `schema` is already registered under `subject`.
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<Lookup, RegistryError> {
        let call = Call::Lookup(subject);
        let url = self.url(&["subjects", subject], false);
        let (status, body) = self.post(url, schema, &call).await?;
        if status == StatusCode::NOT_FOUND {
            match error_code(&body) {
                Some(SUBJECT_NOT_FOUND) => return Ok(Lookup::SubjectMissing),
                Some(SCHEMA_NOT_FOUND) => return Ok(Lookup::SchemaMissing),
                _ => {}
            }
        }
        self.reject_invalid(status, &body, subject)?;
        #[derive(Deserialize)]
        struct Found {
            id: u32,
            version: u32,
        }
        let f: Found = self.parse(status, &body, &call)?;
        Ok(Lookup::Registered {
            id: f.id,
            version: f.version,
        })
    }

    /// `POST /compatibility/subjects/{subject}/versions/latest?verbose=true`: whether `schema`
    /// may be registered after the subject's latest schema under the subject's compatibility
    /// rule. A subject with no versions (a 404 `40401`/`40402` from older registries) accepts
    /// any schema.
    pub async fn compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Compatibility, RegistryError> {
        let call = Call::Compatibility(subject);
        let url = self.url(
            &["compatibility", "subjects", subject, "versions", "latest"],
            true,
        );
        let (status, body) = self.post(url, schema, &call).await?;
        if status == StatusCode::NOT_FOUND
            && matches!(
                error_code(&body),
                Some(SUBJECT_NOT_FOUND | VERSION_NOT_FOUND)
            )
        {
            return Ok(Compatibility {
                compatible: true,
                messages: Vec::new(),
            });
        }
        self.reject_invalid(status, &body, subject)?;
        #[derive(Deserialize)]
        struct Answer {
            is_compatible: bool,
            #[serde(default)]
            messages: Vec<String>,
        }
        let a: Answer = self.parse(status, &body, &call)?;
        Ok(Compatibility {
            compatible: a.is_compatible,
            messages: a.messages,
        })
    }

    /// `GET /schemas/ids/{id}`: the schema registered with `id`, `None` if there is none.
    pub async fn schema_by_id(&self, id: u32) -> Result<Option<String>, RegistryError> {
        let call = Call::SchemaById(id);
        let url = self.url(&["schemas", "ids", &id.to_string()], false);
        let request = self.authorised(self.http.get(url));
        let (status, body) = self.send(request, &call).await?;
        if status == StatusCode::NOT_FOUND && error_code(&body) == Some(SCHEMA_NOT_FOUND) {
            return Ok(None);
        }
        #[derive(Deserialize)]
        struct Schema {
            schema: String,
        }
        let s: Schema = self.parse(status, &body, &call)?;
        Ok(Some(s.schema))
    }

    /// Registers `schema` under `subject` unless it is already there, and returns its id: looks
    /// it up first; where the subject holds other schemas, checks compatibility before
    /// registering, so a refusal names the subject and the registry's reasons.
    pub async fn ensure_registered(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<u32, RegistryError> {
        match self.lookup(subject, schema).await? {
            Lookup::Registered { id, .. } => return Ok(id),
            Lookup::SubjectMissing => {}
            Lookup::SchemaMissing => {
                let c = self.compatibility(subject, schema).await?;
                if !c.compatible {
                    let mut detail = String::from("compatibility check: not compatible");
                    for m in &c.messages {
                        detail.push_str("; ");
                        detail.push_str(&one_line(m));
                    }
                    return Err(RegistryError::Incompatible {
                        subject: subject.to_owned(),
                        detail,
                    });
                }
            }
        }
        self.register(subject, schema).await
    }

    /// The base URL with `segments` appended (each percent-encoded as one path segment).
    fn url(&self, segments: &[&str], verbose: bool) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if verbose {
            url.set_query(Some("verbose=true"));
        }
        url
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header(reqwest::header::ACCEPT, ACCEPT);
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    async fn post(
        &self,
        url: Url,
        schema: &str,
        call: &Call<'_>,
    ) -> Result<(StatusCode, Vec<u8>), RegistryError> {
        let body = serde_json::to_vec(&SchemaRequest { schema }).unwrap_or_default();
        let request = self
            .authorised(self.http.post(url))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body);
        self.send(request, call).await
    }

    /// Sends the request and reads the answer (at most [`MAX_BODY`] bytes).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        call: &Call<'_>,
    ) -> Result<(StatusCode, Vec<u8>), RegistryError> {
        let mut response = request.send().await.map_err(|e| self.transport(e, call))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport(e, call))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(self.malformed(call, format!("an answer over {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    /// A failed exchange: a TLS failure (a certificate that does not verify, a refused client
    /// certificate) is definite; anything else (refused, reset, timed out) is the registry being
    /// unreachable.
    fn transport(&self, e: reqwest::Error, call: &Call<'_>) -> RegistryError {
        let source = e.without_url();
        let (url, call) = (self.shown(), call.to_string());
        if is_tls_failure(&source) && !source.is_timeout() {
            RegistryError::Tls { url, call, source }
        } else {
            RegistryError::Unreachable { url, call, source }
        }
    }

    /// A 422 on a call that sends the schema: the registry refuses the schema itself.
    fn reject_invalid(
        &self,
        status: StatusCode,
        body: &[u8],
        subject: &str,
    ) -> Result<(), RegistryError> {
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            return Err(RegistryError::InvalidSchema {
                url: self.shown(),
                subject: subject.to_owned(),
                detail: quoted_body(body),
            });
        }
        Ok(())
    }

    /// The body of a successful answer as `T`; any other status as its error.
    fn parse<T: DeserializeOwned>(
        &self,
        status: StatusCode,
        body: &[u8],
        call: &Call<'_>,
    ) -> Result<T, RegistryError> {
        self.check(status, body, call)?;
        serde_json::from_slice(body).map_err(|e| {
            self.malformed(
                call,
                format!("{e} in {}", one_line(&String::from_utf8_lossy(body))),
            )
        })
    }

    /// Classifies a status the call did not handle itself.
    fn check(&self, status: StatusCode, body: &[u8], call: &Call<'_>) -> Result<(), RegistryError> {
        let (url, call, status, detail) = (
            self.shown(),
            call.to_string(),
            status.as_u16(),
            quoted_body(body),
        );
        match status {
            200..=299 => Ok(()),
            401 | 403 => Err(RegistryError::Auth {
                url,
                call,
                status,
                detail,
            }),
            408 | 429 | 500..=599 => Err(RegistryError::Unavailable {
                url,
                call,
                status,
                detail,
            }),
            _ => Err(RegistryError::Unexpected {
                url,
                call,
                status,
                detail,
            }),
        }
    }

    fn malformed(&self, call: &Call<'_>, problem: String) -> RegistryError {
        RegistryError::Malformed {
            url: self.shown(),
            call: call.to_string(),
            problem,
        }
    }

    /// The registry's URL for messages (it carries no credentials: `connect::endpoint`).
    fn shown(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }
}

/// Whether TLS failed: rustls reports its errors (a certificate that does not verify, an alert
/// from the peer) as `InvalidData` I/O errors, which hyper wraps in further I/O errors whose
/// `source()` skips them, so the chain is walked through `get_ref()` too.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                cause = Some(inner);
                continue;
            }
        }
        cause = c.source();
    }
    false
}
