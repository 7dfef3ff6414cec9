//! Splitting a task into shards at creation (`sharding = "none" | "schema" | "table"`), on
//! the leader, against the source as it is then (RisingWave's split enumerator role).
//!
//! Each shard gets its own selectors, its own slot and publications (named by shard number),
//! and is run by one worker at a time. The selectors of a shard say what it captures later
//! too: `schema.*` stays `schema.*` (tables created in the schema later are captured), while
//! globs over table names are resolved to the tables they name now, as the source's
//! publication would (it lists such tables when it is created).

use std::sync::Arc;

use super::state::ShardPlan;
use crate::config::{qualified_name, Sharding, TableSelector, TaskSpec};
use crate::metrics::ShardLabels;
use crate::route::Routing;
use crate::source::postgres::PgSource;
use crate::source::Source;

/// The task's selection cannot be planned into shards; the message names the fix (callers
/// add which task).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// The shards of a new task, resolved against its source, numbered from 0.
///
/// Fails (one line naming the problem and the fix) when the source cannot be reached, a
/// selector matches nothing, the task's user lacks a privilege, or a table cannot be captured.
pub async fn plan_shards(spec: &TaskSpec) -> Result<Vec<ShardPlan>, PlanError> {
    let tables = crate::source::postgres::resolve_tables(spec)
        .await
        .map_err(|e| PlanError(e.to_string()))?;
    check_settings(spec).await?;
    let selectors: Vec<TableSelector> = spec
        .objects
        .tables
        .iter()
        .map(|t| TableSelector::parse(t).map_err(PlanError))
        .collect::<Result<_, _>>()?;
    let groups = match spec.sharding {
        Sharding::None => vec![spec.objects.tables.clone()],
        Sharding::Schema => by_schema(&spec.objects.tables, &selectors, &tables),
        Sharding::Table => by_table(&tables),
    };
    if groups.is_empty() {
        return Err(PlanError(format!(
            "task {}: objects.tables selects no existing table, and sharding = \"table\" makes one shard per table: create the tables first, or use sharding = \"schema\" or \"none\" (which capture tables created later under schema.*)",
            spec.name
        )));
    }
    Ok(groups
        .into_iter()
        .zip(0..)
        .map(|(tables, shard)| ShardPlan { shard, tables })
        .collect())
}

/// The precheck of a task being created (`crate::precheck`): refused with every blocking item
/// on one line when a check fails or a warning is not accepted (in the task file or in
/// `accepted`), before anything is planned.
pub async fn precheck(spec: &TaskSpec, accepted: &[String]) -> Result<(), PlanError> {
    let ctx = crate::precheck::Context {
        accept_warnings: accepted.to_vec(),
        ..crate::precheck::Context::new_task()
    };
    let report = crate::precheck::run(spec, &ctx).await;
    match report.refusal() {
        Some(line) => Err(PlanError(line)),
        None => Ok(()),
    }
}

/// The task's settings fit the source's tables as they are now: the routing (key columns,
/// renames, name collisions, per-table settings of unselected tables) and the format (types it
/// can carry). Refused here, a task that could not run is never created.
async fn check_settings(spec: &TaskSpec) -> Result<(), PlanError> {
    let fail = |e: &dyn std::fmt::Display| PlanError(e.to_string());
    let mut source = PgSource::from_spec(spec, 0).map_err(|e| fail(&e))?;
    let info = source.check().await.map_err(|e| fail(&e))?;
    let routing = Arc::new(Routing::new(spec));
    routing.check(&info.tables).map_err(|e| fail(&e))?;
    crate::format::build(spec, &info, &ShardLabels::new(&spec.name, 0), &routing)
        .map_err(|e| fail(&e))?;
    Ok(())
}

/// Where tables added to a running task go (`groups`: the added selectors split as the
/// task's sharding splits, `plan_shards` of them alone), given its `existing` shards. Under
/// `none` every group joins the one shard; under `schema` a group joins the shard of its
/// schema, or becomes a new one; under `table` each group is a new shard. Returns the shards
/// whose tables change, with their whole new selector list, and the new ones, numbered after
/// the last.
pub fn place_added(
    sharding: Sharding,
    existing: &[ShardPlan],
    groups: Vec<ShardPlan>,
) -> Vec<ShardPlan> {
    let mut out: Vec<ShardPlan> = Vec::new();
    for g in groups {
        let joins = match sharding {
            Sharding::None => existing.first(),
            Sharding::Schema => {
                let schema = schema_of(&g.tables);
                existing
                    .iter()
                    .find(|s| schema.is_some() && schema_of(&s.tables) == schema)
            }
            Sharding::Table => None,
        };
        let Some(shard) = joins else {
            let next = existing.iter().chain(&out).map(|s| s.shard + 1).max();
            out.push(ShardPlan {
                shard: next.unwrap_or(0),
                tables: g.tables,
            });
            continue;
        };
        let at = match out.iter().position(|p| p.shard == shard.shard) {
            Some(i) => i,
            None => {
                out.push(shard.clone());
                out.len() - 1
            }
        };
        for t in g.tables {
            if !out[at].tables.contains(&t) {
                out[at].tables.push(t);
            }
        }
    }
    out
}

