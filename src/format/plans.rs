//! One cache of per-table plans for every format. A format renders each table's fixed parts
//! (topic, member names, type codes, schema text) once into a plan; events look their plan up by
//! table OID (consecutive events of one table cost one pointer comparison) and the plan is rebuilt
//! only when the source describes the table differently (DDL), never per row.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use crate::format::FormatError;
use crate::route::{Router, TableRoute};
use crate::schema::TableSchema;

/// A format's rendering plan of one table.
pub(crate) trait Plan {
    /// The format's options the plan depends on.
    type Options;

    /// The plan of the table `route` maps; `generation` is unique among one cache's plans (a
    /// key for caches of rendered parts).
    fn build(opts: &Self::Options, route: Arc<TableRoute>, generation: u64) -> Self;

    /// The source's description the plan was built from.
    fn source(&self) -> &Arc<TableSchema>;

    /// Adopts an equal description (a new `Arc` of the same table), keeping the plan.
    fn set_source(&mut self, table: Arc<TableSchema>);
}

/// Plans by table OID.
pub(crate) struct PlanCache<P> {
    plans: Vec<P>,
    by_oid: HashMap<u32, usize>,
    /// The plan used last: consecutive events are usually of one table (no hashing then).
    last: Option<usize>,
    /// Plans built so far (the next plan's generation).
    built: u64,
}

impl<P> Default for PlanCache<P> {
    fn default() -> Self {
        PlanCache {
            plans: Vec::new(),
            by_oid: HashMap::new(),
            last: None,
            built: 0,
        }
    }
}

impl<P: Plan> PlanCache<P> {
    /// The plan of `table`, rebuilt when the table's description differs from the cached one.
    pub(crate) fn get(
        &mut self,
        opts: &P::Options,
        router: &mut Router,
        table: &Arc<TableSchema>,
    ) -> Result<&P, FormatError> {
        let cached = self.last.filter(|&i| {
            self.plans
                .get(i)
                .is_some_and(|p| Arc::ptr_eq(p.source(), table))
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
        opts: &P::Options,
        router: &mut Router,
        table: &Arc<TableSchema>,
    ) -> Result<usize, FormatError> {
        match self.by_oid.entry(table.oid) {
            Entry::Occupied(e) => {
                let i = *e.get();
                let plan = &mut self.plans[i];
                if !Arc::ptr_eq(plan.source(), table) {
                    if **plan.source() == **table {
                        plan.set_source(table.clone());
                    } else {
                        self.built += 1;
                        *plan = P::build(opts, router.get(table)?, self.built);
                    }
                }
                Ok(i)
            }
            Entry::Vacant(e) => {
                self.built += 1;
                self.plans
                    .push(P::build(opts, router.get(table)?, self.built));
                Ok(*e.insert(self.plans.len() - 1))
            }
        }
    }
}
