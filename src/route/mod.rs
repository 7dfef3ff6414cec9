//! Routing: for each source table, the topic its records go to, the names they carry, the key
//! that partitions them and the operations that are migrated, from the task's topic mapping,
//! name mapping, partition policy and per-table options (FORMATS.md part A).
//!
//! `Routing` holds a task's rules and checks them against the source's tables before anything
//! is created (a key column that does not exist, two tables mapped to one name). A `Router`
//! caches each table's `TableRoute` by OID for the formats and the pipeline, so the per-event
//! cost is one pointer comparison.

mod hash;
mod key;
mod names;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use hash::{java_hash_continue, java_string_hash, partition_of};
pub use key::KeyWriter;
pub use names::Names;

use crate::config::{
    split_exact, ConfigError, Operation, PartitionPolicy, TableOptions, TableSelection, TaskSpec,
};
use crate::filter::{Publishing, TableFilter};
use crate::schema::{Column, TableSchema};
use crate::sink::TopicPlan;

/// Where one record goes among its topic's partitions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartitionChoice {
    /// The producer's partitioner: Java's murmur2 of the key (Debezium's default).
    #[default]
    Default,
    /// This partition.
    Fixed(i32),
    /// `abs(hash % partitions)` of the topic's partition count (the runner knows it).
    Hash(i32),
}

/// A table's routing cannot be built: a setting does not fit the table.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("table {table}: {reason}")]
pub struct RouteError {
    pub table: String,
    pub reason: String,
}

impl From<RouteError> for ConfigError {
    fn from(e: RouteError) -> ConfigError {
        ConfigError::Invalid {
            field: "objects.table",
            constraint: e.to_string(),
        }
    }
}

/// A task's routing rules.
#[derive(Debug, Clone)]
pub struct Routing {
    task: String,
    topic: Option<String>,
    ddl_topic: String,
    /// The format writes DDL messages (the DTS formats; Debezium's PostgreSQL connector writes
    /// none): the DDL topic is one of the task's topics.
    ddl_messages: bool,
    policy: Option<PartitionPolicy>,
    default_partitions: Option<i32>,
    names: Names,
    tables: BTreeMap<(String, String), TableOptions>,
    /// How the task publishes its tables, for placing row filters (`crate::filter::place`).
    selection: Option<TableSelection>,
}

impl Routing {
    pub fn new(spec: &TaskSpec) -> Routing {
        let d = &spec.destination;
        let tables = spec
            .objects
            .table
            .iter()
            .filter_map(|(k, o)| Some((split_exact(k)?, o.clone())))
            .collect();
        Routing {
            task: spec.name.clone(),
            topic: d.topic.clone(),
            ddl_topic: d
                .ddl_topic
                .clone()
                .or_else(|| d.topic.clone())
                .unwrap_or_else(|| spec.name.clone()),
            ddl_messages: d.format.is_dts(),
            policy: spec.partition_policy(),
            default_partitions: d.partitions,
            names: Names::new(spec),
            tables,
            selection: TableSelection::from_spec(&spec.objects).ok(),
        }
    }

    /// The routing of a task without mapping, policy or per-table settings: topics
    /// `<task>.<schema>.<table>` (or `topic` for all), source names, the tables' keys.
    pub fn plain(task: &str, topic: Option<&str>) -> Routing {
        Routing {
            task: task.to_owned(),
            topic: topic.map(str::to_owned),
            ddl_topic: topic.unwrap_or(task).to_owned(),
            ddl_messages: false,
            policy: None,
            default_partitions: None,
            names: Names::default(),
            tables: BTreeMap::new(),
            selection: None,
        }
    }

    /// Checks the rules against the tables the source selected: every per-table setting names
    /// a selected table, its key columns and renamed columns exist, its row filter fits the
    /// table and can be applied (`crate::filter`), no two tables or columns end up with one
    /// name, and tables sharing a topic agree on its partition count.
    pub fn check(&self, tables: &[Arc<TableSchema>]) -> Result<(), ConfigError> {
        for (schema, table) in self.tables.keys() {
            if !tables
                .iter()
                .any(|t| t.schema == *schema && t.name == *table)
            {
                return Err(ConfigError::Invalid {
                    field: "objects.table",
                    constraint: format!(
                        "{schema}.{table} has settings but is not a selected table: fix the name or add it to objects.tables"
                    ),
                });
            }
        }
        let mut targets: HashMap<(String, String), String> = HashMap::new();
        let mut partitions: HashMap<String, (Option<i32>, String)> = HashMap::new();
        for t in tables {
            let route = self.route(t)?;
            let source = t.qualified_name();
            let target = (route.target.schema.clone(), route.target.name.clone());
            if let Some(other) = targets.insert(target.clone(), source.clone()) {
                return Err(ConfigError::Invalid {
                    field: "objects.table.name",
                    constraint: format!(
                        "tables {other} and {source} are both named {}.{} in messages: map one of them to another name",
                        target.0, target.1
                    ),
                });
            }
            let mine = route.partitions;
            match partitions.get(&route.topic) {
                Some((theirs, other)) if *theirs != mine && theirs.is_some() && mine.is_some() => {
                    return Err(ConfigError::Invalid {
                        field: "objects.table.partitions",
                        constraint: format!(
                            "tables {other} and {source} share topic {} but ask for {} and {} partitions: give them one count",
                            route.topic,
                            theirs.unwrap_or_default(),
                            mine.unwrap_or_default()
                        ),
                    });
                }
                Some((Some(_), _)) => {}
                _ => {
                    partitions.insert(route.topic.clone(), (mine, source));
                }
            }
        }
        Ok(())
    }

