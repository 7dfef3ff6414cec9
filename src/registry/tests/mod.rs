//! The registry client against recorded Confluent Schema Registry exchanges.
//!
//! No registry server can be installed on the project's machines (no Maven, no container
//! engine; Karapace is not on PyPI: `TEST-ENV.md`), so these tests serve Confluent's own
//! answers, taken from Confluent's documentation and source, from an in-test HTTP(S) server
//! (`server.rs`) with basic auth and TLS, and check both what the client sends and what it makes
//! of each answer. Each recording names its source.

mod certs;
mod server;

use std::time::Duration;

use server::{Exchange, Registry, Served, UNAUTHORIZED};

use super::*;
use crate::source::ErrorClass;

// ---- Recorded answers ----------------------------------------------------------------------

/// `POST /subjects/{subject}/versions` → 200. Confluent, Schema Registry API Reference, "Register
/// a new schema under the specified subject", example response
/// (https://docs.confluent.io/platform/current/schema-registry/develop/api.html; source:
/// confluentinc/schema-registry docs/develop/api.rst).
const REGISTERED: &str = r#"{"id":1}"#;

/// `POST /subjects/{subject}` → 200. Confluent, Schema Registry API Usage Examples, "Check
/// whether a schema has been registered under subject Kafka-key"
/// (https://docs.confluent.io/platform/current/schema-registry/develop/using.html; source:
/// confluentinc/schema-registry docs/using.rst).
const LOOKED_UP: &str = r#"{"subject":"Kafka-key","version":3,"id":1,"schema":"\"string\""}"#;

/// `POST /compatibility/subjects/{subject}/versions/latest` → 200. Confluent, Schema Registry API
/// Usage Examples, "Test compatibility of a schema with the latest schema under subject
/// Kafka-value" (https://docs.confluent.io/platform/current/schema-registry/develop/using.html).
const COMPATIBLE: &str = r#"{"is_compatible":true}"#;

/// The same answer for an incompatible schema: the API Reference defines `is_compatible` as
/// "True, if compatible. False otherwise"; without `messages`, as registries before Confluent 6
/// answer (they ignore `verbose`).
const NOT_COMPATIBLE: &str = r#"{"is_compatible":false}"#;

/// HTTP 404 `40401`. Confluent, Schema Registry API Usage Examples, "Get compatibility requirements on
/// a subject": `{"error_code":40401,"message":"Subject 'Kafka-value' not found."}`; the message
/// format is `Errors.SUBJECT_NOT_FOUND_MESSAGE_FORMAT` in confluentinc/schema-registry
/// core/.../rest/exceptions/Errors.java.
const SUBJECT_NOT_FOUND: &str =
    r#"{"error_code":40401,"message":"Subject 'Kafka-value' not found."}"#;

/// HTTP 404 `40403`. Confluent, API Reference, `POST /subjects/(string: subject)`: "Error code 40403
/// -- Schema not found"; the message is `Errors.SCHEMA_NOT_FOUND_MESSAGE` (Errors.java above),
/// which `SubjectsResource.lookUpSchemaUnderSubject` throws when the subject has other schemas.
const SCHEMA_NOT_FOUND: &str = r#"{"error_code":40403,"message":"Schema not found"}"#;

/// HTTP 409: Confluent, Schema Registry Tutorial, "Failing Compatibility Checks": registering an
/// incompatible `Payment` schema with curl
/// (https://docs.confluent.io/platform/current/schema-registry/schema_registry_onprem_tutorial.html;
/// source: confluentinc/schema-registry docs/schema_registry_tutorial.rst).
const INCOMPATIBLE: &str = r#"{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}"#;

/// HTTP 403 under role-based access control. Confluent, cp-demo tutorial, Schema Registry section,
/// `-u appSA:appSA` before the role binding (confluentinc/cp-demo docs/index.rst); the status is
/// the API Reference's "403 Forbidden". Its `error_code` is 40403, as "schema not found" has:
/// only the status tells them apart.
const DENIED: &str =
    r#"{"error_code":40403,"message":"User is denied operation Write on Subject: users-value"}"#;

/// HTTP 422: Confluent, API Reference, "Errors" (the standard error message format).
const INVALID: &str = r#"{
    "error_code": 422,
    "message": "schema may not be empty"
}"#;

/// HTTP 500 `50002`. Confluent, API Reference, `POST /subjects/(string: subject)/versions`: "Error
/// code 50002 -- Operation timed out"; the message is the one
/// `SubjectVersionsResource.register` throws (confluentinc/schema-registry
/// core/.../rest/resources/SubjectVersionsResource.java).
const TIMED_OUT: &str = r#"{"error_code":50002,"message":"Register operation timed out"}"#;

