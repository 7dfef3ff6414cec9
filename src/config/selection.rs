//! Table selection: `schema.table`, or a glob over stored names, e.g. `public.order_*` or
//! `inventory.*` (the whole schema, tables created later included).

use globset::{Glob, GlobMatcher};

/// One selector from `objects.tables`.
#[derive(Debug, Clone)]
pub struct TableSelector {
    pub schema: String,
    pub table: String,
    schema_glob: GlobMatcher,
    table_glob: GlobMatcher,
}

impl TableSelector {
    /// Parses `schema.table`; either part may be a glob or a double-quoted name.
    pub fn parse(text: &str) -> Result<TableSelector, String> {
        let (schema, table) = split_qualified(text).ok_or_else(|| {
            format!("{text:?} is not schema.table (e.g. \"public.orders\" or \"public.*\")")
        })?;
        let glob = |p: &str| {
            Glob::new(p)
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("{text:?}: {}", e.kind()))
        };
        Ok(TableSelector {
            schema_glob: glob(&schema)?,
            table_glob: glob(&table)?,
            schema,
            table,
        })
    }

    pub fn matches(&self, schema: &str, table: &str) -> bool {
        self.schema_glob.is_match(schema) && self.table_glob.is_match(table)
    }

    /// Whether the selector's schema part names `schema` (whatever the table part).
    pub fn covers_schema(&self, schema: &str) -> bool {
        self.schema_glob.is_match(schema)
    }

    /// The schema part as an anchored regular expression (PostgreSQL's `~` reads it).
    pub fn schema_regex(&self) -> String {
        regex_of(&self.schema)
    }

    /// The table part as an anchored regular expression.
    pub fn table_regex(&self) -> String {
        regex_of(&self.table)
    }

    /// `schema.*`: the whole schema, including tables created later.
    pub fn whole_schema(&self) -> Option<&str> {
        (self.table == "*" && !has_glob(&self.schema)).then_some(self.schema.as_str())
    }

    /// A plain `schema.table` naming exactly one table.
    pub fn exact(&self) -> Option<(&str, &str)> {
        (!has_glob(&self.schema) && !has_glob(&self.table)).then_some((&self.schema, &self.table))
    }
}

/// The selector text naming exactly `schema.table` (quoted where a name holds a dot or a
/// quote, glob characters escaped): what shard planning writes for a resolved table.
pub fn qualified_name(schema: &str, table: &str) -> String {
    format!("{}.{}", exact_part(schema), exact_part(table))
}

/// `*` stays `*` (a whole schema); any other name matches only itself.
fn exact_part(name: &str) -> String {
    let escaped = if has_glob(name) && name != "*" {
        globset::escape(name)
    } else {
        name.to_owned()
    };
    if escaped.contains(['.', '"']) {
        format!("\"{}\"", escaped.replace('"', "\"\""))
    } else {
        escaped
    }
}

/// The glob's regular expression without globset's `(?-u)` flag (bytes, not Unicode classes:
/// PostgreSQL has no such flag and its classes are the same on the names globs see).
fn regex_of(glob: &str) -> String {
    let re = Glob::new(glob)
        .map(|g| g.regex().to_owned())
        .unwrap_or_default();
    re.strip_prefix("(?-u)").unwrap_or(&re).to_owned()
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Splits at the first dot outside double quotes, unquoting each part.
fn split_qualified(text: &str) -> Option<(String, String)> {
    let mut in_quotes = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '.' if !in_quotes => {
                let (s, t) = (unquote(&text[..i])?, unquote(&text[i + 1..])?);
                return (!s.is_empty() && !t.is_empty()).then_some((s, t));
            }
            _ => {}
        }
    }
    None
}

/// Splits an exact `schema.table` (either part may be double-quoted); `None` for anything
/// else, globs included.
pub(crate) fn split_exact(text: &str) -> Option<(String, String)> {
    let (s, t) = split_qualified(text)?;
    let quoted_or_plain = |part: &str, raw: bool| raw || !has_glob(part);
    let mut in_quotes = false;
    let dot = text.char_indices().find(|(_, c)| {
        if *c == '"' {
            in_quotes = !in_quotes;
        }
        *c == '.' && !in_quotes
    })?;
    let (raw_s, raw_t) = (&text[..dot.0], &text[dot.0 + 1..]);
    (quoted_or_plain(&s, raw_s.starts_with('"')) && quoted_or_plain(&t, raw_t.starts_with('"')))
        .then_some((s, t))
}