    /// The topics the task writes to, each once and sorted, with the partition count to
    /// create each with: the tables' topics, and the DDL topic when the format writes DDL
    /// messages (so that it is checked, or created, before anything is sent, like the others).
    pub fn topics(&self, tables: &[Arc<TableSchema>]) -> Vec<TopicPlan> {
        let mut names: Vec<String> = tables
            .iter()
            .map(|t| self.topic_of(&t.schema, &t.name))
            .collect();
        if self.ddl_messages {
            names.push(self.ddl_topic.clone());
        }
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| TopicPlan {
                partitions: self.partitions_of(&name),
                name,
            })
            .collect()
    }

    /// The partition count to create `topic` with: the `partitions` of a table routed to it
    /// (`check` made tables sharing a topic agree), else `None` (the sink's default,
    /// `destination.partitions`). Also for topics first seen while running (a table that
    /// appeared later, the DDL topic).
    pub fn partitions_of(&self, topic: &str) -> Option<i32> {
        self.tables
            .iter()
            .filter(|(_, o)| o.partitions.is_some())
            .find(|((s, n), _)| self.topic_of(s, n) == topic)
            .and_then(|(_, o)| o.partitions)
    }

    /// Where DDL messages go: `destination.ddl_topic`, else `destination.topic`, else the task
    /// name (FORMATS.md "All formats").
    pub fn ddl_topic(&self) -> &str {
        &self.ddl_topic
    }

    /// The partition policy in force (`None`: the producer's murmur2 of the key).
    pub fn policy(&self) -> Option<PartitionPolicy> {
        self.policy
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The task's name (the Debezium topic prefix).
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The partition count a topic is created with when the task has none of its own.
    pub fn default_partitions(&self) -> Option<i32> {
        self.default_partitions
    }

    fn options(&self, schema: &str, table: &str) -> Option<&TableOptions> {
        self.tables.get(&(schema.to_owned(), table.to_owned()))
    }

    fn topic_of(&self, schema: &str, table: &str) -> String {
        if let Some(t) = self.options(schema, table).and_then(|o| o.topic.clone()) {
            return t;
        }
        crate::topic::table_topic(
            &self.task,
            self.topic.as_deref(),
            &self.names.schema(schema),
            &self.names.table(schema, table),
        )
    }

    /// The route of one table.
    pub fn route(&self, table: &Arc<TableSchema>) -> Result<TableRoute, RouteError> {
        let (s, n) = (table.schema.as_str(), table.name.as_str());
        let fail = |reason: String| RouteError {
            table: table.qualified_name(),
            reason,
        };
        let options = self.options(s, n);
        for c in self.names.renamed_columns(s, n) {
            if !table.columns.iter().any(|col| col.name == c) {
                return Err(fail(format!(
                    "objects.table.columns renames column {c:?}, which the table does not have"
                )));
            }
        }
        let columns: Vec<Column> = table
            .columns
            .iter()
            .map(|c| Column {
                name: self.names.column(s, n, &c.name),
                ..c.clone()
            })
            .collect();
        if let Some(d) = crate::config::first_duplicate(columns.iter().map(|c| c.name.as_str())) {
            return Err(fail(format!(
                "two columns are named {d:?} in messages: map one of them to another name"
            )));
        }
        let key_indices = match options.and_then(|o| o.key_columns.as_ref()) {
            Some(names) => names
                .iter()
                .map(|k| {
                    table.columns.iter().position(|c| c.name == *k).ok_or_else(|| {
                        fail(format!(
                            "key column {k:?} does not exist: name columns of the table in objects.table.key_columns"
                        ))
                    })
                })
                .collect::<Result<Vec<usize>, RouteError>>()?,
            None => table.key_indices().collect(),
        };
        let target = TableSchema {
            schema: self.names.schema(s),
            name: self.names.table(s, n),
            columns,
            ..(**table).clone()
        };
        let mut hashed = String::with_capacity(target.schema.len() + target.name.len() + 1);
        hashed.push_str(&target.schema);
        hashed.push('.');
        hashed.push_str(&target.name);
        let ops = options
            .and_then(|o| o.operations.as_deref())
            .unwrap_or(&Operation::ALL);
        let filter = match options.and_then(|o| o.filter.as_deref()) {
            Some(text) => {
                let how = self
                    .selection
                    .as_ref()
                    .map(|sel| Publishing::of(sel, s, n))
                    .unwrap_or_default();
                Some(Arc::new(TableFilter::new(text, table, how).map_err(fail)?))
            }
            None => None,
        };
        Ok(TableRoute {
            source: table.clone(),
            topic: self.topic_of(s, n),
            table_hash: java_string_hash(&hashed),
            target: Arc::new(target),
            key_indices,
            policy: self.policy,
            operations: ops.iter().fold(0u8, |m, o| m | op_bit(*o)),
            partitions: options
                .and_then(|o| o.partitions)
                .or(self.default_partitions),
            filter,
        })
    }
}