/// `GET /schemas/ids/1` → 200. Confluent, API Reference, "Get the schema string identified by the
/// input ID", example response.
const SCHEMA_1: &str = r#"{
  "schema": "{\"type\": \"string\"}"
}"#;

// ---- Helpers -------------------------------------------------------------------------------

const fn ex(method: &'static str, path: &'static str, status: u16, body: &'static str) -> Exchange {
    Exchange {
        method,
        path,
        status,
        body,
    }
}

fn spec(url: String) -> SchemaRegistrySpec {
    SchemaRegistrySpec {
        url,
        ..Default::default()
    }
}

fn topics(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The requests as `METHOD path` lines.
fn calls(served: &Served) -> Vec<String> {
    served
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

fn sent_schema(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "only `schema`: {v}");
    v["schema"].as_str().unwrap().to_owned()
}

// ---- Registration --------------------------------------------------------------------------

#[tokio::test]
async fn the_record_schema_is_registered_under_each_topics_value_subject() {
    let served = Registry::new(&[
        ex("POST", "/subjects/orders-value", 404, SUBJECT_NOT_FOUND),
        ex("POST", "/subjects/orders-value/versions", 200, REGISTERED),
        ex("POST", "/subjects/dts.users-value", 404, SUBJECT_NOT_FOUND),
        ex(
            "POST",
            "/subjects/dts.users-value/versions",
            200,
            REGISTERED,
        ),
    ])
    .basic_auth("svc", "s3cret")
    .serve()
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let mut s = spec(served.http_url());
    s.username = Some("svc".into());
    s.password_file = Some(dir.path().join("pw").display().to_string());

    let id = register_record_schema(&s, &topics(&["orders", "dts.users", "orders"]))
        .await
        .unwrap();

    assert_eq!(id, 1);
    assert_eq!(
        calls(&served),
        [
            "POST /subjects/orders-value",
            "POST /subjects/orders-value/versions",
            "POST /subjects/dts.users-value",
            "POST /subjects/dts.users-value/versions",
        ],
        "a topic named twice is registered once"
    );
    for seen in served.seen() {
        assert_eq!(
            seen.header("content-type"),
            Some("application/vnd.schemaregistry.v1+json")
        );
        assert!(seen
            .header("accept")
            .is_some_and(|a| a.starts_with("application/vnd.schemaregistry.v1+json")));
        assert_eq!(sent_schema(&seen.body), RECORD_SCHEMA);
    }
}

#[tokio::test]
async fn an_already_registered_schema_gives_its_id_without_registering_again() {
    let served = Registry::new(&[ex("POST", "/subjects/orders-value", 200, LOOKED_UP)])
        .serve()
        .await;
    let s = spec(served.http_url());

    let client = RegistryClient::new(&s).unwrap();
    assert_eq!(
        client.lookup("orders-value", RECORD_SCHEMA).await.unwrap(),
        Lookup::Registered { id: 1, version: 3 }
    );
    assert_eq!(
        register_record_schema(&s, &topics(&["orders"]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        calls(&served),
        ["POST /subjects/orders-value", "POST /subjects/orders-value"],
        "looked up, never registered"
    );
}

#[tokio::test]
async fn a_subject_holding_other_schemas_is_checked_for_compatibility_before_registering() {
    let served = Registry::new(&[
        ex("POST", "/subjects/orders-value", 404, SCHEMA_NOT_FOUND),
        ex(
            "POST",
            "/compatibility/subjects/orders-value/versions/latest?verbose=true",
            200,
            COMPATIBLE,
        ),
        ex("POST", "/subjects/orders-value/versions", 200, REGISTERED),
    ])
    .serve()
    .await;

    let id = register_record_schema(&spec(served.http_url()), &topics(&["orders"]))
        .await
        .unwrap();

    assert_eq!(id, 1);
    assert_eq!(
        calls(&served),
        [
            "POST /subjects/orders-value",
            "POST /compatibility/subjects/orders-value/versions/latest?verbose=true",
            "POST /subjects/orders-value/versions",
        ]
    );
    assert_eq!(sent_schema(&served.seen()[1].body), RECORD_SCHEMA);
}

#[tokio::test]
async fn a_subject_without_versions_accepts_any_schema() {
    let served = Registry::new(&[ex(
        "POST",
        "/compatibility/subjects/orders-value/versions/latest?verbose=true",
        404,
        SUBJECT_NOT_FOUND,
    )])
    .serve()
    .await;
    let client = RegistryClient::new(&spec(served.http_url())).unwrap();
    let c = client
        .compatibility("orders-value", RECORD_SCHEMA)
        .await
        .unwrap();
    assert!(c.compatible);
    assert!(c.messages.is_empty());
}

#[tokio::test]
async fn an_incompatible_subject_is_a_definite_error_naming_the_subject_and_the_fix() {
    tracing::info!("the compatibility check says no: nothing is registered");
    {
        let served = Registry::new(&[
            ex("POST", "/subjects/orders-value", 404, SCHEMA_NOT_FOUND),
            ex(
                "POST",
                "/compatibility/subjects/orders-value/versions/latest?verbose=true",
                200,
                NOT_COMPATIBLE,
            ),
        ])
        .serve()
        .await;
        let e = register_record_schema(&spec(served.http_url()), &topics(&["orders"]))
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Incompatible { .. }), "{e}");
        assert_eq!(e.class(), ErrorClass::Definite);
        let line = e.to_string();
        assert!(
            line.contains("subject orders-value (compatibility check: not compatible)"),
            "{line}"
        );
        assert!(line.contains("PUT /config/orders-value"), "{line}");
        assert_eq!(served.seen().len(), 2, "no registration after a refusal");
    }
    tracing::info!("the registration itself is refused (409), e.g. after a race");
    {
        let served = Registry::new(&[
            ex("POST", "/subjects/orders-value", 404, SUBJECT_NOT_FOUND),
            ex("POST", "/subjects/orders-value/versions", 409, INCOMPATIBLE),
        ])
        .serve()
        .await;
        let e = register_record_schema(&spec(served.http_url()), &topics(&["orders"]))
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Incompatible { .. }), "{e}");
        assert_eq!(e.class(), ErrorClass::Definite);
        assert!(e.to_string().contains(
            "subject orders-value (HTTP 409, error_code 409: Schema being registered is incompatible with an earlier schema)"
        ), "{e}");
    }
}

