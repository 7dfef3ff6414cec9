//! A task file fit to show (admin API, logs): secrets replaced by `***`.
//!
//! The password of `source.url` and every value whose key names a password, secret or token
//! go; `*_file` and `*_env` keys stay, since they name where a secret is, not the secret.

const MASK: &str = "***";

/// `spec_toml` with its secrets replaced by `***`. Comments and layout are not kept (the text
/// is parsed and written again); a text that does not parse is not shown at all.
pub fn redact_toml(spec_toml: &str) -> String {
    let Ok(mut doc) = spec_toml.parse::<toml::Table>() else {
        return "# the task file is not shown: it does not parse as TOML\n".to_owned();
    };
    redact_table(&mut doc, "");
    toml::to_string(&doc)
        .unwrap_or_else(|_| "# the task file is not shown: it cannot be written back\n".into())
}

fn redact_table(table: &mut toml::Table, path: &str) {
    for (key, value) in table.iter_mut() {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match value {
            toml::Value::Table(t) => redact_table(t, &here),
            toml::Value::String(s) if here == "source.url" => *s = redact_url(s),
            v if is_secret_key(key) => *v = toml::Value::String(MASK.into()),
            _ => {}
        }
    }
}

/// Whether a key names a secret's value (not a file or variable holding it).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let names_secret = ["password", "secret", "token"]
        .iter()
        .any(|w| k.contains(w));
    names_secret && !k.ends_with("_file") && !k.ends_with("_env")
}

/// A libpq URL or key/value string without its password.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, hosts)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:{MASK}@{hosts}"),
                    None => authority.to_owned(),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{}", redact_params(tail, '&'))
        }
        None => redact_params(url, ' '),
    }
}

/// Replaces the value of every `password=` parameter (`?a=b&password=x` or `a=b password=x`).
fn redact_params(text: &str, separator: char) -> String {
    text.split(separator)
        .map(|part| {
            let (lead, param) = part.split_at(part.find(|c| c != '?').unwrap_or(part.len()));
            match param.split_once('=') {
                Some((k, _)) if k.trim().eq_ignore_ascii_case("password") => {
                    format!("{lead}{k}={MASK}")
                }
                _ => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(&separator.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "shop"
[source]
kind = "postgres"
url = "postgres://app:s3cr3t@db.example:5432/shop?sslmode=require&password=other"
password_file = "/run/secrets/pg"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:9092"
sasl_username = "bob"
sasl_password = "hunter2"
sasl_password_env = "SASL_PW"
[destination.properties]
"sasl.oauthbearer.token" = "tok-123"
"ssl.key.password" = "keypw"
"client.secret" = "cs-9"
[objects]
tables = ["public.orders"]
"#;

    #[test]
    fn passwords_secrets_and_tokens_are_masked_and_references_kept() {
        let out = redact_toml(SPEC);
        for secret in ["s3cr3t", "other", "hunter2", "tok-123", "keypw", "cs-9"] {
            assert!(!out.contains(secret), "{secret} shown in:\n{out}");
        }
        for kept in [
            "postgres://app:***@db.example:5432/shop?sslmode=require&password=***",
            "/run/secrets/pg",
            "SASL_PW",
            "bob",
            "public.orders",
        ] {
            assert!(out.contains(kept), "{kept} missing from:\n{out}");
        }
        let back = crate::config::TaskSpec::parse(&out).unwrap();
        assert_eq!(back.destination.sasl_password.as_deref(), Some(MASK));
    }

    #[test]
    fn urls_without_a_password_and_key_value_strings() {
        assert_eq!(redact_url("postgres://app@h:1/db"), "postgres://app@h:1/db");
        assert_eq!(
            redact_url("host=h user=app password=pw dbname=db"),
            "host=h user=app password=*** dbname=db"
        );
        assert_eq!(redact_url("postgres://a:b@h"), "postgres://a:***@h");
    }
}
