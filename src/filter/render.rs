//! A bound filter written back as SQL for PostgreSQL (the snapshot's query and a publication's
//! row filter). It is built from the bound tree, never from the user's text: every name is
//! double-quoted, every literal re-written from its parsed value with the type it was read as,
//! every operation parenthesised, and text columns compared under `COLLATE "C"` (byte order,
//! as the evaluator compares), so the server evaluates exactly what tributary evaluates.

use super::bind::{Arg, Class, Const, Node};
use super::literal::{date_sql, float_sql, string_sql, timestamp_sql, uuid_sql};
use crate::schema::TableSchema;

/// The SQL text of `node` over `table`'s columns.
pub fn sql(node: &Node, table: &TableSchema) -> String {
    let mut out = String::new();
    Render {
        table,
        out: &mut out,
    }
    .node(node);
    out
}

struct Render<'a> {
    table: &'a TableSchema,
    out: &'a mut String,
}

impl Render<'_> {
    fn node(&mut self, n: &Node) {
        match n {
            Node::And(parts) => self.join(parts, " AND "),
            Node::Or(parts) => self.join(parts, " OR "),
            Node::Not(x) => {
                self.out.push_str("(NOT ");
                self.node(x);
                self.out.push(')');
            }
            Node::Cmp {
                left,
                op,
                right,
                class,
            } => {
                self.out.push('(');
                self.arg(left, *class);
                self.out.push(' ');
                self.out.push_str(op.sql());
                self.out.push(' ');
                self.arg(right, *class);
                self.out.push(')');
            }
            Node::In {
                column,
                list,
                class,
                negated,
            } => {
                self.out.push('(');
                self.column(*column, *class);
                self.out
                    .push_str(if *negated { " NOT IN (" } else { " IN (" });
                for (k, c) in list.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(", ");
                    }
                    self.constant(c, *class);
                }
                self.out.push_str("))");
            }
            Node::Between {
                column,
                low,
                high,
                class,
                negated,
            } => {
                self.out.push('(');
                self.column(*column, *class);
                self.out.push_str(if *negated {
                    " NOT BETWEEN "
                } else {
                    " BETWEEN "
                });
                self.constant(low, *class);
                self.out.push_str(" AND ");
                self.constant(high, *class);
                self.out.push(')');
            }
            Node::IsNull { column, negated } => {
                self.out.push('(');
                self.name(*column);
                self.out.push_str(if *negated {
                    " IS NOT NULL)"
                } else {
                    " IS NULL)"
                });
            }
            Node::Like {
                column,
                pattern,
                negated,
            } => {
                self.out.push('(');
                self.column(*column, Class::Text);
                self.out
                    .push_str(if *negated { " NOT LIKE " } else { " LIKE " });
                self.out.push_str(&string_sql(&pattern.backslash_text()));
                self.out.push(')');
            }
            Node::BoolColumn(column) => self.name(*column),
        }
    }

    fn join(&mut self, parts: &[Node], sep: &str) {
        self.out.push('(');
        for (k, p) in parts.iter().enumerate() {
            if k > 0 {
                self.out.push_str(sep);
            }
            self.node(p);
        }
        self.out.push(')');
    }

    fn arg(&mut self, a: &Arg, class: Class) {
        match a {
            Arg::Column(i) => self.column(*i, class),
            Arg::Const(c) => self.constant(c, class),
        }
    }

    /// A column; a text column under the C collation.
    fn column(&mut self, i: usize, class: Class) {
        if matches!(class, Class::Text | Class::Bpchar) {
            self.out.push('(');
            self.name(i);
            self.out.push_str(" COLLATE \"C\")");
        } else {
            self.name(i);
        }
    }

    fn name(&mut self, i: usize) {
        let name = &self.table.columns[i].name;
        self.out.push('"');
        self.out.push_str(&name.replace('"', "\"\""));
        self.out.push('"');
    }

    fn constant(&mut self, c: &Const, class: Class) {
        let text = match c {
            Const::Null => "NULL".to_owned(),
            Const::Bool(b) => b.to_string(),
            Const::Exact(n) => {
                let mut s = String::new();
                n.write_decimal(&mut s);
                // An integer as an integer literal, so an index on an integer column serves
                // the snapshot's query.
                if s.parse::<i64>().is_ok() {
                    s
                } else {
                    format!("'{s}'::numeric")
                }
            }
            Const::Float(x) => float_sql(*x),
            Const::Text(s) => string_sql(s),
            Const::Date(d) => date_sql(*d),
            Const::Ts(t) => timestamp_sql(*t, class == Class::TimestampTz),
            Const::Uuid(b) => uuid_sql(b),
        };
        self.out.push_str(&text);
    }
}