fn op_bit(op: Operation) -> u8 {
    1 << (op as u8)
}

/// Where one table's records go and the names they carry.
#[derive(Debug, Clone)]
pub struct TableRoute {
    /// The table as the source describes it.
    pub source: Arc<TableSchema>,
    /// The same table with the names of messages (mapped, capitalised): formats take every
    /// schema, table and column name from here. Key flags are the source's (the primary key
    /// or replica identity), for formats that publish the primary key (Canal `pkNames`).
    pub target: Arc<TableSchema>,
    pub topic: String,
    /// The message key and `hash_key` columns, in key order: `key_columns`, else the key.
    pub key_indices: Vec<usize>,
    /// Java's hash of `<schema>.<table>` with the mapped names (`hash_table`).
    pub table_hash: i32,
    pub policy: Option<PartitionPolicy>,
    operations: u8,
    /// The partition count to create the topic with, if the task names one.
    pub partitions: Option<i32>,
    /// The row filter, checked against the table and placed (`crate::filter`), if any.
    pub filter: Option<Arc<TableFilter>>,
}

impl TableRoute {
    /// Whether incremental operations of this kind are migrated.
    pub fn migrates(&self, op: Operation) -> bool {
        self.operations & op_bit(op) != 0
    }

    /// The partition of a row record whose key hashed to `key_hash` (`None`: no key).
    pub fn partition(&self, key_hash: Option<i32>) -> PartitionChoice {
        match self.policy {
            None => PartitionChoice::Default,
            Some(PartitionPolicy::PartitionZero) => PartitionChoice::Fixed(0),
            Some(PartitionPolicy::HashTable) => PartitionChoice::Hash(self.table_hash),
            Some(PartitionPolicy::HashKey) => {
                PartitionChoice::Hash(key_hash.unwrap_or(self.table_hash))
            }
        }
    }

    /// The partition of a record about the whole table (a TRUNCATE): the table's partition
    /// under `hash_table` (it stays in order with the table's rows), else partition 0 (under
    /// `hash_key` no single partition holds the table), or the producer's choice without a
    /// policy.
    pub fn table_partition(&self) -> PartitionChoice {
        match self.policy {
            None => PartitionChoice::Default,
            Some(PartitionPolicy::HashTable) => PartitionChoice::Hash(self.table_hash),
            Some(_) => PartitionChoice::Fixed(0),
        }
    }

    pub fn has_key(&self) -> bool {
        !self.key_indices.is_empty()
    }
}

/// A per-user cache of table routes by OID, rebuilt when a table's description changes.
pub struct Router {
    routing: Arc<Routing>,
    routes: HashMap<u32, Arc<TableRoute>>,
    last: Option<Arc<TableRoute>>,
}

impl Router {
    pub fn new(routing: Arc<Routing>) -> Router {
        Router {
            routing,
            routes: HashMap::new(),
            last: None,
        }
    }

    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// The route of `table`; consecutive calls for one table cost a pointer comparison.
    pub fn get(&mut self, table: &Arc<TableSchema>) -> Result<Arc<TableRoute>, RouteError> {
        if let Some(r) = &self.last {
            if Arc::ptr_eq(&r.source, table) {
                return Ok(r.clone());
            }
        }
        let route = match self.routes.get(&table.oid) {
            Some(r) if Arc::ptr_eq(&r.source, table) => r.clone(),
            // The same description in a new allocation (a resent Relation message): adopt
            // the pointer so that later events take the fast path.
            Some(r) if *r.source == **table => {
                let mut same = (**r).clone();
                same.source = table.clone();
                let same = Arc::new(same);
                self.routes.insert(table.oid, same.clone());
                same
            }
            _ => {
                let r = Arc::new(self.routing.route(table)?);
                self.routes.insert(table.oid, r.clone());
                r
            }
        };
        self.last = Some(route.clone());
        Ok(route)
    }
}

#[cfg(test)]
pub(crate) mod tests;
/// Test helpers: task files, tables and rows to route.
#[cfg(test)]
pub(crate) use tests as tests_support;
