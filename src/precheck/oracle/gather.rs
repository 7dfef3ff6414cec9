//! The Oracle precheck of one task: connect through a `Connector`, read the database's facts
//! where LogMiner runs, then the selected owners' tables and their facts where the tables are
//! (the PDB, as the source reads its dictionary), match them (`facts_of`) and judge them
//! (`super::check`), with `source_connect`, `selection` and `table_count`, then the broker's
//! items when the context asks for them.
//!
//! ```text
//!  TaskSpec ─► OracleSourceOptions (owners, selection, phases, pdb)
//!           ─► connect ─► database_facts (CDB$ROOT with a PDB) ──────────────┐
//!                      ─► [SET CONTAINER pdb] ─► tables(owners) ∩ selection ─┤
//!                                            ─► table_facts(owners) ─────────┴► facts_of
//!           ─► check + table_count ─► Report (ITEMS order, accepted warnings)
//! ```
//! A failed connection or fact query is one failed `source_connect` item naming the server
//! and the fix; the items that needed it are left out, as PostgreSQL's report does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::{check, OraTableFacts, OracleFacts};
use crate::config::{OracleConnect, OracleTarget, TaskSpec};
use crate::precheck::source::SourceFacts;
use crate::precheck::{broker, tables, Context, Item, Report};
use crate::source::oracle::dictionary::table_schema;
use crate::source::oracle::session::{
    Connector, DatabaseFacts, DictTable, OracleSession, SessionError, TableFacts,
};
use crate::source::oracle::source::{OracleSourceError, OracleSourceOptions};

/// Why many tables weigh on an Oracle task.
const ORA_MANY_TABLES: &str = "every start reads each one's dictionary rows, the full load reads them all at one SCN, and each DDL on them is followed by a dictionary read";

/// What `gather` read.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// What the items judge.
    pub facts: OracleFacts,
    /// The release as the database names it (`DatabaseFacts::version`).
    pub version: String,
    /// The selected tables, in the selection's order.
    pub tables: Vec<DictTable>,
}

/// Reads the database's facts in the session's container (the CDB's root, where LogMiner
/// runs, when `opts.pdb` names a PDB), then in the PDB the owners' tables (keeping those the
/// selection includes) and their facts, into `OracleFacts`.
pub async fn gather<S: OracleSession>(
    session: &mut S,
    opts: &OracleSourceOptions,
) -> Result<Gathered, SessionError> {
    let db = session.database_facts().await?;
    if let Some(pdb) = &opts.pdb {
        session.set_container(pdb).await?;
    }
    let sel = &opts.selection;
    let mut tables: Vec<DictTable> = session
        .tables(&opts.owners, None)
        .await?
        .into_iter()
        .filter(|d| sel.includes(&d.table.owner, &d.table.name))
        .collect();
    tables.sort_by_key(|d| {
        (
            sel.first_match(&d.table.owner, &d.table.name),
            d.table.name.clone(),
        )
    });
    let of_tables = session.table_facts(&opts.owners).await?;
    let version = db.version.clone();
    let facts = facts_of(db, of_tables, &tables, opts.full, opts.incremental)
        .map_err(SessionError::Client)?;
    Ok(Gathered {
        facts,
        version,
        tables,
    })
}

/// The facts of `tables` (the selected ones) from the database's answers: ALL COLUMNS
/// logging and segment bytes matched by owner and name (a table without a segment holds 0
/// bytes), the key the dictionary chose. Fails only on a version it cannot read.
pub fn facts_of(
    raw: DatabaseFacts,
    of_tables: TableFacts,
    tables: &[DictTable],
    full: bool,
    incremental: bool,
) -> Result<OracleFacts, String> {
    let version = parse_version(&raw.version).ok_or_else(|| {
        format!(
            "the database's release {:?} (PRODUCT_COMPONENT_VERSION) is not a version number",
            raw.version
        )
    })?;
    let logged: HashSet<(&str, &str)> = of_tables
        .all_columns_logged
        .iter()
        .map(|(o, t)| (o.as_str(), t.as_str()))
        .collect();
    let sizes: HashMap<(&str, &str), u64> = of_tables
        .segment_bytes
        .iter()
        .map(|(o, t, b)| ((o.as_str(), t.as_str()), *b))
        .collect();
    let tables = tables
        .iter()
        .map(|d| {
            let (owner, name) = (d.table.owner.as_str(), d.table.name.as_str());
            OraTableFacts {
                owner: owner.to_owned(),
                name: name.to_owned(),
                all_columns_logged: logged.contains(&(owner, name)),
                has_key: d.table.columns.iter().any(|c| c.is_key),
                bytes: Some(sizes.get(&(owner, name)).copied().unwrap_or(0)),
            }
        })
        .collect();
    Ok(OracleFacts {
        version,
        supplemental_min: ["YES", "IMPLICIT"]
            .iter()
            .any(|y| raw.supplemental_min.trim().eq_ignore_ascii_case(y)),
        supplemental_all: raw.supplemental_all.trim().eq_ignore_ascii_case("YES"),
        log_mode: raw.log_mode,
        privileges: raw
            .privileges
            .iter()
            .map(|p| p.to_ascii_uppercase())
            .collect(),
        archived_logs_reach: raw.archived_logs_reach_secs.map(Duration::from_secs),
        undo_retention: Duration::from_secs(raw.undo_retention_secs),
        full,
        incremental,
        tables,
    })
}

