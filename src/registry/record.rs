//! The one schema DTS Avro registers: the `Record` type of `spec/avro/Record.avsc`, standalone.
//!
//! `Record.avsc` is a JSON array of 14 named types whose last is `Record`; the other 13 are
//! referenced from `Record` by name. A registry holds one self-contained schema per id, and a
//! reader given the array would read a union, not a `Record` (FORMATS.md part A). So
//! `record-schema.json` is the `Record` type with each earlier named type defined inline at its
//! first use (later uses keep the name), every field, default and doc unchanged. The tests prove
//! it is that: built again from the array it is equal as JSON, and apache-avro gives it the same
//! Parsing Canonical Form as the array's `Record`.
//!
//! `Record.avsc` here is a byte-for-byte copy of `spec/avro/Record.avsc`.

/// The DTS Avro `Record` schema registered under `<topic>-value`.
pub const RECORD_SCHEMA: &str = include_str!("record-schema.json");

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::RECORD_SCHEMA;

    const RECORD_AVSC: &str = include_str!("Record.avsc");
    const NAMESPACE: &str = "com.alibaba.dts.formats.avro";

    /// The named types of the array, by full name, and the array's last type (`Record`).
    fn array_types() -> (Vec<(String, Value)>, Value) {
        let Value::Array(mut types) = serde_json::from_str(RECORD_AVSC).unwrap() else {
            panic!("Record.avsc is not an array");
        };
        let record = types.pop().unwrap();
        let named = types
            .into_iter()
            .map(|t| {
                (
                    format!(
                        "{}.{}",
                        t["namespace"].as_str().unwrap(),
                        t["name"].as_str().unwrap()
                    ),
                    t,
                )
            })
            .collect();
        (named, record)
    }

    /// Replaces the first reference to each named type with its definition, depth first in
    /// field order, as Avro's own `Schema.toString()` writes a schema.
    fn inline(v: &mut Value, named: &[(String, Value)], defined: &mut Vec<String>) {
        match v {
            Value::String(name) => {
                let full = if name.contains('.') {
                    name.clone()
                } else {
                    format!("{NAMESPACE}.{name}")
                };
                if let Some((_, def)) = named.iter().find(|(n, _)| *n == full) {
                    if !defined.contains(&full) {
                        defined.push(full);
                        *v = def.clone();
                        inline(v, named, defined);
                    }
                }
            }
            Value::Array(union) => union.iter_mut().for_each(|b| inline(b, named, defined)),
            Value::Object(o) => {
                for key in ["type", "items", "values"] {
                    if let Some(t) = o.get_mut(key) {
                        inline(t, named, defined);
                    }
                }
                if let Some(Value::Array(fields)) = o.get_mut("fields") {
                    for f in fields {
                        if let Some(t) = f.get_mut("type") {
                            inline(t, named, defined);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_standalone_schema_is_the_arrays_record_type_inlined() {
        let (named, mut record) = array_types();
        assert_eq!(named.len(), 13);
        assert_eq!(record["name"], "Record");
        let mut defined = Vec::new();
        inline(&mut record, &named, &mut defined);
        assert_eq!(defined.len(), 13, "every named type is used by Record");
        let standalone: Value = serde_json::from_str(RECORD_SCHEMA).unwrap();
        assert_eq!(
            standalone, record,
            "record-schema.json differs from Record.avsc's Record"
        );
    }

    #[test]
    fn the_standalone_schema_has_the_parsing_canonical_form_of_the_arrays_record() {
        use apache_avro::Schema;
        let items: Vec<String> = match serde_json::from_str::<Value>(RECORD_AVSC).unwrap() {
            Value::Array(types) => types.iter().map(Value::to_string).collect(),
            _ => panic!("Record.avsc is not an array"),
        };
        let schemata = Schema::parse_list(&items).unwrap();
        let record = schemata.last().unwrap();
        let from_array = record.independent_canonical_form(&schemata).unwrap();
        let standalone = Schema::parse_str(RECORD_SCHEMA).unwrap();
        assert!(
            matches!(standalone, Schema::Record(_)),
            "a record, not a union"
        );
        assert_eq!(standalone.canonical_form(), from_array);
        assert!(from_array
            .starts_with(r#"{"name":"com.alibaba.dts.formats.avro.Record","type":"record""#));
    }
}
