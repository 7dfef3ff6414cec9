//! Where the source password comes from: the URL, a file or an environment variable.

use super::{ConfigError, SourceSpec};

/// The password to use instead of the URL's, if the task names a file or a variable.
pub fn resolve_password(source: &SourceSpec) -> Result<Option<String>, ConfigError> {
    if let Some(path) = &source.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            field: "source.password_file",
            constraint: format!("cannot read {path}: {e}"),
        })?;
        return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
    }
    if let Some(var) = &source.password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                field: "source.password_env",
                constraint: format!("environment variable {var} is not set"),
            });
    }
    Ok(None)
}
