//! Per-table rendering plans: everything about a table's records that does not change from row
//! to row (topic, column kinds, quoted member names, key and envelope schema JSON, the source
//! block's table part), built once and cached by table OID until the table's schema changes.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use crate::schema::TableSchema;

use super::payload::ColumnPlan;
use super::schema::{envelope_schema, key_schema, kind_of, push_json_str, Modes};
use super::DebeziumOptions;

/// The cached rendering plan of one table.
pub(crate) struct TablePlan {
    /// The schema this plan was built from.
    pub table: Arc<TableSchema>,
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

impl TablePlan {
    pub(crate) fn build(
        opts: &DebeziumOptions,
        table: &Arc<TableSchema>,
        generation: u64,
    ) -> TablePlan {
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
        TablePlan {
            table: table.clone(),
            topic: topic_for(opts, table),
            columns: columns.collect(),
            key_indices: table.key_indices().collect(),
            key_schema: key_schema(table, &kinds, &opts.topic_prefix),
            envelope_schema: envelope_schema(table, &kinds, &opts.topic_prefix),
            source_table,
            generation,
        }
    }

    pub(crate) fn has_key(&self) -> bool {
        !self.key_indices.is_empty()
    }
}

/// The topic of a table's records (`crate::topic`).
pub(crate) fn topic_for(opts: &DebeziumOptions, table: &TableSchema) -> String {
    crate::topic::table_topic(
        &opts.topic_prefix,
        opts.topic_override.as_deref(),
        &table.schema,
        &table.name,
    )
}

/// Plans by table OID.
#[derive(Default)]
pub(crate) struct PlanCache {
    plans: Vec<TablePlan>,
    by_oid: HashMap<u32, usize>,
    /// The plan used last: consecutive events are usually of one table (no hashing then).
    last: Option<usize>,
    /// Plans built so far (the next plan's generation).
    built: u64,
}

impl PlanCache {
    /// The plan of `table`, rebuilt when the table's schema differs from the cached one.
    pub(crate) fn get(&mut self, opts: &DebeziumOptions, table: &Arc<TableSchema>) -> &TablePlan {
        let cached = self.last.filter(|&i| {
            self.plans
                .get(i)
                .is_some_and(|p| Arc::ptr_eq(&p.table, table))
        });
        let i = match cached {
            Some(i) => i,
            None => self.lookup(opts, table),
        };
        self.last = Some(i);
        &self.plans[i]
    }

    fn lookup(&mut self, opts: &DebeziumOptions, table: &Arc<TableSchema>) -> usize {
        match self.by_oid.entry(table.oid) {
            Entry::Occupied(e) => {
                let i = *e.get();
                let plan = &mut self.plans[i];
                if !Arc::ptr_eq(&plan.table, table) {
                    if *plan.table == **table {
                        plan.table = table.clone();
                    } else {
                        self.built += 1;
                        *plan = TablePlan::build(opts, table, self.built);
                    }
                }
                i
            }
            Entry::Vacant(e) => {
                self.built += 1;
                self.plans.push(TablePlan::build(opts, table, self.built));
                *e.insert(self.plans.len() - 1)
            }
        }
    }
}
