//! tributary's `debezium_json` against real Debezium 3.6.3, record by record and field by field.
//!
//! `tests/fixtures/debezium/<set>.schemas.jsonl` holds what Debezium wrote for the tables and
//! rows of `scripts/debezium/all_types.sql` (snapshot) and the changes of
//! `scripts/debezium/changes.sql` (stream), with `schemas.enable=true`. This test creates the
//! same tables and rows in a fresh database, runs `tributary run` (snapshot + stream into the
//! broker) with the set's options, applies the same changes, consumes every topic and compares
//! each record with Debezium's: the key (schema and payload), the value's schema, `before`,
//! `after` column by column, `source`, `op`, `transaction`, and the key-change headers.
//!
//! Masked, because they differ from run to run or by set-up: processing times (`ts_*`),
//! `source.ts_*`, `txId`, `lsn`, `sequence`, `xmin`, the topic prefix (`source.name` and schema
//! names), `source.db` and `source.version`. Everything else must be equal, except where
//! Debezium's value is wrong: each such field is listed in `DEVIATIONS` with the reason (also in
//! `src/format/debezium/mod.rs`), and the test fails if a listed deviation stops occurring.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

/// Tables of `all_types.sql`, in the order Debezium read them.
const TABLES: &[&str] = &[
    "basic_types",
    "float_types",
    "numeric_types",
    "numeric_special",
    "time_types",
    "array_types",
    "range_types",
    "geo_types",
    "custom_types",
    "ext_types",
    "toast_types",
    "nopk_types",
    "marker",
];

/// Columns Debezium leaves out (types it does not map, `include.unknown.datatypes=false`);
/// tributary writes them as strings of their PostgreSQL text form.
const DROPPED: &[(&str, &str)] = &[
    ("basic_types", "c_tsquery"),
    ("basic_types", "c_pg_lsn"),
    ("basic_types", "c_xid8"),
    ("custom_types", "c_complex"),
    ("range_types", "c_int4multirange"),
    ("range_types", "c_int8multirange"),
    ("range_types", "c_nummultirange"),
    ("range_types", "c_tsmultirange"),
    ("range_types", "c_tstzmultirange"),
    ("range_types", "c_datemultirange"),
    ("geo_types", "c_line"),
    ("geo_types", "c_lseg"),
    ("geo_types", "c_box"),
    ("geo_types", "c_path_open"),
    ("geo_types", "c_path_closed"),
    ("geo_types", "c_polygon"),
    ("geo_types", "c_circle"),
];

/// A value where Debezium is wrong and tributary deliberately differs.
struct Deviation {
    table: &'static str,
    column: &'static str,
    /// Row ids (`id` column) where it shows.
    ids: &'static [i64],
    why: &'static str,
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        table: "basic_types",
        column: "c_name",
        ids: &[101, 102, 103, 202],
        why: "Debezium's stream writes every name value as null; tributary writes the string, as Debezium's snapshot does",
    },
    Deviation {
        table: "numeric_types",
        column: "c_num_neg",
        ids: &[1, 2, 3, 4, 6, 7, 101, 102, 103, 104, 106, 107],
        why: "numeric(5,-2): Debezium reads PostgreSQL 15's negative scale as 2046 and writes 10^2046 times the value; tributary writes scale -2",
    },
    Deviation {
        table: "time_types",
        column: "c_date",
        ids: &[3, 4, 5],
        why: "Debezium's snapshot writes BC dates as AD and ±infinity as int32 overflow garbage; tributary writes what Debezium's stream writes for the same values",
    },
    Deviation {
        table: "array_types",
        column: "c_int4_2d",
        ids: &[1, 2, 101, 102],
        why: "Debezium writes one null per sub-array of a 2-D array; tributary flattens the elements",
    },
    Deviation {
        table: "array_types",
        column: "c_mood_arr",
        ids: &[2, 102],
        why: "Debezium writes an enum array with a NULL element as null; tributary writes the elements",
    },
    Deviation {
        table: "array_types",
        column: "c_numeric_arr",
        ids: &[2, 102],
        why: "Debezium writes a numeric array holding NaN as null; tributary writes NaN as null and keeps the others",
    },
    Deviation {
        table: "array_types",
        column: "c_date_arr",
        ids: &[2, 102],
        why: "Debezium writes ±infinity in date arrays as int32 overflow garbage; tributary writes its scalar stream values",
    },
    Deviation {
        table: "ext_types",
        column: "c_ltree_arr",
        ids: &[3, 103],
        why: "Debezium writes an ltree array with a NULL element as null; tributary writes the elements",
    },
];

