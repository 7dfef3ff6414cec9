//! From `[destination.schema_registry]` to an HTTP client: the URL, basic-auth credentials, TLS
//! (a CA to verify the registry with, a client certificate for mutual TLS) and timeouts.
//!
//! Every setting is checked here, before any request, so a wrong path or a half-given pair is a
//! definite error that names the setting rather than a failure at the first request.

use std::time::Duration;

use reqwest::{Certificate, Identity, Url};

use super::RegistryError;
use crate::config::SchemaRegistrySpec;

/// How long to wait for a TCP connection and TLS handshake with the registry. A registry that
/// does not answer by then is down or unreachable (transient: the task retries), and the task's
/// start should not hang on it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take, answer included. A registration goes through the registry's
/// leader and a write to its Kafka store, which Confluent bounds by its own 500 ms-to-10 s
/// timeouts (`kafkastore.timeout.ms`); 30 s leaves room for a slow store without hanging.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a client needs besides the HTTP client itself.
pub(super) struct Endpoint {
    /// The registry's base URL, without user info.
    pub base: Url,
    /// `username` and password, if the registry takes basic auth.
    pub credentials: Option<(String, String)>,
}

fn invalid(field: &'static str, constraint: impl Into<String>) -> RegistryError {
    RegistryError::Config {
        field,
        constraint: constraint.into(),
    }
}

/// Parses and checks the settings.
pub(super) fn endpoint(spec: &SchemaRegistrySpec) -> Result<Endpoint, RegistryError> {
    let base = Url::parse(spec.url.trim()).map_err(|e| {
        invalid(
            "url",
            format!(
                "{:?} is not a URL ({e}): give http://host:port or https://host:port",
                spec.url
            ),
        )
    })?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(invalid(
            "url",
            format!("{:?} is not an http:// or https:// URL", spec.url),
        ));
    }
    let tls_option = [
        ("ssl_ca_location", &spec.ssl_ca_location),
        ("ssl_certificate_location", &spec.ssl_certificate_location),
        ("ssl_key_location", &spec.ssl_key_location),
    ]
    .into_iter()
    .find(|(_, v)| v.is_some());
    if let (Some((name, _)), "http") = (tls_option, base.scheme()) {
        return Err(invalid(
            "url",
            format!("{name} is set but the URL is http://, without TLS: use https://"),
        ));
    }
    if !base.username().is_empty() || base.password().is_some() {
        // A password in the URL would sit in the task file and in messages.
        return Err(invalid(
            "url",
            "the URL carries a user or password: give the user in username and the password in password_file or password_env",
        ));
    }
    let credentials = credentials(spec)?;
    Ok(Endpoint { base, credentials })
}

/// `username` and the password from `password_file` (its first line) or `password_env`, as the
/// source's password is read (`config::secret`).
fn credentials(spec: &SchemaRegistrySpec) -> Result<Option<(String, String)>, RegistryError> {
    let password = if let Some(path) = &spec.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid("password_file", format!("cannot read {path}: {e}")))?;
        Some(text.lines().next().unwrap_or("").to_owned())
    } else if let Some(var) = &spec.password_env {
        Some(std::env::var(var).map_err(|_| {
            invalid(
                "password_env",
                format!("environment variable {var} is not set"),
            )
        })?)
    } else {
        None
    };
    match (&spec.username, password) {
        (Some(user), Some(password)) => Ok(Some((user.clone(), password))),
        (Some(_), None) => Err(invalid(
            "username",
            "a username needs a password: set password_file or password_env",
        )),
        (None, Some(_)) => Err(invalid(
            "username",
            "a password is given without a username: set username",
        )),
        (None, None) => Ok(None),
    }
}

