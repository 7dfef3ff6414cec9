//! The messages decode with Python's fastavro `schemaless_reader` (what DTS's own Python
//! consumer demo uses) over `Record.avsc`'s `Record` type, to exactly what Apache Avro's Rust
//! reader gives, taking every byte. Skipped, with the reason printed, only when `python3` or
//! fastavro is missing (`scripts/lib/services.sh` installs fastavro with pip).

use std::io::Write;
use std::process::Command;

use serde_json::Value as Json;

use super::reader::Reader;
use super::*;
use crate::format::dts_avro::RECORD_AVSC;
use crate::schema::PgType;

/// Reads hex datums, one a line, and prints each decoded record as a JSON line.
const SCRIPT: &str = r#"
import io, json, math, sys
import fastavro
types = json.load(open(sys.argv[1]))
named = {}
for t in types[:-1]:
    fastavro.parse_schema(t, named_schemas=named)
record = fastavro.parse_schema(types[-1], named_schemas=named)

def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return "\\x" + v.hex()
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v

for line in open(sys.argv[2]):
    data = bytes.fromhex(line.strip())
    buf = io.BytesIO(data)
    rec = fastavro.schemaless_reader(buf, record)
    assert buf.tell() == len(data), f"{len(data) - buf.tell()} bytes left"
    print(json.dumps(plain(rec)))
"#;

/// Why fastavro cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    match Command::new("python3")
        .args(["-c", "import fastavro"])
        .output()
    {
        Err(e) => Some(format!("python3 is not available ({e})")),
        Ok(o) if !o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or_default().to_owned();
            Some(format!(
                "fastavro is not installed ({last}); pip install fastavro"
            ))
        }
        Ok(_) => None,
    }
}

/// One wide row: a column of many types, NULL and an unsent value among them.
fn wide_event() -> ChangeEvent {
    let mk = |oid, name: &str, kind| ty(oid, name, kind);
    let int4_t = mk(23, "int4", TypeKind::Int4);
    let columns: Vec<(Arc<PgType>, C)> = vec![
        (mk(21, "int2", TypeKind::Int2), C::V(int2(-7))),
        (mk(1700, "numeric", TypeKind::Numeric), C::V(numeric("NaN"))),
        (
            mk(701, "float8", TypeKind::Float8),
            C::V(float8(f64::INFINITY)),
        ),
        (mk(700, "float4", TypeKind::Float4), C::V(float4(1.1))),
        (mk(25, "text", TypeKind::Text), C::V(text("ünïcödé"))),
        (
            mk(17, "bytea", TypeKind::Bytea),
            C::V(vec![0xde, 0xad, 0xbe, 0xef]),
        ),
        (mk(1082, "date", TypeKind::Date), C::V(date(-2_440_588))),
        (
            mk(1266, "timetz", TypeKind::TimeTz),
            C::V(timetz(1, -19_815)),
        ),
        (
            mk(1184, "timestamptz", TypeKind::TimestampTz),
            C::V(timestamp(1)),
        ),
        (mk(16, "bool", TypeKind::Bool), C::V(boolean(true))),
        (
            mk(3802, "jsonb", TypeKind::Jsonb),
            C::V(jsonb("{\"a\": 1}")),
        ),
        (
            mk(2950, "uuid", TypeKind::Uuid),
            C::V(uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ),
        (
            mk(1007, "_int4", TypeKind::Array(int4_t)),
            C::V(array(23, &[Some(int4(1)), None])),
        ),
        (
            mk(1114, "timestamp", TypeKind::Timestamp),
            C::V(int8(i64::MAX)),
        ),
        (mk(25, "text", TypeKind::Text), C::Null),
        (mk(25, "text", TypeKind::Text), C::Unchanged),
    ];
    let mut cols = vec![col("id", ty(23, "int4", TypeKind::Int4), -1, true)];
    let mut cells = vec![C::V(int4(1))];
    for (i, (t, c)) in columns.into_iter().enumerate() {
        cols.push(col(&format!("c{i}"), t, -1, false));
        cells.push(c);
    }
    let tbl = table(20_200, "wide", cols, ReplicaIdentity::Default);
    event(&tbl, Op::Insert, None, Some(row(cells)))
}

/// Datums of every kind: rows, a key-only old image, TRUNCATE, DDL, extra tags, many types.
fn datums() -> Vec<Vec<u8>> {
    let t = orders(ReplicaIdentity::Full);
    let new = order("NEW", "19.90", 1_705_307_400);
    let mut f = format();
    let mut out = Vec::new();
    let insert = stream_event(
        &t,
        Op::Insert,
        (None, Some(new.clone())),
        (1, 2, 0x30),
        None,
    );
    let update = stream_event(
        &t,
        Op::Update,
        (Some(new.clone()), Some(new)),
        (1, 2, 0x30),
        None,
    );
    let mut truncate = insert.clone();
    truncate.op = Op::Truncate;
    for ev in [insert.clone(), update, truncate, wide_event()] {
        out.extend(encode(&mut f, &ev).into_iter().map(|r| r.value));
    }
    let mut ddl = EncodedBatch::default();
    let change = crate::source::SchemaChange {
        table: t,
        previous: None,
        at: None,
        ddl: Some("CREATE INDEX i ON public.orders (status)".into()),
    };
    f.schema_change(&change, &mut ddl).unwrap();
    out.push(ddl.records()[0].value.clone());
    let tagged = DtsAvroOptions {
        extra_tags: true,
        ..DtsAvroOptions::default()
    };
    let mut f = format_with(tagged, Routing::plain("appdb", None));
    out.push(encode(&mut f, &insert)[0].value.clone());
    out
}

#[test]
fn fastavro_reads_what_apache_avro_reads() {
    if let Some(reason) = unavailable() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("Record.avsc");
    std::fs::write(&schema, RECORD_AVSC).unwrap();
    let data = dir.path().join("datums.hex");
    let datums = datums();
    let mut file = std::fs::File::create(&data).unwrap();
    for d in &datums {
        writeln!(file, "{}", hex::encode(d)).unwrap();
    }
    drop(file);
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&schema)
        .arg(&data)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "fastavro failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), datums.len());
    let r = Reader::new();
    for (d, py) in datums.iter().zip(&lines) {
        assert_eq!(*py, r.plain(d));
    }
    let wide = &lines[3]["afterImages"];
    assert_eq!(wide[0]["value"], "1");
    assert_eq!(wide[16], "NONE", "the unsent value");
    assert_eq!(wide[15], Json::Null, "the NULL");
}