/// Column schemas where Debezium is wrong and tributary deliberately differs.
const SCHEMA_DEVIATIONS: &[(&str, &str, &str)] = &[(
    "numeric_types",
    "c_num_neg",
    "numeric(5,-2): Debezium's Decimal schema says scale 2046 (the 11-bit field read unsigned); tributary's says -2",
)];

/// Source fields that vary by run or set-up.
const MASKED_SOURCE: &[&str] = &[
    "version", "name", "ts_ms", "ts_us", "ts_ns", "db", "sequence", "txId", "lsn", "xmin",
];

/// One record: its table, key and value (`None` for a tombstone), key-change headers.
#[derive(Debug, Clone)]
struct Rec {
    table: String,
    key: Option<Value>,
    value: Option<Value>,
    headers: BTreeMap<String, String>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debezium")
}

/// Debezium's records of option set `set`, by table, in order.
fn debezium_records(set: &str) -> BTreeMap<String, Vec<Rec>> {
    let text = std::fs::read_to_string(fixtures().join(format!("{set}.schemas.jsonl"))).unwrap();
    let mut out: BTreeMap<String, Vec<Rec>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: Value = serde_json::from_str(line).unwrap();
        let topic = r["topic"].as_str().unwrap();
        let Some(table) = topic.strip_prefix("dbz.public.") else {
            continue;
        };
        let headers = r["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter(|(k, _)| k.starts_with("__debezium.") && !k.contains("context"))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        out.entry(table.to_owned()).or_default().push(Rec {
            table: table.to_owned(),
            key: (!r["key"].is_null()).then(|| r["key"].clone()),
            value: (!r["value"].is_null()).then(|| r["value"].clone()),
            headers,
        });
    }
    out
}

/// The SQL of a script without psql's meta-commands.
fn script(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/debezium")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// tributary's records of every table, by table, in order, for a task with `debezium` options.
async fn tributary_records(
    db: &TestDb,
    debezium: &str,
    snapshot_rows: usize,
) -> BTreeMap<String, Vec<Rec>> {
    let setup = TaskSetup::new(&db.url, "fidelity", &["public.*"], &["full", "incremental"]);
    add_to_section(&setup.path, "source", "snapshot_connections = 1");
    // A table header may come anywhere in TOML: the options go at the end of the file.
    let mut text = std::fs::read_to_string(&setup.path).unwrap();
    text.push_str(&format!(
        "[destination.debezium]\nschemas_enable = true\n{debezium}\n"
    ));
    std::fs::write(&setup.path, text).unwrap();
    let child = setup.spawn();
    let topic = |t: &str| setup.topic(&format!("public.{t}"));
    tracing::info!("the snapshot: every table's rows");
    {
        let start = Instant::now();
        loop {
            let n: usize = TABLES
                .iter()
                .map(|t| {
                    consume_all(
                        &topic(t),
                        Duration::from_millis(300),
                        Duration::from_secs(3),
                    )
                    .len()
                })
                .sum();
            if n >= snapshot_rows {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "snapshot: {n} of {snapshot_rows} records"
            );
        }
    }
    tracing::info!("the changes, streamed; the marker row ends them");
    {
        db.client
            .batch_execute(&script("changes.sql"))
            .await
            .unwrap();
        let m = consume_until(&topic("marker"), |m| !m.is_empty());
        assert!(!m.is_empty(), "the marker row arrived");
    }
    let mut out = BTreeMap::new();
    for t in TABLES {
        let msgs = consume_all(&topic(t), Duration::from_secs(1), Duration::from_secs(20));
        let recs: Vec<Rec> = msgs
            .into_iter()
            .map(|m| Rec {
                table: (*t).to_owned(),
                key: m.key,
                value: m.value,
                headers: m
                    .headers
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("__debezium."))
                    .collect(),
            })
            .collect();
        out.insert((*t).to_owned(), recs);
    }
    child.sigterm();
    let (code, err) = child.wait_exit(Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    // Topic names carry the task's prefix; schema names too: make them Debezium's `dbz`.
    let prefix = format!("{}.", setup.task);
    for recs in out.values_mut() {
        for r in recs.iter_mut() {
            rename_prefix(&mut r.key, &prefix);
            rename_prefix(&mut r.value, &prefix);
        }
    }
    out
}

fn rename_prefix(v: &mut Option<Value>, prefix: &str) {
    fn walk(v: &mut Value, prefix: &str) {
        match v {
            Value::String(s) if s.starts_with(prefix) => *s = format!("dbz.{}", &s[prefix.len()..]),
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, prefix)),
            Value::Object(o) => o.values_mut().for_each(|x| walk(x, prefix)),
            _ => {}
        }
    }
    if let Some(v) = v {
        walk(v, prefix);
    }
}

