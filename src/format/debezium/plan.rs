//! Per-table rendering plans: everything about a table's records that does not change from row
//! to row (topic, column kinds, quoted member names, key and envelope schema JSON, the source
//! block's table part), built once and cached by table OID until the table's schema changes.

use std::sync::Arc;

use crate::format::plans::Plan;
use crate::route::TableRoute;
use crate::schema::TableSchema;

use super::payload::ColumnPlan;
use super::schema::{envelope_schema, key_schema, kind_of, push_json_str, Modes};
use super::DebeziumOptions;

/// The cached rendering plan of one table.
pub(crate) struct TablePlan {
    /// The source's description this plan was built from.
    pub table: Arc<TableSchema>,
    /// Its route: names, topic, key columns and partition policy.
    pub route: Arc<TableRoute>,
    pub topic: String,
    pub columns: Vec<ColumnPlan>,
    pub key_indices: Vec<usize>,
    /// The Connect schema of the key (`…Key`), for `schemas.enable`.
    pub key_schema: String,
    /// The Connect schema of the value (`…Envelope`), for `schemas.enable`.
    pub envelope_schema: String,
    /// `,"schema":"<schema>","table":"<table>","txId":` of the source block.
    pub source_table: String,
    /// Unique among the plans of one encoder (a key for caches of rendered parts).
    pub generation: u64,
}

/// The cache of Debezium plans.
pub(crate) type PlanCache = crate::format::plans::PlanCache<TablePlan>;

impl Plan for TablePlan {
    type Options = DebeziumOptions;

    fn source(&self) -> &Arc<TableSchema> {
        &self.table
    }

    fn set_source(&mut self, table: Arc<TableSchema>) {
        self.table = table;
    }

    fn build(opts: &DebeziumOptions, route: Arc<TableRoute>, generation: u64) -> TablePlan {
        let table = &route.target;
        let modes = Modes {
            decimal: opts.decimal_handling_mode,
            interval: opts.interval_handling_mode,
            hstore: opts.hstore_handling_mode,
        };
        let kinds: Vec<_> = table
            .columns
            .iter()
            .map(|c| kind_of(&c.ty, c.typmod, modes))
            .collect();
        let columns = table
            .columns
            .iter()
            .zip(&kinds)
            .map(|(c, k)| ColumnPlan::new(&c.name, k.clone()));
        let mut source_table = String::from(",\"schema\":");
        push_json_str(&mut source_table, &table.schema);
        source_table.push_str(",\"table\":");
        push_json_str(&mut source_table, &table.name);
        source_table.push_str(",\"txId\":");
        // The key is the route's key columns (`key_columns`, else the table's key).
        let mut keyed = (**table).clone();
        for (i, c) in keyed.columns.iter_mut().enumerate() {
            c.is_key = route.key_indices.contains(&i);
        }
        TablePlan {
            table: route.source.clone(),
            topic: route.topic.clone(),
            columns: columns.collect(),
            key_indices: route.key_indices.clone(),
            key_schema: key_schema(&keyed, &kinds, &opts.topic_prefix),
            envelope_schema: envelope_schema(table, &kinds, &opts.topic_prefix, opts.connector),
            source_table,
            generation,
            route,
        }
    }
}

impl TablePlan {
    pub(crate) fn has_key(&self) -> bool {
        !self.key_indices.is_empty()
    }
}
