//! The `[source]` settings of an Oracle source (`kind = "oracle"`): where the database is
//! (host, port, service name or SID, an optional PDB), who mines (user and password, the
//! password also from a file or a variable as for PostgreSQL), TLS, and the LogMiner window
//! bounds. Validated when the task is read; `OracleConnect` is what the session connects with.

use std::time::Duration;

use super::{resolve_password, ConfigError, SourceSpec};

/// Oracle's listener port.
pub const DEFAULT_PORT: u16 = 1521;
/// The smallest LogMiner window, in SCNs: a busy database's windows shrink to this.
pub const DEFAULT_WINDOW_MIN: u64 = 1_000;
/// The largest LogMiner window, in SCNs: a quiet database's windows grow to this, so an idle
/// stretch of redo is crossed in few LogMiner sessions.
pub const DEFAULT_WINDOW_MAX: u64 = 100_000;

/// How old a `CURRENT_SCN` reading must be before a window mines up to it: Oracle's log
/// writer writes the redo buffer at least every three seconds (and at every commit), so by
/// then every change below that SCN is in the online log LogMiner reads, on every RAC
/// instance.
pub const DEFAULT_FLUSH_DELAY: Duration = Duration::from_secs(5);
/// The longest `logminer_flush_delay` taken: more only adds latency.
pub const MAX_FLUSH_DELAY: Duration = Duration::from_secs(300);

/// Which database service the connection names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OracleTarget {
    /// `SERVICE_NAME`: the usual way, and the only way to a PDB or through a RAC SCAN/VIP.
    ServiceName(String),
    /// `SID`: an instance of a non-CDB, the older way.
    Sid(String),
}

/// A validated Oracle connection and mining setup.
#[derive(Clone, PartialEq, Eq)]
pub struct OracleConnect {
    pub host: String,
    pub port: u16,
    pub target: OracleTarget,
    pub user: String,
    pub password: String,
    /// The PDB whose changes are captured (rows filtered by `SRC_CON_NAME`) while the session
    /// mines in `CDB$ROOT`, as LogMiner requires before 21c.
    pub pdb: Option<String>,
    /// `tcps` instead of `tcp`.
    pub tls: bool,
    /// A directory holding `ewallet.pem` (the CA certificates to trust, for `tls`).
    pub wallet_location: Option<String>,
    pub window_min: u64,
    pub window_max: u64,
    /// `logminer_memory_budget` in bytes.
    pub memory_budget: u64,
    /// `logminer_spill_dir`.
    pub spill_dir: Option<String>,
    /// `logminer_dictionary`.
    pub dictionary: LogMinerDictionary,
    /// `logminer_flush_delay`.
    pub flush_delay: Duration,
}

/// Where LogMiner takes the dictionary that names each mined row's table and columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogMinerDictionary {
    /// The database's current dictionary (`DICT_FROM_ONLINE_CATALOG`): fast, and right while
    /// mining keeps up; a row mined after a later DDL on its table is rendered by the new
    /// definition.
    #[default]
    OnlineCatalog,
    /// A dictionary built into the redo (`DBMS_LOGMNR_D.BUILD`) and kept current through the
    /// mined DDL (`DICT_FROM_REDO_LOGS + DDL_DICT_TRACKING`): every row is rendered by its
    /// table's definition at its SCN, however far mining lags.
    RedoLogs,
}

impl LogMinerDictionary {
    fn parse(s: &SourceSpec) -> Result<LogMinerDictionary, ConfigError> {
        match s.logminer_dictionary.as_deref() {
            None | Some("online_catalog") => Ok(LogMinerDictionary::OnlineCatalog),
            Some("redo_logs") => Ok(LogMinerDictionary::RedoLogs),
            Some(other) => Err(ConfigError::Invalid {
                field: "source.logminer_dictionary",
                constraint: format!(
                    "{other:?} is not a dictionary source: give \"online_catalog\" (the default) or \"redo_logs\" (tracks DDL while mining lags)"
                ),
            }),
        }
    }
}

