//! The admin API's bearer token: read once at start from `admin.token_file` or
//! `admin.token_env`, then checked on every call (`authorization: Bearer <token>`). Without
//! either setting (allowed only on a loopback admin address) every call is accepted.
//!
//! The comparison hashes both sides and compares the digests in constant time, so neither the
//! token's content nor its length shows in the time a wrong guess takes.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::AdminError;
use crate::cluster::config::AdminSecurity;

/// The message of every refused call (the same whether the token is missing or wrong).
pub const AUTH_ERROR: &str = "admin token missing or wrong: pass --token or TRIBUTARY_TOKEN";

/// Checks each call's bearer token against the configured one.
#[derive(Clone)]
pub struct TokenCheck {
    expected: Option<Arc<[u8; 32]>>,
}

impl TokenCheck {
    /// Reads the token the node file names (a file's first line, or an environment variable).
    pub fn from_config(security: &AdminSecurity) -> Result<TokenCheck, AdminError> {
        let token = match (&security.token_file, &security.token_env) {
            (Some(path), _) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| AdminError::ReadFile {
                        what: "token_file",
                        path: path.clone(),
                        source,
                    })?;
                Some(first_line(
                    &text,
                    &format!("token file {}", path.display()),
                )?)
            }
            (None, Some(var)) => {
                let text = std::env::var(var).map_err(|_| {
                    AdminError::Token(format!(
                        "admin.token_env names {var}, which is not set: export it before starting the worker"
                    ))
                })?;
                Some(first_line(&text, &format!("environment variable {var}"))?)
            }
            (None, None) => None,
        };
        Ok(TokenCheck::new(token.as_deref()))
    }

    /// Requires `token` on every call (`None`: no token required).
    pub fn new(token: Option<&str>) -> TokenCheck {
        TokenCheck {
            expected: token.map(|t| Arc::new(digest(t.as_bytes()))),
        }
    }

    /// Whether an `authorization` header value carries the expected token.
    fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(expected) = &self.expected else {
            return true;
        };
        let Some(token) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        constant_time_eq(&digest(token), expected)
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let header = req.metadata().get("authorization").map(|v| v.as_bytes());
        if self.accepts(header) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(AUTH_ERROR))
        }
    }
}

fn first_line(text: &str, origin: &str) -> Result<String, AdminError> {
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(AdminError::Token(format!(
            "{origin} is empty: put a random token in it (e.g. `openssl rand -hex 32`)"
        )));
    }
    Ok(token.to_owned())
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal digests, in a time that does not depend on where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let check = TokenCheck::new(Some("s3cret"));
        assert!(check.accepts(Some(b"Bearer s3cret")));
        for bad in [
            None,
            Some(&b"Bearer s3cre"[..]),
            Some(b"Bearer s3cret "),
            Some(b"bearer s3cret"),
            Some(b"s3cret"),
            Some(b"Bearer "),
        ] {
            assert!(
                !check.accepts(bad),
                "{:?}",
                bad.map(String::from_utf8_lossy)
            );
        }
        assert!(TokenCheck::new(None).accepts(None));
    }

    #[test]
    fn the_token_comes_from_the_file_or_the_environment_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let sec = AdminSecurity {
            token_file: Some(file.clone()),
            ..AdminSecurity::default()
        };
        assert!(TokenCheck::from_config(&sec)
            .unwrap()
            .accepts(Some(b"Bearer from-file")));
        std::fs::write(&file, "  \n").unwrap();
        let e = TokenCheck::from_config(&sec).err().unwrap().to_string();
        assert!(e.contains("is empty"), "{e}");
        let var = "TRIBUTARY_ADMIN_TEST_TOKEN_UNSET_9F3";
        let sec = AdminSecurity {
            token_env: Some(var.into()),
            ..AdminSecurity::default()
        };
        let e = TokenCheck::from_config(&sec).err().unwrap().to_string();
        assert!(e.contains(var) && e.contains("not set"), "{e}");
    }
}
