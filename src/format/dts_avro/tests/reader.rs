//! The generic reader every test decodes messages with: Apache Avro's Rust library over the
//! canonical `Record.avsc` (its last type, `Record`, with the other 13 as the named types it
//! refers to), and a rendering of decoded records as Avro-JSON-style text with union branches
//! named, as FORMATS.md part B §1.8 writes its examples.

use std::collections::HashMap;

use apache_avro::schema::Name;
use apache_avro::types::Value;
use apache_avro::Schema;
use serde_json::{json, Map, Value as Json};

use crate::format::dts_avro::RECORD_AVSC;

/// `Record.avsc` parsed: `Record` and every named type.
pub struct Reader {
    schemata: Vec<Schema>,
}

impl Reader {
    pub fn new() -> Reader {
        let types: Vec<Json> = serde_json::from_str(RECORD_AVSC).expect("Record.avsc is JSON");
        let texts: Vec<String> = types.iter().map(Json::to_string).collect();
        let schemata = Schema::parse_list(&texts).expect("Record.avsc parses");
        assert_eq!(schemata.len(), 14);
        Reader { schemata }
    }

    /// The `Record` schema.
    pub fn record(&self) -> &Schema {
        let last = self.schemata.last().expect("types");
        assert_eq!(
            last.name().map(|n| n.fullname(None)).as_deref(),
            Some("com.alibaba.dts.formats.avro.Record")
        );
        last
    }

    /// Decodes one bare datum, which must take every byte.
    pub fn decode(&self, bytes: &[u8]) -> Value {
        let mut rest = bytes;
        let value = apache_avro::from_avro_datum_schemata(
            self.record(),
            self.schemata.iter().collect(),
            &mut rest,
            None,
        )
        .unwrap_or_else(|e| panic!("not a Record datum ({e}): {}", hex::encode(bytes)));
        assert!(
            rest.is_empty(),
            "{} bytes left after the Record",
            rest.len()
        );
        value
    }

    /// Encodes `value` with the library (to compare with the hand-written encoder).
    pub fn encode(&self, value: Value) -> Vec<u8> {
        apache_avro::to_avro_datum_schemata(self.record(), self.schemata.iter().collect(), value)
            .expect("encodes")
    }

    /// Decodes and renders as Avro-JSON-style text.
    pub fn json(&self, bytes: &[u8]) -> Json {
        let names = self.names();
        render(&self.decode(bytes), self.record(), &names)
    }

    fn names(&self) -> HashMap<Name, &Schema> {
        self.schemata
            .iter()
            .filter_map(|s| s.name().map(|n| (n.clone(), s)))
            .collect()
    }
}

/// A decoded value as JSON: unions as `{"<branch>": value}` (null bare), records as objects in
/// field order, enums as their symbols, `bytes` as UTF-8 text when they are, else `\x<hex>`.
fn render(v: &Value, s: &Schema, names: &HashMap<Name, &Schema>) -> Json {
    match (v, s) {
        (_, Schema::Ref { name }) => render(v, names[name], names),
        (Value::Union(i, inner), Schema::Union(u)) => {
            let branch = &u.variants()[*i as usize];
            match **inner {
                Value::Null => Json::Null,
                _ => json!({ branch_name(branch): render(inner, branch, names) }),
            }
        }
        (Value::Record(fields), Schema::Record(r)) => {
            let mut m = Map::new();
            for ((name, fv), f) in fields.iter().zip(&r.fields) {
                m.insert(name.clone(), render(fv, &f.schema, names));
            }
            Json::Object(m)
        }
        (Value::Array(items), Schema::Array(a)) => {
            Json::Array(items.iter().map(|x| render(x, &a.items, names)).collect())
        }
        (Value::Map(entries), Schema::Map(m)) => Json::Object(
            entries
                .iter()
                .map(|(k, x)| (k.clone(), render(x, &m.types, names)))
                .collect(),
        ),
        (Value::Enum(_, symbol), _) => json!(symbol),
        (Value::String(t), _) => json!(t),
        (Value::Bytes(b), _) => match std::str::from_utf8(b) {
            Ok(t) => json!(t),
            Err(_) => json!(format!("\\x{}", hex::encode(b))),
        },
        (Value::Int(n), _) => json!(n),
        (Value::Long(n), _) => json!(n),
        (Value::Double(d), _) if d.is_finite() => json!(d),
        (Value::Double(d), _) => json!(d.to_string()),
        (Value::Null, _) => Json::Null,
        other => panic!("unexpected value {other:?}"),
    }
}

/// A union branch's name: a primitive's type, a named type's full name.
fn branch_name(s: &Schema) -> String {
    match s {
        Schema::Ref { name } => name.fullname(None),
        Schema::String => "string".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Array(_) => "array".into(),
        other => other
            .name()
            .map(|n| n.fullname(None))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

impl Reader {
    /// Decodes and renders as plain data, the way Python's fastavro returns a record: unions
    /// as their value, records as objects, enums as symbols, `bytes` as UTF-8 text when they
    /// are, else `\x<hex>`, non-finite doubles as `NaN`/`inf`/`-inf`.
    pub fn plain(&self, bytes: &[u8]) -> Json {
        plain(&self.decode(bytes))
    }
}

fn plain(v: &Value) -> Json {
    match v {
        Value::Union(_, inner) => plain(inner),
        Value::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(name, fv)| (name.clone(), plain(fv)))
                .collect(),
        ),
        Value::Array(items) => Json::Array(items.iter().map(plain).collect()),
        Value::Map(entries) => {
            Json::Object(entries.iter().map(|(k, x)| (k.clone(), plain(x))).collect())
        }
        Value::Enum(_, symbol) => json!(symbol),
        Value::String(t) => json!(t),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(t) => json!(t),
            Err(_) => json!(format!("\\x{}", hex::encode(b))),
        },
        Value::Int(n) => json!(n),
        Value::Long(n) => json!(n),
        Value::Double(d) if d.is_finite() => json!(d),
        Value::Double(d) => json!(d.to_string()),
        Value::Null => Json::Null,
        other => panic!("unexpected value {other:?}"),
    }
}
