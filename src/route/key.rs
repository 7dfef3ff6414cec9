//! The Kafka message key of the DTS formats and the `hash_key` hash, from one rendering of the
//! key columns (FORMATS.md "All formats" and "Partition policies"): a compact JSON object of
//! the key columns' values as strings, e.g. `{"id":"42"}`, and the XOR of Java's hash of
//! the same strings (NULL as "").

use crate::event::Row;
use crate::format::FormatError;
use crate::value::{decode, write_text, Value};

use super::{java_string_hash, TableRoute};

/// Renders keys with reused buffers (no allocation per row once warmed up).
#[derive(Debug, Default)]
pub struct KeyWriter {
    text: String,
}

impl KeyWriter {
    /// Appends the key object of `row` to `out` and returns the key hash; `None` (and nothing
    /// written) when the table has no key columns: the record's key is then null.
    pub fn write(
        &mut self,
        route: &TableRoute,
        row: &Row,
        out: &mut Vec<u8>,
    ) -> Result<Option<i32>, FormatError> {
        if !route.has_key() {
            return Ok(None);
        }
        let mut h = 0i32;
        out.push(b'{');
        for (n, &i) in route.key_indices.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            crate::format::json::write_str(out, &route.target.columns[i].name);
            out.push(b':');
            match self.render(route, row, i)? {
                Some(text) => {
                    h ^= java_string_hash(text);
                    crate::format::json::write_str(out, text);
                }
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        Ok(Some(h))
    }

    /// The key hash of `row` alone (formats with their own key, e.g. Debezium's).
    pub fn hash(&mut self, route: &TableRoute, row: &Row) -> Result<Option<i32>, FormatError> {
        if !route.has_key() {
            return Ok(None);
        }
        let mut h = 0i32;
        for &i in &route.key_indices {
            if let Some(text) = self.render(route, row, i)? {
                h ^= java_string_hash(text);
            }
        }
        Ok(Some(h))
    }

    /// The text form of column `i` of `row`; `None` for NULL or a value not sent.
    fn render(
        &mut self,
        route: &TableRoute,
        row: &Row,
        i: usize,
    ) -> Result<Option<&str>, FormatError> {
        let col = &route.source.columns[i];
        let cell = row
            .cells
            .get(i)
            .copied()
            .unwrap_or(crate::event::Cell::Null);
        let value = decode(col, row, cell).map_err(|source| FormatError::Value {
            table: route.source.qualified_name(),
            column: col.name.clone(),
            source,
        })?;
        if matches!(value, Value::Null | Value::Unavailable) {
            return Ok(None);
        }
        self.text.clear();
        write_text(&col.ty, &value, &mut self.text);
        Ok(Some(&self.text))
    }
}