/// The schema a shard's selectors share (a schema shard's all name one).
fn schema_of(selectors: &[String]) -> Option<String> {
    let first = TableSelector::parse(selectors.first()?).ok()?;
    Some(first.schema)
}

/// One shard per table, exact names, in name order.
fn by_table(tables: &[(String, String)]) -> Vec<Vec<String>> {
    let mut sorted = tables.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted
        .iter()
        .map(|(s, t)| vec![qualified_name(s, t)])
        .collect()
}

/// One shard per schema in name order: the schemas of the resolved tables and those named by
/// `schema.*` (which may hold no table yet).
fn by_schema(
    texts: &[String],
    selectors: &[TableSelector],
    tables: &[(String, String)],
) -> Vec<Vec<String>> {
    let mut schemas: Vec<&str> = tables
        .iter()
        .map(|(s, _)| s.as_str())
        .chain(selectors.iter().filter_map(|s| s.whole_schema()))
        .collect();
    schemas.sort();
    schemas.dedup();
    schemas
        .into_iter()
        .map(|schema| schema_selectors(schema, texts, selectors, tables))
        .collect()
}

/// The selectors of one schema's shard: the spec's `schema.*` and exact names in that schema,
/// as written, when it selects the whole schema; otherwise the exact names of its resolved
/// tables, in selection order.
fn schema_selectors(
    schema: &str,
    texts: &[String],
    selectors: &[TableSelector],
    tables: &[(String, String)],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if selectors.iter().any(|s| s.whole_schema() == Some(schema)) {
        for (text, sel) in texts.iter().zip(selectors) {
            let mine =
                sel.whole_schema() == Some(schema) || sel.exact().is_some_and(|(s, _)| s == schema);
            if mine && !out.contains(text) {
                out.push(text.clone());
            }
        }
        return out;
    }
    for (_, t) in tables.iter().filter(|(s, _)| s == schema) {
        let name = qualified_name(schema, t);
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(texts: &[&str]) -> (Vec<String>, Vec<TableSelector>) {
        let texts: Vec<String> = texts.iter().map(|s| s.to_string()).collect();
        let sels = texts
            .iter()
            .map(|t| TableSelector::parse(t).unwrap())
            .collect();
        (texts, sels)
    }

    fn tables(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(s, t)| (s.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn schema_shards_keep_whole_schemas_and_resolve_table_globs() {
        let (texts, sels) = sel(&["sales.orders", "inventory.*", "sales.line_*", "*.audit"]);
        let t = tables(&[
            ("sales", "orders"),
            ("inventory", "items"),
            ("sales", "line_a"),
            ("sales", "line_b"),
            ("ops", "audit"),
        ]);
        let shards = by_schema(&texts, &sels, &t);
        assert_eq!(
            shards,
            vec![
                vec!["inventory.*".to_string()],
                vec!["ops.audit".to_string()],
                vec![
                    "sales.orders".to_string(),
                    "sales.line_a".to_string(),
                    "sales.line_b".to_string()
                ],
            ]
        );
    }

    #[test]
    fn an_empty_whole_schema_still_gets_its_shard() {
        let (texts, sels) = sel(&["empty.*", "public.orders", "public.*"]);
        let t = tables(&[("public", "orders"), ("public", "a")]);
        let shards = by_schema(&texts, &sels, &t);
        assert_eq!(
            shards,
            vec![
                vec!["empty.*".to_string()],
                vec!["public.orders".to_string(), "public.*".to_string()],
            ]
        );
    }

    fn plans(list: &[(u32, &[&str])]) -> Vec<ShardPlan> {
        list.iter()
            .map(|(shard, t)| ShardPlan {
                shard: *shard,
                tables: t.iter().map(|s| s.to_string()).collect(),
            })
            .collect()
    }

    #[test]
    fn added_tables_join_the_shard_their_sharding_puts_them_in() {
        let existing = plans(&[(0, &["sales.orders"]), (1, &["ops.*"])]);
        let groups = plans(&[
            (0, &["ops.audit"]),
            (1, &["web.hits"]),
            (2, &["sales.refunds"]),
        ]);
        assert_eq!(
            place_added(Sharding::Schema, &existing, groups.clone()),
            plans(&[
                (1, &["ops.*", "ops.audit"]),
                (2, &["web.hits"]),
                (0, &["sales.orders", "sales.refunds"]),
            ])
        );
        assert_eq!(
            place_added(Sharding::None, &existing[..1], groups.clone()),
            plans(&[(
                0,
                &["sales.orders", "ops.audit", "web.hits", "sales.refunds"]
            )])
        );
        assert_eq!(
            place_added(Sharding::Table, &existing, groups),
            plans(&[
                (2, &["ops.audit"]),
                (3, &["web.hits"]),
                (4, &["sales.refunds"])
            ])
        );
    }

    #[test]
    fn table_shards_are_exact_names_in_name_order() {
        let t = tables(&[("b", "x"), ("a", "y.z"), ("a", "b")]);
        assert_eq!(
            by_table(&t),
            vec![
                vec!["a.b".to_string()],
                vec!["a.\"y.z\"".to_string()],
                vec!["b.x".to_string()]
            ]
        );
    }
}