/// The row id of a record (`id` of the key, else of `after`/`before`).
fn row_id(r: &Rec) -> Option<i64> {
    let from = |v: &Value| v.get("id").and_then(Value::as_i64);
    r.key
        .as_ref()
        .and_then(|k| from(&k["payload"]))
        .or_else(|| r.value.as_ref().and_then(|v| from(&v["payload"]["after"])))
        .or_else(|| r.value.as_ref().and_then(|v| from(&v["payload"]["before"])))
}

fn deviation(table: &str, column: &str, id: Option<i64>) -> Option<&'static Deviation> {
    DEVIATIONS
        .iter()
        .find(|d| d.table == table && d.column == column && id.is_some_and(|i| d.ids.contains(&i)))
}

fn dropped(table: &str, column: &str) -> bool {
    DROPPED.contains(&(table, column))
}

/// Compares everything; returns mismatch messages and the deviations that showed.
struct Comparison {
    mismatches: Vec<String>,
    deviations_seen: BTreeSet<(&'static str, &'static str, i64)>,
    schema_deviations_seen: BTreeSet<String>,
    /// Debezium skips TRUNCATE unless `skipped.operations` says otherwise; tributary writes it.
    skip_truncates: bool,
}

impl Comparison {
    fn differ(&mut self, what: String, dbz: &Value, ours: &Value) {
        self.mismatches
            .push(format!("{what}: Debezium {dbz}, tributary {ours}"));
    }

    fn table(&mut self, table: &str, dbz: &[Rec], ours: &[Rec]) {
        let ours: Vec<&Rec> = ours
            .iter()
            .filter(|r| {
                !self.skip_truncates || r.value.as_ref().is_none_or(|v| v["payload"]["op"] != "t")
            })
            .collect();
        if dbz.len() != ours.len() {
            self.mismatches.push(format!(
                "{table}: Debezium wrote {} records, tributary {}",
                dbz.len(),
                ours.len()
            ));
        }
        for (i, (d, o)) in dbz.iter().zip(ours).enumerate() {
            self.record(&format!("{table} record {i} (id {:?})", row_id(d)), d, o);
        }
    }

    fn record(&mut self, at: &str, d: &Rec, o: &Rec) {
        let id = row_id(d);
        match (&d.key, &o.key) {
            (Some(dk), Some(ok)) if dk != ok => self.differ(format!("{at} key"), dk, ok),
            (Some(dk), None) => self.differ(format!("{at} key"), dk, &Value::Null),
            (None, Some(ok)) => self.differ(format!("{at} key"), &Value::Null, ok),
            _ => {}
        }
        if d.headers != o.headers {
            self.mismatches.push(format!(
                "{at} headers: Debezium {:?}, tributary {:?}",
                d.headers, o.headers
            ));
        }
        match (&d.value, &o.value) {
            (Some(dv), Some(ov)) => {
                self.schema(at, &d.table, &dv["schema"], &ov["schema"]);
                self.payload(at, &d.table, id, &dv["payload"], &ov["payload"]);
            }
            (None, None) => {}
            (dv, ov) => self
                .mismatches
                .push(format!("{at} tombstone: Debezium {dv:?}, tributary {ov:?}")),
        }
    }