fn unquote(s: &str) -> Option<String> {
    match s.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').map(|x| x.replace("\"\"", "\"")),
        None => (!s.contains('"')).then(|| s.to_owned()),
    }
}

/// Under `objects.replica_identity = "auto"`, tables with a row filter get REPLICA IDENTITY
/// FULL, so that the filter sees the old row of every UPDATE and DELETE wherever it runs.
fn filtered_tables(spec: &super::ObjectsSpec) -> Result<Vec<TableSelector>, String> {
    spec.table
        .iter()
        .filter(|(_, o)| o.filter.is_some())
        .filter_map(|(k, _)| split_exact(k))
        .map(|(s, t)| TableSelector::parse(&qualified_name(&s, &t)))
        .collect()
}

/// All the task's selectors, with the per-table options.
#[derive(Debug, Clone)]
pub struct TableSelection {
    pub include: Vec<TableSelector>,
    pub replica_identity_full: Vec<TableSelector>,
    pub insert_only: Vec<TableSelector>,
}

impl TableSelection {
    pub fn from_spec(spec: &super::ObjectsSpec) -> Result<TableSelection, String> {
        let all = |v: &[String]| {
            v.iter()
                .map(|t| TableSelector::parse(t))
                .collect::<Result<Vec<_>, _>>()
        };
        let mut replica_identity_full = all(&spec.replica_identity_full)?;
        if spec.replica_identity == super::ReplicaIdentityMode::Auto {
            replica_identity_full.extend(filtered_tables(spec)?);
        }
        Ok(TableSelection {
            include: all(&spec.tables)?,
            replica_identity_full,
            insert_only: all(&spec.insert_only)?,
        })
    }

    pub fn includes(&self, schema: &str, table: &str) -> bool {
        self.include.iter().any(|s| s.matches(schema, table))
    }

    /// Whether some selector names tables of `schema` (views, functions and indexes there
    /// belong to the task for DDL capture).
    pub fn covers_schema(&self, schema: &str) -> bool {
        self.include.iter().any(|s| s.covers_schema(schema))
    }

    /// The index of the first selector naming the table (`usize::MAX` if none).
    pub fn first_match(&self, schema: &str, table: &str) -> usize {
        self.include
            .iter()
            .position(|s| s.matches(schema, table))
            .unwrap_or(usize::MAX)
    }

    pub fn wants_replica_identity_full(&self, schema: &str, table: &str) -> bool {
        self.replica_identity_full
            .iter()
            .any(|s| s.matches(schema, table))
    }

    pub fn is_insert_only(&self, schema: &str, table: &str) -> bool {
        self.insert_only.iter().any(|s| s.matches(schema, table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_plain_names_globs_and_quoted_names() {
        let s = TableSelector::parse("public.orders").unwrap();
        assert!(s.matches("public", "orders") && !s.matches("public", "orders2"));
        assert_eq!(s.exact(), Some(("public", "orders")));
        let g = TableSelector::parse("inventory.*").unwrap();
        assert!(g.matches("inventory", "anything"));
        assert_eq!(g.whole_schema(), Some("inventory"));
        let p = TableSelector::parse("public.order_*").unwrap();
        assert!(p.matches("public", "order_lines") && !p.matches("public", "orders"));
        let q = TableSelector::parse("\"My Schema\".\"a.b\"").unwrap();
        assert!(q.matches("My Schema", "a.b"));
        assert!(TableSelector::parse("orders").is_err());
        assert!(TableSelector::parse("public.").is_err());
    }

    #[test]
    fn qualified_names_select_exactly_the_table_they_name() {
        for (schema, table) in [
            ("public", "orders"),
            ("My Schema", "a.b"),
            ("q\"s", "t*x"),
            ("s", "t[1]"),
        ] {
            let text = qualified_name(schema, table);
            let s = TableSelector::parse(&text).unwrap();
            assert!(s.matches(schema, table), "{text}");
            assert!(
                !s.matches(schema, "orders2") && !s.matches(schema, "tax"),
                "{text}"
            );
        }
        assert_eq!(qualified_name("public", "orders"), "public.orders");
        assert_eq!(qualified_name("inventory", "*"), "inventory.*");
        let whole = TableSelector::parse(&qualified_name("inventory", "*")).unwrap();
        assert_eq!(whole.whole_schema(), Some("inventory"));
    }
}