#[tokio::test]
async fn different_ids_for_the_one_schema_are_an_error() {
    const REGISTERED_2: &str = r#"{"id":2}"#;
    let served = Registry::new(&[
        ex("POST", "/subjects/a-value", 200, LOOKED_UP),
        ex("POST", "/subjects/b-value", 404, SUBJECT_NOT_FOUND),
        ex("POST", "/subjects/b-value/versions", 200, REGISTERED_2),
    ])
    .serve()
    .await;
    let e = register_record_schema(&spec(served.http_url()), &topics(&["a", "b"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::IdMismatch {
                first: 1,
                other: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("id 1 under subject a-value but id 2 under b-value"),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Definite);
}

#[tokio::test]
async fn a_registry_refusing_the_schema_as_invalid_is_a_definite_error() {
    let served = Registry::new(&[
        ex("POST", "/subjects/orders-value", 404, SUBJECT_NOT_FOUND),
        ex("POST", "/subjects/orders-value/versions", 422, INVALID),
    ])
    .serve()
    .await;
    let e = register_record_schema(&spec(served.http_url()), &topics(&["orders"]))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::InvalidSchema { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Definite);
    assert!(
        e.to_string().contains(
            "under subject orders-value (HTTP 422, error_code 422: schema may not be empty)"
        ),
        "{e}"
    );
}

// ---- Lookup by id --------------------------------------------------------------------------

#[tokio::test]
async fn a_schema_is_fetched_by_its_id() {
    let served = Registry::new(&[
        ex("GET", "/schemas/ids/1", 200, SCHEMA_1),
        ex("GET", "/schemas/ids/2", 404, SCHEMA_NOT_FOUND),
    ])
    .serve()
    .await;
    let client = RegistryClient::new(&spec(served.http_url())).unwrap();
    assert_eq!(
        client.schema_by_id(1).await.unwrap().as_deref(),
        Some(r#"{"type": "string"}"#)
    );
    assert_eq!(client.schema_by_id(2).await.unwrap(), None);
}

#[tokio::test]
async fn an_answer_that_is_not_the_registrys_is_a_definite_error() {
    let served = Registry::new(&[ex("GET", "/schemas/ids/1", 200, "<html>it works</html>")])
        .serve()
        .await;
    let client = RegistryClient::new(&spec(served.http_url())).unwrap();
    let e = client.schema_by_id(1).await.unwrap_err();
    assert!(matches!(e, RegistryError::Malformed { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Definite);
    assert!(e.to_string().contains("<html>it works</html>"), "{e}");
}

// ---- Credentials and failures --------------------------------------------------------------

#[tokio::test]
async fn refused_credentials_are_a_definite_error_naming_the_settings() {
    tracing::info!("wrong password: 401");
    {
        let served = Registry::new(&[ex("POST", "/subjects/orders-value", 200, LOOKED_UP)])
            .basic_auth("svc", "right")
            .serve()
            .await;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "wrong\n").unwrap();
        let mut s = spec(served.http_url());
        s.username = Some("svc".into());
        s.password_file = Some(pw.display().to_string());
        let e = register_record_schema(&s, &topics(&["orders"]))
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Auth { status: 401, .. }), "{e}");
        assert_eq!(e.class(), ErrorClass::Definite);
        let line = e.to_string();
        assert!(
            line.contains("HTTP 401, error_code 401: Unauthorized"),
            "{line}"
        );
        assert!(
            line.contains("check destination.schema_registry.username/password"),
            "{line}"
        );
        assert!(!line.contains("wrong"), "no password in messages: {line}");
        assert_eq!(
            UNAUTHORIZED,
            r#"{"error_code":401,"message":"Unauthorized"}"#
        );
    }
    tracing::info!("a user without the right to write the subject: 403 with error_code 40403");
    {
        let served = Registry::new(&[ex("POST", "/subjects/users-value", 403, DENIED)])
            .serve()
            .await;
        let e = register_record_schema(&spec(served.http_url()), &topics(&["users"]))
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Auth { status: 403, .. }), "{e}");
        assert!(
            e.to_string()
                .contains("User is denied operation Write on Subject: users-value"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_failing_registry_is_a_transient_error() {
    let served = Registry::new(&[
        ex("POST", "/subjects/orders-value", 404, SUBJECT_NOT_FOUND),
        ex("POST", "/subjects/orders-value/versions", 500, TIMED_OUT),
    ])
    .serve()
    .await;
    let e = register_record_schema(&spec(served.http_url()), &topics(&["orders"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Unavailable { status: 500, .. }),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(!e.is_connection());
    assert!(
        e.to_string()
            .contains("HTTP 500, error_code 50002: Register operation timed out"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_a_transient_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = register_record_schema(
        &spec(format!("http://127.0.0.1:{port}")),
        &topics(&["orders"]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(e.is_connection());
    let line = crate::error_chain(&e);
    assert!(
        line.contains(&format!(
            "schema registry http://127.0.0.1:{port} cannot be reached"
        )),
        "{line}"
    );
    assert!(line.contains("Connection refused"), "{line}");
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out_as_transient() {
    let served = Registry::new(&[]).silent().serve().await;
    let client = RegistryClient::with_timeouts(
        &spec(served.http_url()),
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), client.schema_by_id(1))
        .await
        .expect("bounded by the request timeout")
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(served.seen().len(), 1, "the request arrived");
}

// ---- TLS -----------------------------------------------------------------------------------

#[tokio::test]
async fn https_is_verified_with_the_configured_ca() {
    let certs = certs::make();
    let served = Registry::new(&[ex("GET", "/schemas/ids/1", 200, SCHEMA_1)])
        .tls(&certs.server_cert, &certs.server_key, None)
        .serve()
        .await;
    tracing::info!("with the CA that signed the registry's certificate");
    {
        let mut s = spec(served.https_url());
        s.ssl_ca_location = Some(certs.ca.display().to_string());
        let client = RegistryClient::new(&s).unwrap();
        assert!(client.schema_by_id(1).await.unwrap().is_some());
    }
    tracing::info!("with another CA, or the system's roots: refused, and definite");
    for ca in [Some(&certs.other_ca), None] {
        let mut s = spec(served.https_url());
        s.ssl_ca_location = ca.map(|p| p.display().to_string());
        let e = RegistryClient::new(&s)
            .unwrap()
            .schema_by_id(1)
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Tls { .. }), "{e}");
        assert_eq!(e.class(), ErrorClass::Definite);
        assert!(
            crate::error_chain(&e).contains("certificate"),
            "{}",
            crate::error_chain(&e)
        );
    }
    assert_eq!(
        served.seen().len(),
        1,
        "only the verified connection got to send a request"
    );
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let certs = certs::make();
    let served = Registry::new(&[ex("GET", "/schemas/ids/1", 200, SCHEMA_1)])
        .tls(&certs.server_cert, &certs.server_key, Some(&certs.ca))
        .serve()
        .await;
    let mut s = spec(served.https_url());
    s.ssl_ca_location = Some(certs.ca.display().to_string());
    tracing::info!("without a client certificate the registry refuses the handshake");
    {
        let e = RegistryClient::new(&s)
            .unwrap()
            .schema_by_id(1)
            .await
            .unwrap_err();
        assert!(
            matches!(e, RegistryError::Tls { .. }),
            "{}",
            crate::error_chain(&e)
        );
        assert_eq!(e.class(), ErrorClass::Definite);
    }
    tracing::info!("with it, the request goes through");
    {
        s.ssl_certificate_location = Some(certs.client_cert.display().to_string());
        s.ssl_key_location = Some(certs.client_key.display().to_string());
        let client = RegistryClient::new(&s).unwrap();
        assert!(client.schema_by_id(1).await.unwrap().is_some());
    }
    assert_eq!(served.seen().len(), 1);
}