    /// The envelope schema, tributary's extra (dropped-by-Debezium) columns taken out.
    fn schema(&mut self, at: &str, table: &str, d: &Value, o: &Value) {
        let mut o = o.clone();
        if let Some(fields) = o["fields"].as_array_mut() {
            for image in fields.iter_mut().take(2) {
                if let Some(cols) = image["fields"].as_array_mut() {
                    cols.retain(|c| !dropped(table, c["field"].as_str().unwrap_or_default()));
                }
            }
        }
        let (Some(df), Some(of)) = (d["fields"].as_array(), o["fields"].as_array()) else {
            return self.differ(format!("{at} schema"), d, &o);
        };
        // Column by column for readable failures, then the rest whole.
        if let (Some(dc), Some(oc)) = (df[0]["fields"].as_array(), of[0]["fields"].as_array()) {
            for c in dc {
                let name = c["field"].as_str().unwrap_or_default();
                match oc.iter().find(|x| x["field"] == c["field"]) {
                    Some(x) if x == c => {}
                    Some(_)
                        if SCHEMA_DEVIATIONS
                            .iter()
                            .any(|(t, n, _)| *t == table && *n == name) =>
                    {
                        self.schema_deviations_seen
                            .insert(format!("{table}.{name}"));
                    }
                    Some(x) => self.differ(format!("{at} schema of column {name}"), c, x),
                    None => self.differ(format!("{at} schema of column {name}"), c, &Value::Null),
                }
            }
        }
        if d != &o {
            let mut d2 = d.clone();
            let mut o2 = o.clone();
            for x in [&mut d2, &mut o2] {
                for image in x["fields"].as_array_mut().into_iter().flatten().take(2) {
                    image["fields"] = Value::Null;
                }
            }
            if d2 != o2 {
                self.differ(format!("{at} envelope schema"), &d2, &o2);
            } else {
                // Column order or an extra column.
                let names = |v: &Value| -> Vec<String> {
                    v["fields"][0]["fields"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|c| c["field"].as_str().unwrap_or_default().to_owned())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                if names(d) != names(&o) {
                    self.mismatches.push(format!(
                        "{at} columns: Debezium {:?}, tributary {:?}",
                        names(d),
                        names(&o)
                    ));
                }
            }
        }
    }

    fn payload(&mut self, at: &str, table: &str, id: Option<i64>, d: &Value, o: &Value) {
        for image in ["before", "after"] {
            self.image(&format!("{at} {image}"), table, id, &d[image], &o[image]);
        }
        let mut ds = d["source"].clone();
        let mut os = o["source"].clone();
        for s in [&mut ds, &mut os] {
            if let Some(obj) = s.as_object_mut() {
                for f in MASKED_SOURCE {
                    obj.remove(*f);
                }
                // Debezium reads the tables in its include list's order and the test lists
                // them by name for tributary: `first`/`last` are checked separately.
                if let Some(Value::String(m)) = obj.get_mut("snapshot") {
                    match m.as_str() {
                        "first" => *m = "first_in_data_collection".into(),
                        "last" => *m = "last_in_data_collection".into(),
                        _ => {}
                    }
                }
            }
        }
        if ds != os {
            self.differ(format!("{at} source"), &ds, &os);
        }
        for f in ["op", "transaction"] {
            if d[f] != o[f] {
                self.differ(format!("{at} {f}"), &d[f], &o[f]);
            }
        }
    }

    fn image(&mut self, at: &str, table: &str, id: Option<i64>, d: &Value, o: &Value) {
        let (Some(dm), Some(om)) = (d.as_object(), o.as_object()) else {
            if d != o {
                self.differ(at.to_owned(), d, o);
            }
            return;
        };
        for (col, dv) in dm {
            let ov = om.get(col).unwrap_or(&Value::Null);
            if dv == ov {
                continue;
            }
            match deviation(table, col, id) {
                Some(dev) => {
                    self.deviations_seen
                        .insert((dev.table, dev.column, id.unwrap_or_default()));
                }
                None => self.differ(format!("{at} column {col}"), dv, ov),
            }
        }
        for col in om.keys().filter(|c| !dm.contains_key(*c)) {
            if !dropped(table, col) {
                self.mismatches
                    .push(format!("{at}: column {col} is not in Debezium's record"));
            }
        }
    }
}

/// The snapshot marks tributary must place: `first` on the first row of the first table by
/// name, `last` on the last row of the last table by name, one of each.
fn check_first_and_last(ours: &BTreeMap<String, Vec<Rec>>) -> Vec<String> {
    let marks: Vec<(String, String)> = ours
        .iter()
        .flat_map(|(t, recs)| {
            recs.iter().filter_map(move |r| {
                let m = r.value.as_ref()?["payload"]["source"]["snapshot"]
                    .as_str()?
                    .to_owned();
                Some((t.clone(), m))
            })
        })
        .filter(|(_, m)| m == "first" || m == "last")
        .collect();
    let want = vec![
        ("array_types".to_owned(), "first".to_owned()),
        ("toast_types".to_owned(), "last".to_owned()),
    ];
    if marks == want {
        vec![]
    } else {
        vec![format!(
            "snapshot first/last marks: {marks:?}, expected {want:?}"
        )]
    }
}

/// Runs tributary with `debezium` options (TOML lines of `[destination.debezium]`) over the
/// recorded tables and compares `tables` with Debezium's option set `set`.
async fn compare_set(set: &str, debezium: &str, tables: &[&str]) {
    let dbz = debezium_records(set);
    let db = TestDb::create("fidelity").await;
    db.client
        .batch_execute(&format!(
            "SET TimeZone = 'UTC'; {}",
            script("all_types.sql")
        ))
        .await
        .unwrap();
    // tributary reads every table: wait for all of the snapshot before the changes.
    let snapshot_rows = debezium_records("defaults")
        .values()
        .flatten()
        .filter(|r| r.value.as_ref().is_some_and(|v| v["payload"]["op"] == "r"))
        .count();
    let ours = tributary_records(&db, debezium, snapshot_rows).await;
    let mut cmp = Comparison {
        mismatches: Vec::new(),
        deviations_seen: BTreeSet::new(),
        schema_deviations_seen: BTreeSet::new(),
        skip_truncates: set != "truncate",
    };
    for t in tables {
        let d = dbz.get(*t).map(Vec::as_slice).unwrap_or_default();
        let o = ours.get(*t).map(Vec::as_slice).unwrap_or_default();
        cmp.table(t, d, o);
    }
    if set == "defaults" {
        cmp.mismatches.extend(check_first_and_last(&ours));
    }
    db.cleanup().await;
    for dev in DEVIATIONS.iter().filter(|d| tables.contains(&d.table)) {
        let seen = cmp
            .deviations_seen
            .iter()
            .any(|(t, c, _)| *t == dev.table && *c == dev.column);
        if !seen && set == "defaults" {
            cmp.mismatches.push(format!(
                "listed deviation {}.{} ({}) no longer shows: remove it from DEVIATIONS and the docs",
                dev.table, dev.column, dev.why
            ));
        }
    }
    for (t, c, why) in SCHEMA_DEVIATIONS.iter().filter(|d| tables.contains(&d.0)) {
        if set == "defaults" && !cmp.schema_deviations_seen.contains(&format!("{t}.{c}")) {
            cmp.mismatches.push(format!(
                "listed schema deviation {t}.{c} ({why}) no longer shows: remove it from SCHEMA_DEVIATIONS and the docs"
            ));
        }
    }
    assert!(
        cmp.mismatches.is_empty(),
        "{set}: {} differences from Debezium 3.6.3:\n{}",
        cmp.mismatches.len(),
        cmp.mismatches.join("\n")
    );
}

/// Debezium's default `unavailable.value.placeholder` (tributary's own default differs).
const DEBEZIUM_PLACEHOLDER: &str =
    "unavailable_value_placeholder = \"__debezium_unavailable_value\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_match_debezium() {
    compare_set("defaults", DEBEZIUM_PLACEHOLDER, TABLES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_string_matches_debezium() {
    let tables = [
        "numeric_types",
        "numeric_special",
        "array_types",
        "custom_types",
    ];
    compare_set(
        "decimal_string",
        "decimal_handling_mode = \"string\"",
        &tables,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_double_matches_debezium() {
    let tables = [
        "numeric_types",
        "numeric_special",
        "array_types",
        "custom_types",
    ];
    compare_set(
        "decimal_double",
        "decimal_handling_mode = \"double\"",
        &tables,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_string_matches_debezium() {
    compare_set(
        "interval_string",
        "interval_handling_mode = \"string\"",
        &["time_types"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hstore_map_matches_debezium() {
    compare_set(
        "hstore_map",
        "hstore_handling_mode = \"map\"",
        &["ext_types"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholder_matches_debezium() {
    let opt = "unavailable_value_placeholder = \"__tributary_unavailable_value\"";
    compare_set("placeholder", opt, &["toast_types"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_off_matches_debezium() {
    let opts = format!("tombstones_on_delete = false\n{DEBEZIUM_PLACEHOLDER}");
    let tables = ["basic_types", "custom_types", "nopk_types"];
    compare_set("tombstones_off", &opts, &tables).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_matches_debezium() {
    compare_set("truncate", DEBEZIUM_PLACEHOLDER, &["nopk_types"]).await;
}