/// `(major, minor)` of a release such as `19.0.0.0.0`, `12.1.0.2.0` or `Release 23.4.0.24.05`
/// (the first word that starts with a digit).
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let word = v
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = word.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(m) => m.parse().ok()?,
        None => 0,
    };
    Some((major, minor))
}

/// The precheck of Oracle task `spec` on `connector`'s sessions: the source's items, the
/// broker's when `ctx.broker`, warnings accepted by the task file or the context.
pub async fn run_oracle<C: Connector>(spec: &TaskSpec, connector: &C, ctx: &Context) -> Report {
    let mut items = Vec::new();
    let sized = source_items(spec, connector, &mut items).await;
    if ctx.broker {
        broker::check(spec, sized, &mut items).await;
    }
    Report::new(&spec.name, items, &crate::precheck::accepted(spec, ctx))
}

/// The source's items; the selected tables and their size when they could be read.
async fn source_items<C: Connector>(
    spec: &TaskSpec,
    connector: &C,
    out: &mut Vec<Item>,
) -> Option<SourceFacts> {
    let (opts, connect) = match options(spec) {
        Ok(o) => o,
        Err(item) => {
            out.push(item);
            return None;
        }
    };
    let server = server(&connect);
    let gathered = match connector.connect().await {
        Ok(mut session) => gather(&mut session, &opts).await.map_err(|e| {
            Item::fail(
                "source_connect",
                format!("connected to {server}, but reading the precheck's facts failed: {e}; the other source items were not checked"),
                "run scripts/oracle/grants.sql as SYSDBA (SELECT ANY DICTIONARY reads the V$ views and DBA_SEGMENTS), then run the precheck again",
            )
        }),
        Err(e) => Err(Item::fail(
            "source_connect",
            format!("connecting to {server} as {} failed: {e}; the other source items were not checked", connect.user),
            "check source.host, source.port and source.service_name (or sid), that the listener runs and serves that service, and the user and password; then run the precheck again",
        )),
    };
    let g = match gathered {
        Ok(g) => g,
        Err(item) => {
            out.push(item);
            return None;
        }
    };
    out.push(Item::pass(
        "source_connect",
        format!(
            "connected to {server} as {}: Oracle {}",
            connect.user, g.version
        ),
    ));
    out.push(selection(&opts, &g.tables));
    out.push(tables::table_count(g.tables.len(), ORA_MANY_TABLES));
    out.extend(check(&g.facts));
    Some(SourceFacts {
        tables: g
            .tables
            .iter()
            .map(|d| Arc::new(table_schema(&d.table)))
            .collect(),
        bytes: Some(g.facts.tables.iter().filter_map(|t| t.bytes).sum()),
    })
}

/// The task's source options and connection settings, or the item saying what is wrong.
fn options(spec: &TaskSpec) -> Result<(OracleSourceOptions, OracleConnect), Item> {
    let opts = OracleSourceOptions::from_spec(spec, 0).map_err(|e| {
        let (name, fix) = match &e {
            crate::config::ConfigError::Invalid {
                field: "objects.tables",
                ..
            } => ("selection", "fix objects.tables"),
            _ => ("source_connect", "fix the task file's [source]"),
        };
        Item::fail(name, e.to_string(), fix)
    })?;
    let connect = OracleConnect::from_spec(&spec.source).map_err(|e| {
        Item::fail(
            "source_connect",
            e.to_string(),
            "fix the task file's [source]",
        )
    })?;
    Ok((opts, connect))
}

/// `host:port/SERVICE` (or `host:port SID ORCL`), as the failure and pass lines name it.
fn server(c: &OracleConnect) -> String {
    match &c.target {
        OracleTarget::ServiceName(s) => format!("{}:{}/{s}", c.host, c.port),
        OracleTarget::Sid(s) => format!("{}:{} SID {s}", c.host, c.port),
    }
}

/// The selected tables, or a failure when the selection names none the user can see.
fn selection(opts: &OracleSourceOptions, tables: &[DictTable]) -> Item {
    const N: &str = "selection";
    if tables.is_empty() {
        let e = OracleSourceError::NothingSelected {
            owners: opts.owners.join(", "),
        };
        return Item::fail(N, e.to_string(), "fix objects.tables");
    }
    let names: Vec<String> = tables
        .iter()
        .take(5)
        .map(|d| d.table.qualified_name())
        .collect();
    let more = match tables.len() - names.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Item::pass(
        N,
        format!(
            "{} table(s) selected: {}{more}",
            tables.len(),
            names.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests;
