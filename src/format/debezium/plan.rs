//! Per-table rendering plans: everything about a table's records that does not change from row
//! to row (topic, column kinds, quoted member names, key and envelope schema JSON, the source
//! block's table part), built once and cached by table OID until the table's schema changes.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use crate::format::FormatError;
use crate::route::{Router, TableRoute};
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

impl TablePlan {
    pub(crate) fn build(
        opts: &DebeziumOptions,
        route: Arc<TableRoute>,
        generation: u64,
    ) -> TablePlan {
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
            envelope_schema: envelope_schema(table, &kinds, &opts.topic_prefix),
            source_table,
            generation,
            route,
        }
    }

    pub(crate) fn has_key(&self) -> bool {
        !self.key_indices.is_empty()
    }
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
    pub(crate) fn get(
        &mut self,
        opts: &DebeziumOptions,
        router: &mut Router,
        table: &Arc<TableSchema>,
    ) -> Result<&TablePlan, FormatError> {
        let cached = self.last.filter(|&i| {
            self.plans
                .get(i)
                .is_some_and(|p| Arc::ptr_eq(&p.table, table))
        });
        let i = match cached {
            Some(i) => i,
            None => self.lookup(opts, router, table)?,
        };
        self.last = Some(i);
        Ok(&self.plans[i])
    }

    fn lookup(
        &mut self,
        opts: &DebeziumOptions,
        router: &mut Router,
        table: &Arc<TableSchema>,
    ) -> Result<usize, FormatError> {
        match self.by_oid.entry(table.oid) {
            Entry::Occupied(e) => {
                let i = *e.get();
                let plan = &mut self.plans[i];
                if !Arc::ptr_eq(&plan.table, table) {
                    if *plan.table == **table {
                        plan.table = table.clone();
                    } else {
                        self.built += 1;
                        *plan = TablePlan::build(opts, router.get(table)?, self.built);
                    }
                }
                Ok(i)
            }
            Entry::Vacant(e) => {
                self.built += 1;
                let plan = TablePlan::build(opts, router.get(table)?, self.built);
                self.plans.push(plan);
                Ok(*e.insert(self.plans.len() - 1))
            }
        }
    }
}
