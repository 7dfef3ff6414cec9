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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(file: Option<String>, env: Option<&str>) -> SourceSpec {
        let text = "name = \"t\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n[destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n[objects]\ntables = [\"public.t\"]\n";
        let mut s = crate::config::TaskSpec::parse(text).unwrap().source;
        s.password_file = file;
        s.password_env = env.map(str::to_owned);
        s
    }

    #[test]
    fn password_comes_from_a_file_or_a_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        let from_file = resolve_password(&source(Some(path.display().to_string()), None)).unwrap();
        assert_eq!(from_file.as_deref(), Some("s3cret"));
        assert_eq!(
            resolve_password(&source(None, Some("PATH"))).unwrap(),
            std::env::var("PATH").ok()
        );
        assert_eq!(resolve_password(&source(None, None)).unwrap(), None);
        let missing =
            resolve_password(&source(None, Some("TRIBUTARY_SURELY_UNSET_VAR"))).unwrap_err();
        assert!(missing.to_string().contains("TRIBUTARY_SURELY_UNSET_VAR"));
        let unreadable =
            resolve_password(&source(Some("/nonexistent/pw".into()), None)).unwrap_err();
        assert!(unreadable.to_string().contains("source.password_file"));
    }
}
