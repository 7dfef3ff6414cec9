//! Name mapping and capitalisation (`[objects.schema."<s>"] name`, `[objects.table."<s>.<t>"]
//! name` and `columns`, `destination.capitalisation`): the names a table, its schema and its
//! columns carry in messages and topics. An explicit mapping is taken verbatim; other names
//! follow the capitalisation policy.

use std::collections::BTreeMap;

use crate::config::{Capitalisation, TaskSpec};

/// The renames of one table.
#[derive(Debug, Clone, Default)]
struct TableNames {
    name: Option<String>,
    columns: BTreeMap<String, String>,
}

/// Every rename of a task, and its capitalisation policy.
#[derive(Debug, Clone, Default)]
pub struct Names {
    case: Capitalisation,
    schemas: BTreeMap<String, String>,
    tables: BTreeMap<(String, String), TableNames>,
}

impl Names {
    pub fn new(spec: &TaskSpec) -> Names {
        let schemas = spec
            .objects
            .schema
            .iter()
            .filter_map(|(s, o)| Some((s.clone(), o.name.clone()?)))
            .collect();
        let tables = spec
            .objects
            .table
            .iter()
            .filter_map(|(key, o)| {
                let (s, t) = crate::config::split_exact(key)?;
                let names = TableNames {
                    name: o.name.clone(),
                    columns: o.columns.clone(),
                };
                Some(((s, t), names))
            })
            .collect();
        Names {
            case: spec.destination.capitalisation,
            schemas,
            tables,
        }
    }

    fn cased(&self, name: &str) -> String {
        match self.case {
            Capitalisation::Keep => name.to_owned(),
            Capitalisation::Lower => name.to_lowercase(),
            Capitalisation::Upper => name.to_uppercase(),
        }
    }

    /// A schema's name in messages and topics.
    pub fn schema(&self, schema: &str) -> String {
        match self.schemas.get(schema) {
            Some(mapped) => mapped.clone(),
            None => self.cased(schema),
        }
    }

    /// A table's name in messages and topics.
    pub fn table(&self, schema: &str, table: &str) -> String {
        match self.renames(schema, table).and_then(|t| t.name.as_ref()) {
            Some(mapped) => mapped.clone(),
            None => self.cased(table),
        }
    }

    /// A column's name in messages.
    pub fn column(&self, schema: &str, table: &str, column: &str) -> String {
        match self
            .renames(schema, table)
            .and_then(|t| t.columns.get(column))
        {
            Some(mapped) => mapped.clone(),
            None => self.cased(column),
        }
    }

    /// The source columns a table's column renames name (to check that they exist).
    pub fn renamed_columns(&self, schema: &str, table: &str) -> impl Iterator<Item = &str> {
        self.renames(schema, table)
            .into_iter()
            .flat_map(|t| t.columns.keys().map(String::as_str))
    }

    fn renames(&self, schema: &str, table: &str) -> Option<&TableNames> {
        self.tables.get(&(schema.to_owned(), table.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str, case: &str) -> TaskSpec {
        let text = format!(
            "name = \"t\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\ncapitalisation = \"{case}\"\n\
             [objects]\ntables = [\"public.*\"]\n{extra}"
        );
        TaskSpec::parse(&text).unwrap()
    }

    #[test]
    fn explicit_mappings_win_and_other_names_follow_the_case_policy() {
        let extra = "[objects.schema.public]\nname = \"App\"\n\
                     [objects.table.\"public.Orders\"]\nname = \"orders_v2\"\ncolumns = { Status = \"state\" }\n";
        let n = Names::new(&spec(extra, "upper"));
        assert_eq!(n.schema("public"), "App");
        assert_eq!(n.schema("other"), "OTHER");
        assert_eq!(n.table("public", "Orders"), "orders_v2");
        assert_eq!(n.table("public", "lines"), "LINES");
        assert_eq!(n.column("public", "Orders", "Status"), "state");
        assert_eq!(n.column("public", "Orders", "id"), "ID");
        let lower = Names::new(&spec("", "lower"));
        assert_eq!(lower.table("public", "ÖrDers"), "örders");
        let keep = Names::new(&spec("", "keep"));
        assert_eq!(keep.column("public", "x", "MiXed"), "MiXed");
    }
}