impl std::fmt::Debug for OracleConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleConnect")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("target", &self.target)
            .field("user", &self.user)
            .field("password", &"***")
            .field("pdb", &self.pdb)
            .field("tls", &self.tls)
            .field("wallet_location", &self.wallet_location)
            .finish()
    }
}

impl OracleConnect {
    /// The settings of `source` (validated by `validate`), the password read from its file or
    /// variable when it names one.
    pub fn from_spec(source: &SourceSpec) -> Result<OracleConnect, ConfigError> {
        validate(source)?;
        let password = match resolve_password(source)? {
            Some(p) => p,
            None => source.password.clone().unwrap_or_default(),
        };
        let target = match (&source.service_name, &source.sid) {
            (Some(s), _) => OracleTarget::ServiceName(s.clone()),
            (None, Some(s)) => OracleTarget::Sid(s.clone()),
            (None, None) => unreachable!("validate requires one"),
        };
        Ok(OracleConnect {
            host: source.host.clone().unwrap_or_default(),
            port: source.port.unwrap_or(DEFAULT_PORT),
            target,
            user: source.user.clone().unwrap_or_default(),
            password,
            pdb: source.pdb.clone(),
            tls: source.tls.unwrap_or(false),
            wallet_location: source.wallet_location.clone(),
            window_min: source.logminer_window_min.unwrap_or(DEFAULT_WINDOW_MIN),
            window_max: source.logminer_window_max.unwrap_or(DEFAULT_WINDOW_MAX),
            memory_budget: memory_budget(source)?,
            spill_dir: source.logminer_spill_dir.clone(),
            dictionary: LogMinerDictionary::parse(source)?,
            flush_delay: source.logminer_flush_delay.unwrap_or(DEFAULT_FLUSH_DELAY),
        })
    }

    /// The connect descriptor, e.g.
    /// `(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=ORCL)))`.
    pub fn descriptor(&self) -> String {
        let data = match &self.target {
            OracleTarget::ServiceName(s) => format!("SERVICE_NAME={s}"),
            OracleTarget::Sid(s) => format!("SID={s}"),
        };
        format!(
            "(DESCRIPTION=(ADDRESS=(PROTOCOL={})(HOST={})(PORT={}))(CONNECT_DATA=({data})))",
            if self.tls { "TCPS" } else { "TCP" },
            self.host,
            self.port
        )
    }
}

/// Characters a descriptor value cannot hold unquoted.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '=' | '"' | '\'' | '\\'))
}

