//! IvorySQL's Oracle-mode port (and any Oracle-compatible PostgreSQL that reports its parser the
//! same way): one server listens on two ports, and the port decides the session's parser
//! (`ivorysql.compatible_mode`). Under the Oracle parser quoted identifiers have their case
//! swapped and `''` is NULL, so the catalog queries and the snapshot's `COPY` would read other
//! tables than the task names. Every SQL session of a task therefore switches itself to the
//! PostgreSQL parser (the setting is user-settable); a server that refuses the switch is
//! refused with the PostgreSQL-mode port to use (`shared/reference/ORACLE-COMPATIBLE-PG.md`).

use tokio_postgres::Client;

use super::error::PgSourceError;

/// The session's parser (`pg`, `oracle`; NULL on servers without the setting) and the
/// server's PostgreSQL-mode port.
const MODE_QUERY: &str =
    "SELECT current_setting('ivorysql.compatible_mode', true), current_setting('port')";

/// The parser a session must use.
const PG_PARSER: &str = "pg";

/// Switches a session opened on an Oracle-mode port to the PostgreSQL parser; `target` names
/// the server as the task reaches it (for the error).
pub async fn use_postgres_parser(client: &Client, target: &str) -> Result<(), PgSourceError> {
    let (mode, pg_port) = session_mode(client).await?;
    if !needs_switch(mode.as_deref()) {
        return Ok(());
    }
    let switched = client
        .batch_execute(&format!("SET ivorysql.compatible_mode = {PG_PARSER}"))
        .await
        .is_ok();
    let (mode, _) = session_mode(client).await?;
    if switched && !needs_switch(mode.as_deref()) {
        tracing::debug!(
            target,
            "Oracle-mode port: session switched to the PostgreSQL parser"
        );
        return Ok(());
    }
    Err(PgSourceError::OracleModePort {
        target: target.to_owned(),
        pg_port,
    })
}

async fn session_mode(client: &Client) -> Result<(Option<String>, String), PgSourceError> {
    let row = client
        .query_one(MODE_QUERY, &[])
        .await
        .map_err(|e| PgSourceError::sql("reading the session's SQL parser mode", e))?;
    Ok((row.get(0), row.get(1)))
}

/// Whether a session in `mode` parses SQL other than PostgreSQL's.
fn needs_switch(mode: Option<&str>) -> bool {
    mode.is_some_and(|m| !m.eq_ignore_ascii_case(PG_PARSER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_postgres_parser_needs_the_switch() {
        assert!(!needs_switch(None));
        assert!(!needs_switch(Some("pg")));
        assert!(needs_switch(Some("oracle")));
        let e = PgSourceError::OracleModePort {
            target: "127.0.0.1:1521/postgres".into(),
            pg_port: "5432".into(),
        };
        let line = e.to_string();
        assert!(
            line.contains("1521") && line.contains("port 5432"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