/// The HTTP client: HTTP/1.1, rustls, no redirects (a registry answers where it is asked; a
/// redirect would be a wrong URL), bounded connect and request times.
pub(super) fn http_client(spec: &SchemaRegistrySpec) -> Result<reqwest::Client, RegistryError> {
    http_client_with(spec, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
}

pub(super) fn http_client_with(
    spec: &SchemaRegistrySpec,
    connect: Duration,
    request: Duration,
) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(request);
    if let Some(path) = &spec.ssl_ca_location {
        // The CA replaces the system's roots, as librdkafka's ssl.ca.location and PostgreSQL's
        // sslrootcert do: the registry must present a certificate this CA signed.
        builder = builder.tls_built_in_root_certs(false);
        for cert in ca_certificates(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(identity) = client_identity(spec)? {
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| {
        invalid(
            "url",
            format!(
                "cannot build the HTTP client: {}",
                crate::error_chain(&e.without_url())
            ),
        )
    })
}

fn read_pem(field: &'static str, path: &str) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(path).map_err(|e| invalid(field, format!("cannot read {path}: {e}")))
}

fn ca_certificates(path: &str) -> Result<Vec<Certificate>, RegistryError> {
    let pem = read_pem("ssl_ca_location", path)?;
    match Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(invalid(
            "ssl_ca_location",
            format!("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        )),
    }
}

/// The client certificate and key for mutual TLS; both or neither.
fn client_identity(spec: &SchemaRegistrySpec) -> Result<Option<Identity>, RegistryError> {
    let (cert, key) = match (&spec.ssl_certificate_location, &spec.ssl_key_location) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            return Err(invalid(
                "ssl_key_location",
                "ssl_certificate_location needs its private key: set ssl_key_location",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "ssl_certificate_location",
                "ssl_key_location needs its certificate: set ssl_certificate_location",
            ))
        }
    };
    let mut pem = read_pem("ssl_key_location", key)?;
    pem.push(b'\n');
    pem.extend(read_pem("ssl_certificate_location", cert)?);
    Identity::from_pem(&pem).map(Some).map_err(|_| {
        invalid(
            "ssl_certificate_location",
            format!("{cert} and {key} must hold a PEM certificate and its PEM private key (PKCS#8, RSA or EC)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> SchemaRegistrySpec {
        SchemaRegistrySpec {
            url: url.to_owned(),
            ..Default::default()
        }
    }

    fn config_error(r: Result<Endpoint, RegistryError>) -> String {
        match r {
            Err(e @ RegistryError::Config { .. }) => e.to_string(),
            Err(e) => panic!("not a config error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_url_must_be_http_or_https() {
        let e = config_error(endpoint(&spec("registry:8081")));
        assert!(e.starts_with("destination.schema_registry.url: "), "{e}");
        let e = config_error(endpoint(&spec("ftp://h/")));
        assert!(e.contains("not an http:// or https:// URL"), "{e}");
        let ok = endpoint(&spec(" https://h:8081/prefix ")).unwrap();
        assert_eq!(ok.base.as_str(), "https://h:8081/prefix");
        assert!(ok.credentials.is_none());
    }

    #[test]
    fn tls_settings_need_an_https_url() {
        let mut s = spec("http://h:8081");
        s.ssl_ca_location = Some("/ca.pem".into());
        let e = config_error(endpoint(&s));
        assert!(
            e.contains("ssl_ca_location is set but the URL is http://"),
            "{e}"
        );
        s.url = "https://h:8081".into();
        assert!(endpoint(&s).is_ok());
    }

    #[test]
    fn credentials_come_from_username_and_a_password_file_or_variable() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\nignored\n").unwrap();
        let mut s = spec("http://h:8081");
        s.username = Some("svc".into());
        s.password_file = Some(pw.display().to_string());
        assert_eq!(
            endpoint(&s).unwrap().credentials,
            Some(("svc".into(), "s3cret".into()))
        );
        s.password_file = None;
        s.password_env = Some("PATH".into());
        assert_eq!(
            endpoint(&s).unwrap().credentials,
            Some(("svc".into(), std::env::var("PATH").unwrap()))
        );
        s.password_env = Some("TRIBUTARY_SURELY_UNSET_VAR".into());
        let e = config_error(endpoint(&s));
        assert!(
            e.contains("password_env") && e.contains("TRIBUTARY_SURELY_UNSET_VAR"),
            "{e}"
        );
        s.password_env = None;
        let e = config_error(endpoint(&s));
        assert!(e.contains("a username needs a password"), "{e}");
        s.username = None;
        s.password_file = Some("/nonexistent/pw".into());
        let e = config_error(endpoint(&s));
        assert!(
            e.contains("password_file: cannot read /nonexistent/pw"),
            "{e}"
        );
        s.password_file = Some(pw.display().to_string());
        let e = config_error(endpoint(&s));
        assert!(e.contains("without a username"), "{e}");
    }

    #[test]
    fn credentials_stay_out_of_the_url() {
        let e = config_error(endpoint(&spec("https://svc:p%40ss@h:8081/")));
        assert!(e.contains("the URL carries a user or password"), "{e}");
        let e = config_error(endpoint(&spec("https://svc@h:8081/")));
        assert!(e.contains("the URL carries a user or password"), "{e}");
    }

    #[test]
    fn tls_files_are_read_and_checked_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let mut s = spec("https://h:8081");
        s.ssl_ca_location = Some("/nonexistent/ca.pem".into());
        let e = http_client(&s).unwrap_err().to_string();
        assert!(
            e.contains("ssl_ca_location: cannot read /nonexistent/ca.pem"),
            "{e}"
        );
        s.ssl_ca_location = Some(not_pem.display().to_string());
        let e = http_client(&s).unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        s.ssl_ca_location = None;
        s.ssl_certificate_location = Some(not_pem.display().to_string());
        let e = http_client(&s).unwrap_err().to_string();
        assert!(e.contains("set ssl_key_location"), "{e}");
        s.ssl_key_location = Some(not_pem.display().to_string());
        let e = http_client(&s).unwrap_err().to_string();
        assert!(
            e.contains("must hold a PEM certificate and its PEM private key"),
            "{e}"
        );
        s.ssl_certificate_location = None;
        let e = http_client(&s).unwrap_err().to_string();
        assert!(e.contains("set ssl_certificate_location"), "{e}");
    }
}