/// The Oracle settings of `source`, one error naming the setting and the fix.
pub(super) fn validate(s: &SourceSpec) -> Result<(), ConfigError> {
    let invalid = |field, constraint: &str| {
        Err(ConfigError::Invalid {
            field,
            constraint: constraint.to_owned(),
        })
    };
    if !s.url.is_empty() {
        return invalid(
            "source.url",
            "an Oracle source is named by host, port and service_name or sid, not a URL: remove url",
        );
    }
    match s.host.as_deref() {
        None | Some("") => {
            return invalid(
                "source.host",
                "name the Oracle server (a RAC's SCAN or VIP), e.g. host = \"db.example.com\"",
            )
        }
        Some(h) if !plain(h) => {
            return invalid(
                "source.host",
                "a host name or address, without spaces or ()=",
            )
        }
        Some(_) => {}
    }
    if s.port == Some(0) {
        return invalid("source.port", "a TCP port, 1521 by default");
    }
    match (&s.service_name, &s.sid) {
        (Some(_), Some(_)) => {
            return invalid(
                "source.service_name",
                "give service_name or sid, not both (service_name for a PDB or RAC)",
            )
        }
        (None, None) => {
            return invalid(
                "source.service_name",
                "name the database: service_name = \"ORCLCDB\" (or sid = \"ORCL\")",
            )
        }
        (Some(v), None) | (None, Some(v)) if !plain(v) => {
            return invalid(
                if s.sid.is_some() {
                    "source.sid"
                } else {
                    "source.service_name"
                },
                "a service name or SID, without spaces or ()=",
            )
        }
        _ => {}
    }
    if s.user.as_deref().is_none_or(str::is_empty) {
        return invalid(
            "source.user",
            "name the mining user, e.g. user = \"C##TRIBUTARY\" (see the README's GRANT script)",
        );
    }
    let sources = [
        s.password.is_some(),
        s.password_file.is_some(),
        s.password_env.is_some(),
    ];
    match sources.iter().filter(|b| **b).count() {
        0 => {
            return invalid(
                "source.password",
                "give password, password_file or password_env",
            )
        }
        1 => {}
        _ => {
            return invalid(
                "source.password",
                "give one of password, password_file or password_env, not several",
            )
        }
    }
    if let Some(pdb) = s.pdb.as_deref() {
        if !plain(pdb) {
            return invalid("source.pdb", "a PDB name such as \"ORCLPDB1\"");
        }
    }
    if s.ssl_root_cert.is_some() {
        return invalid(
            "source.ssl_root_cert",
            "an Oracle source trusts the CAs of wallet_location (a directory holding ewallet.pem): use that with tls = true",
        );
    }
    if s.wallet_location.is_some() && s.tls != Some(true) {
        return invalid(
            "source.wallet_location",
            "a wallet is only used with tls = true: add it or remove wallet_location",
        );
    }
    let min = s.logminer_window_min.unwrap_or(DEFAULT_WINDOW_MIN);
    let max = s.logminer_window_max.unwrap_or(DEFAULT_WINDOW_MAX);
    if min == 0 {
        return invalid(
            "source.logminer_window_min",
            "at least 1 SCN (default 1000)",
        );
    }
    if min > max {
        return invalid(
            "source.logminer_window_max",
            &format!("must be at least logminer_window_min ({min}); defaults 1000 and 100000"),
        );
    }
    memory_budget(s)?;
    LogMinerDictionary::parse(s)?;
    if s.logminer_flush_delay.is_some_and(|d| d > MAX_FLUSH_DELAY) {
        return invalid(
            "source.logminer_flush_delay",
            "at most \"5m\": the log writer writes within seconds; the default is \"5s\"",
        );
    }
    if s.logminer_spill_dir
        .as_deref()
        .is_some_and(|d| d.trim().is_empty())
    {
        return invalid(
            "source.logminer_spill_dir",
            "the directory is empty: name one or leave it out (default: the system's temporary directory)",
        );
    }
    Ok(())
}

/// Bytes of open transactions held in memory before one spills: the default, 64 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 64 << 20;

/// `logminer_memory_budget` in bytes (at least 64 KiB), or the default.
fn memory_budget(s: &SourceSpec) -> Result<u64, ConfigError> {
    let Some(text) = &s.logminer_memory_budget else {
        return Ok(DEFAULT_MEMORY_BUDGET);
    };
    let invalid = |constraint: String| ConfigError::Invalid {
        field: "source.logminer_memory_budget",
        constraint,
    };
    let bytes = super::health::parse_size(text).map_err(invalid)?;
    if bytes < 64 << 10 {
        return Err(invalid(format!(
            "{text:?} is below 64KiB: give a size such as \"64MiB\" (the default)"
        )));
    }
    Ok(bytes)
}

/// A PostgreSQL source takes none of the Oracle settings: the first one set, by name.
pub(super) fn first_oracle_setting(s: &SourceSpec) -> Option<&'static str> {
    [
        ("source.host", s.host.is_some()),
        ("source.port", s.port.is_some()),
        ("source.service_name", s.service_name.is_some()),
        ("source.sid", s.sid.is_some()),
        ("source.user", s.user.is_some()),
        ("source.password", s.password.is_some()),
        ("source.pdb", s.pdb.is_some()),
        ("source.tls", s.tls.is_some()),
        ("source.wallet_location", s.wallet_location.is_some()),
        (
            "source.logminer_window_min",
            s.logminer_window_min.is_some(),
        ),
        (
            "source.logminer_window_max",
            s.logminer_window_max.is_some(),
        ),
        (
            "source.logminer_memory_budget",
            s.logminer_memory_budget.is_some(),
        ),
        ("source.logminer_spill_dir", s.logminer_spill_dir.is_some()),
        (
            "source.logminer_dictionary",
            s.logminer_dictionary.is_some(),
        ),
        (
            "source.logminer_flush_delay",
            s.logminer_flush_delay.is_some(),
        ),
    ]
    .into_iter()
    .find_map(|(name, set)| set.then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SourceKind, TaskSpec};

    const ORACLE: &str = r#"
name = "erp"
[source]
kind = "oracle"
host = "db.example.com"
service_name = "ORCLCDB"
user = "C##TRIBUTARY"
password = "secret"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:9092"
[objects]
tables = ["HR.*"]
"#;

    fn err(text: &str) -> String {
        TaskSpec::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_oracle_source_parses_with_defaults() {
        let t = TaskSpec::parse(ORACLE).unwrap();
        assert_eq!(t.source.kind, SourceKind::Oracle);
        let c = OracleConnect::from_spec(&t.source).unwrap();
        assert_eq!(c.port, 1521);
        assert_eq!(c.target, OracleTarget::ServiceName("ORCLCDB".into()));
        assert_eq!((c.window_min, c.window_max), (1_000, 100_000));
        assert_eq!(
            c.descriptor(),
            "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=db.example.com)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=ORCLCDB)))"
        );
        assert!(!format!("{c:?}").contains("secret"));
        let sid = ORACLE.replace("service_name = \"ORCLCDB\"", "sid = \"ORCL\"\nport = 1522\ntls = true\nwallet_location = \"/etc/wallet\"\npdb = \"PDB1\"");
        let c = OracleConnect::from_spec(&TaskSpec::parse(&sid).unwrap().source).unwrap();
        assert_eq!(
            c.descriptor(),
            "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCPS)(HOST=db.example.com)(PORT=1522))(CONNECT_DATA=(SID=ORCL)))"
        );
        assert_eq!(c.pdb.as_deref(), Some("PDB1"));
        assert!(crate::config::redact_toml(ORACLE).contains("password = \"***\""));
    }

    #[test]
    fn the_password_comes_from_a_file_or_a_variable_as_for_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\n").unwrap();
        let text = ORACLE.replace(
            "password = \"secret\"",
            &format!("password_file = {:?}", path.display().to_string()),
        );
        let t = TaskSpec::parse(&text).unwrap();
        assert_eq!(
            OracleConnect::from_spec(&t.source).unwrap().password,
            "from-file"
        );
        let text = ORACLE.replace("password = \"secret\"", "password_env = \"PATH\"");
        let t = TaskSpec::parse(&text).unwrap();
        assert_eq!(
            OracleConnect::from_spec(&t.source).unwrap().password,
            std::env::var("PATH").unwrap()
        );
    }

    #[test]
    fn the_memory_budget_and_spill_directory_are_settings() {
        let t = TaskSpec::parse(ORACLE).unwrap();
        let c = OracleConnect::from_spec(&t.source).unwrap();
        assert_eq!((c.memory_budget, c.spill_dir), (64 << 20, None));
        let text = ORACLE.replace(
            "password = \"secret\"",
            "password = \"secret\"\nlogminer_memory_budget = \"16MiB\"\nlogminer_spill_dir = \"/var/spill\"",
        );
        let c = OracleConnect::from_spec(&TaskSpec::parse(&text).unwrap().source).unwrap();
        assert_eq!(c.memory_budget, 16 << 20);
        assert_eq!(c.spill_dir.as_deref(), Some("/var/spill"));
    }

    #[test]
    fn the_dictionary_source_and_the_flush_delay_are_settings() {
        let t = TaskSpec::parse(ORACLE).unwrap();
        let c = OracleConnect::from_spec(&t.source).unwrap();
        assert_eq!(c.dictionary, LogMinerDictionary::OnlineCatalog);
        let with = |v: &str| {
            ORACLE.replace(
                "password = \"secret\"",
                &format!("password = \"secret\"\nlogminer_dictionary = \"{v}\""),
            )
        };
        let c =
            OracleConnect::from_spec(&TaskSpec::parse(&with("redo_logs")).unwrap().source).unwrap();
        assert_eq!(c.dictionary, LogMinerDictionary::RedoLogs);
        assert_eq!(c.flush_delay, DEFAULT_FLUSH_DELAY);
        let delayed = ORACLE.replace(
            "password = \"secret\"",
            "password = \"secret\"\nlogminer_flush_delay = \"250ms\"",
        );
        let c = OracleConnect::from_spec(&TaskSpec::parse(&delayed).unwrap().source).unwrap();
        assert_eq!(c.flush_delay, Duration::from_millis(250));
        let e = err(&delayed.replace("250ms", "1h"));
        assert!(
            e.contains("source.logminer_flush_delay") && !e.contains('\n'),
            "{e}"
        );
        let e = err(&with("redo"));
        assert!(
            e.contains("source.logminer_dictionary")
                && e.contains("\"redo_logs\"")
                && !e.contains('\n'),
            "{e}"
        );
    }

    #[test]
    fn bad_oracle_settings_are_refused_in_one_line_naming_the_setting() {
        let cases: &[(&str, &str, &str)] = &[
            ("host = \"db.example.com\"\n", "", "source.host"),
            (
                "service_name = \"ORCLCDB\"",
                "service_name = \"ORCLCDB\"\nsid = \"ORCL\"",
                "source.service_name",
            ),
            ("service_name = \"ORCLCDB\"", "", "source.service_name"),
            ("user = \"C##TRIBUTARY\"", "", "source.user"),
            ("password = \"secret\"", "", "source.password"),
            (
                "password = \"secret\"",
                "password = \"secret\"\npassword_env = \"X\"",
                "source.password",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nport = 0",
                "source.port",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nurl = \"postgres://x@h/db\"",
                "source.url",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nwallet_location = \"/w\"",
                "source.wallet_location",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nssl_root_cert = \"/ca.pem\"",
                "source.ssl_root_cert",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nlogminer_window_min = 0",
                "source.logminer_window_min",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nlogminer_window_min = 5000\nlogminer_window_max = 10",
                "source.logminer_window_max",
            ),
            (
                "host = \"db.example.com\"",
                "host = \"db (x)\"",
                "source.host",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nlogminer_memory_budget = \"1KiB\"",
                "source.logminer_memory_budget",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nlogminer_memory_budget = \"lots\"",
                "source.logminer_memory_budget",
            ),
            (
                "password = \"secret\"",
                "password = \"secret\"\nlogminer_spill_dir = \" \"",
                "source.logminer_spill_dir",
            ),
        ];
        for (from, to, field) in cases {
            let e = err(&ORACLE.replacen(from, to, 1));
            assert!(e.contains(field) && !e.contains('\n'), "{field}: {e}");
        }
    }

    #[test]
    fn a_postgres_source_takes_no_oracle_setting() {
        let pg = ORACLE
            .replace(
                "kind = \"oracle\"",
                "kind = \"postgres\"\nurl = \"postgres://u@h/db\"",
            )
            .replace("host = \"db.example.com\"\n", "")
            .replace("service_name = \"ORCLCDB\"\n", "")
            .replace("user = \"C##TRIBUTARY\"\n", "")
            .replace("password = \"secret\"\n", "");
        TaskSpec::parse(&pg).unwrap();
        let e = err(&pg.replace("[destination]", "sid = \"ORCL\"\n[destination]"));
        assert!(e.contains("source.sid") && e.contains("oracle"), "{e}");
        let e = err(&pg.replace("url = \"postgres://u@h/db\"\n", ""));
        assert!(e.contains("source.url"), "{e}");
    }

    #[test]
    fn an_oracle_task_runs_only_in_a_build_with_the_oracle_client() {
        let t = TaskSpec::parse(ORACLE).unwrap();
        let wired = t.wired_source().map_err(|e| e.to_string());
        if cfg!(feature = "oracle") {
            assert_eq!(wired, Ok(()));
        } else {
            let e = wired.unwrap_err();
            assert!(e.contains("--features oracle") && !e.contains('\n'), "{e}");
        }
    }
}
