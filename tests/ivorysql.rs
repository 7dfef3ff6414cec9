//! IvorySQL end to end: Oracle-compatible PostgreSQL (the open stand-in for PolarDB for
//! PostgreSQL (Compatible with Oracle)) as the source. A table created through the Oracle-mode
//! port with every Oracle type IvorySQL has, filled with edge values (negative and 38-digit
//! NUMBERs, a DATE at 23:59:59, fractional seconds, non-ASCII text, `''` (NULL in Oracle mode, a
//! zero-length string when written through the PostgreSQL port) and NULL), is migrated full and
//! incremental in every format; a real Kafka consumer reads the messages back and every value is
//! compared with the server's own rendering of it (`SELECT` through the PostgreSQL-mode port, the
//! Oracle type cast to the PostgreSQL type with its wire format). A task pointed at the
//! Oracle-mode port works as well.
//!
//! The server comes from `scripts/test.sh` (or `scripts/ivorysql.sh start`): without
//! `TRIBUTARY_TEST_IVORY_URL` these tests fail and say how to start it.

mod support;

mod serial {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use base64::Engine;
    use serde_json::{Map, Value};

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);

    /// How to get a server when the environment names none.
    const HOW: &str = "start IvorySQL with `scripts/ivorysql.sh start` and export \
        TRIBUTARY_TEST_IVORY_URL=postgres://tributary:tributary@127.0.0.1:54331/postgres and \
        TRIBUTARY_TEST_IVORY_ORA_URL=postgres://tributary:tributary@127.0.0.1:54332/postgres \
        (scripts/test.sh does both)";

    /// The PostgreSQL-mode port of the test IvorySQL.
    fn ivory_url() -> String {
        std::env::var("TRIBUTARY_TEST_IVORY_URL")
            .unwrap_or_else(|_| panic!("TRIBUTARY_TEST_IVORY_URL is not set: {HOW}"))
    }

    /// Its Oracle-mode port.
    fn ivory_ora_url() -> String {
        std::env::var("TRIBUTARY_TEST_IVORY_ORA_URL")
            .unwrap_or_else(|_| panic!("TRIBUTARY_TEST_IVORY_ORA_URL is not set: {HOW}"))
    }

    /// Every Oracle type of IvorySQL 5.4, in Oracle syntax (run through the Oracle-mode port).
    const DDL: &str = "CREATE TABLE ora_types (
        id NUMBER(10) PRIMARY KEY, n NUMBER, n38 NUMBER(38), nps NUMBER(12,4), nneg NUMBER(6,-2),
        v2b VARCHAR2(40 BYTE), v2c VARCHAR2(40 CHAR), c CHAR(6), cl CLOB, ncl NCLOB, bl BLOB,
        rw RAW(16), d DATE, ts TIMESTAMP, ts3 TIMESTAMP(3), tstz TIMESTAMP WITH TIME ZONE,
        tsltz TIMESTAMP WITH LOCAL TIME ZONE, bf BINARY_FLOAT, bd BINARY_DOUBLE,
        iym INTERVAL YEAR TO MONTH, ids INTERVAL DAY TO SECOND, lg LONG, lr LONG RAW, x XMLTYPE)";

    const COLUMNS: [&str; 24] = [
        "id", "n", "n38", "nps", "nneg", "v2b", "v2c", "c", "cl", "ncl", "bl", "rw", "d", "ts",
        "ts3", "tstz", "tsltz", "bf", "bd", "iym", "ids", "lg", "lr", "x",
    ];

    /// The Oracle-mode INSERT of row `id` in one of three shapes: 1 ordinary values with
    /// non-ASCII text and fractions, 2 `''` (NULL in Oracle mode) and NULL, 3 extremes.
    fn oracle_row(id: i64, shape: i64) -> String {
        match shape {
            1 => format!(
                "INSERT INTO ora_types VALUES ({id}, -123.456, 12345678901234567890123456789012345678,
                 -12345678.1234, 123400, 'héllo wörld', '日本語テキスト', 'ab', 'clob ü \"q\"', 'nclob ñ',
                 hextoraw('DEADBEEF'), hextoraw('00FF'),
                 TO_DATE('2024-03-15 23:59:59', 'YYYY-MM-DD HH24:MI:SS'),
                 TO_TIMESTAMP('2024-03-15 10:11:12.123456', 'YYYY-MM-DD HH24:MI:SS.FF6'),
                 TO_TIMESTAMP('2024-03-15 10:11:12.123', 'YYYY-MM-DD HH24:MI:SS.FF3'),
                 TO_TIMESTAMP_TZ('2024-03-15 10:11:12.5 +05:30', 'YYYY-MM-DD HH24:MI:SS.FF TZH:TZM'),
                 TO_TIMESTAMP('2024-03-15 10:11:12.5', 'YYYY-MM-DD HH24:MI:SS.FF'), 1.5, -2.25e300,
                 INTERVAL '1-2' YEAR TO MONTH, INTERVAL '3 04:05:06.789' DAY TO SECOND, 'long ü', hextoraw('0A0B'),
                 XMLTYPE('<a x=\"1\">ü</a>'))"
            ),
            2 => format!(
                "INSERT INTO ora_types (id, v2b, v2c, c, cl, lg) VALUES ({id}, '', '', '', '', '')"
            ),
            _ => format!(
                "INSERT INTO ora_types (id, n, n38, nps, nneg, v2b, c, d, ts, ts3, tstz, tsltz, bf, bd,
                 iym, ids, x) VALUES ({id}, -99999999999999999999999999999999999999,
                 -12345678901234567890123456789012345678, 0.0001, -999900, 'x', 'abcdef',
                 TO_DATE('2000-02-29 23:59:59', 'YYYY-MM-DD HH24:MI:SS'),
                 TO_TIMESTAMP('1969-12-31 23:59:59.999999', 'YYYY-MM-DD HH24:MI:SS.FF6'),
                 TO_TIMESTAMP('1969-12-31 23:59:59.999', 'YYYY-MM-DD HH24:MI:SS.FF3'),
                 TO_TIMESTAMP_TZ('1999-12-31 23:59:59.999999 -08:00', 'YYYY-MM-DD HH24:MI:SS.FF TZH:TZM'),
                 TO_TIMESTAMP('1900-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS'), 0.1, 1e-300,
                 INTERVAL '-3-7' YEAR TO MONTH, INTERVAL '-1 00:00:00.000001' DAY TO SECOND,
                 XMLTYPE('<r/>'))"
            ),
        }
    }

    /// Zero-length strings, which only the PostgreSQL-mode port stores as such.
    fn pg_row(id: i64) -> String {
        format!("INSERT INTO ora_types (id, v2b, v2c, c, cl, lg) VALUES ({id}, '', '', '', '', '')")
    }

    /// A database on IvorySQL with the table and its snapshot rows (ids 1-4), and a session on
    /// the Oracle-mode port.
    async fn fixture(prefix: &str) -> (TestDb, tokio_postgres::Client) {
        let db = TestDb::create_on(&ivory_url(), prefix).await;
        let ora = connect(&with_db(&ivory_ora_url(), &db.name)).await;
        let mode: String = ora
            .query_one("SHOW ivorysql.compatible_mode", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            mode, "oracle",
            "TRIBUTARY_TEST_IVORY_ORA_URL is not the Oracle-mode port"
        );
        ora.batch_execute(DDL).await.unwrap();
        for shape in 1..=3 {
            ora.batch_execute(&oracle_row(shape, shape)).await.unwrap();
        }
        db.client.batch_execute(&pg_row(4)).await.unwrap();
        (db, ora)
    }

    /// The stream's changes: the four shapes again (ids 11-14), and an UPDATE of row 1.
    async fn write_changes(db: &TestDb, ora: &tokio_postgres::Client) {
        for shape in 1..=3 {
            ora.batch_execute(&oracle_row(10 + shape, shape))
                .await
                .unwrap();
        }
        db.client.batch_execute(&pg_row(14)).await.unwrap();
        ora.batch_execute(
            "UPDATE ora_types SET d = TO_DATE('2024-12-31 23:59:59', 'YYYY-MM-DD HH24:MI:SS'),
             n = -n * 1000, v2b = 'ünïcode', iym = INTERVAL '0-11' YEAR TO MONTH WHERE id = 1",
        )
        .await
        .unwrap();
    }

    /// Every row as the server renders it, by id: each column's value in the PostgreSQL type
    /// with its wire format (`NUMBER` as numeric, `DATE` as timestamp, ...) as `::text` prints
    /// it (TimeZone UTC, IntervalStyle postgres), `CHAR` through its own output function
    /// (blank-padded), and the Debezium forms of the temporal columns (`<col>#dbz`).
    async fn rendering(db: &TestDb) -> BTreeMap<i64, Map<String, Value>> {
        // The Oracle intervals' text (`-000000001 00:00:00.000001000`) is read back as a
        // PostgreSQL interval under the SQL-standard style, where the sign covers every field.
        db.client
            .batch_execute(
                "SET TimeZone = 'UTC'; SET IntervalStyle = sql_standard;
                 DROP TABLE IF EXISTS pg_temp.ivs;
                 CREATE TEMP TABLE ivs AS SELECT id, iym::text::interval AS iym,
                   ids::text::interval AS ids FROM ora_types;
                 SET IntervalStyle = postgres",
            )
            .await
            .unwrap();
        let rows = db.client.query(RENDER_SQL, &[]).await.unwrap();
        rows.iter()
            .map(|r| {
                let v: Value = serde_json::from_str(r.get(1)).unwrap();
                (r.get::<_, i64>(0), v.as_object().unwrap().clone())
            })
            .collect()
    }

    const RENDER_SQL: &str = r#"
        WITH r AS (SELECT o.*, i.iym AS piym, i.ids AS pids,
                     d::sys.oratimestamp::timestamp AS pd, ts::timestamp AS pts,
                     ts3::timestamp AS pts3, tstz::timestamptz AS ptstz,
                     tsltz::sys.oratimestamptz::timestamptz AS ptsltz
                   FROM ora_types o JOIN ivs i USING (id))
        SELECT id::numeric::int8, json_build_object(
          'id', id::numeric::text, 'n', n::numeric::text, 'n38', n38::numeric::text,
          'nps', nps::numeric::text, 'nneg', nneg::numeric::text, 'v2b', v2b::text,
          'v2c', v2c::text, 'c', CASE WHEN c IS NOT NULL THEN format('%s', c) END,
          'cl', cl::text, 'ncl', ncl::text, 'bl', bl::bytea::text, 'rw', rw::bytea::text,
          'd', pd::text, 'ts', pts::text, 'ts3', pts3::text, 'tstz', ptstz::text,
          'tsltz', ptsltz::text, 'bf', bf::real::text, 'bd', bd::float8::text,
          'iym', piym::text, 'ids', pids::text, 'lg', lg::text, 'lr', lr::bytea::text, 'x', x::text,
          'd#dbz', (extract(epoch FROM pd) * 1000000)::int8,
          'ts#dbz', (extract(epoch FROM pts) * 1000000)::int8,
          'ts3#dbz', floor(extract(epoch FROM pts3) * 1000)::int8,
          'tstz#dbz', to_char(ptstz, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
          'tsltz#dbz', to_char(ptsltz, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
          'iym#dbz', trunc(micro_duration(piym)),
          'ids#dbz', trunc(micro_duration(pids))
        )::text FROM r ORDER BY 1"#;

    /// Debezium's `MicroDuration` (months as 30.4375 days) as exact SQL arithmetic.
    const MICRO_DURATION_FN: &str = "CREATE FUNCTION micro_duration(i interval) RETURNS numeric
        LANGUAGE sql IMMUTABLE AS $$ SELECT (((extract(year FROM i) * 12 + extract(month FROM i))
        * 30.4375 + extract(day FROM i)) * 86400 + extract(hour FROM i) * 3600
        + extract(minute FROM i) * 60 + extract(second FROM i)) * 1000000 $$";

    /// Runs a task in `format` over the fixture through `url` (a port of the fixture's
    /// database), full and incremental; returns the messages' raw values (snapshot rows 1-4,
    /// then the stream's five changes), and the renderings at the snapshot and at the end.
    async fn migrate(
        prefix: &str,
        format: &str,
        oracle_port: bool,
        extra: &str,
    ) -> (Vec<Vec<u8>>, Rendered) {
        let (db, ora) = fixture(prefix).await;
        db.client.batch_execute(MICRO_DURATION_FN).await.unwrap();
        let snapshot = rendering(&db).await;
        let url = if oracle_port {
            with_db(&ivory_ora_url(), &db.name)
        } else {
            db.url.clone()
        };
        let dir = tempfile::tempdir().unwrap();
        let task = unique(prefix);
        let path = task_file(
            dir.path(),
            &task,
            &url,
            &kafka(),
            &["public.ora_types"],
            &["full", "incremental"],
            "",
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace(
            "format = \"debezium_json\"",
            &format!("format = \"{format}\"\n{extra}"),
        );
        std::fs::write(&path, text).unwrap();
        let mut child = spawn_run(&path, &dir.path().join("data"));
        child.wait_stream_active(&db, &task, LIMIT).await;
        write_changes(&db, &ora).await;
        let end = rendering(&db).await;
        let table = if extra.contains("\"upper\"") {
            "PUBLIC.ORA_TYPES"
        } else {
            "public.ora_types"
        };
        let msgs = partition_zero_values(&format!("{task}.{table}"), 9, LIMIT);
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            msgs.len(),
            9,
            "4 snapshot rows and 5 changes; stderr:\n{err}"
        );
        db.cleanup().await;
        (msgs, Rendered { snapshot, end })
    }

    /// The server's renderings of the rows when the snapshot was read and after the changes.
    struct Rendered {
        snapshot: BTreeMap<i64, Map<String, Value>>,
        end: BTreeMap<i64, Map<String, Value>>,
    }

    impl Rendered {
        /// What message `i` (of `migrate`'s nine) must hold: its row id and rendering.
        fn expected(&self, i: usize) -> (i64, &Map<String, Value>) {
            let id = [1, 2, 3, 4, 11, 12, 13, 14, 1][i];
            let at = if i < 4 { &self.snapshot } else { &self.end };
            (id, &at[&id])
        }
    }

    /// `a` and `b` as the same decimal (trailing fraction zeros and `-0` aside).
    fn same_decimal(a: &str, b: &str) -> bool {
        fn norm(s: &str) -> String {
            let s = if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.')
            } else {
                s
            };
            if s == "-0" {
                "0".into()
            } else {
                s.to_owned()
            }
        }
        norm(a) == norm(b)
    }

    /// The decimal text of a two's-complement big-endian unscaled value and its scale.
    fn decimal_text(unscaled: &[u8], scale: i32) -> String {
        let mut v: i128 = if unscaled.first().is_some_and(|b| b & 0x80 != 0) {
            -1
        } else {
            0
        };
        for b in unscaled {
            v = (v << 8) | i128::from(*b);
        }
        let digits = v.unsigned_abs().to_string();
        let sign = if v < 0 { "-" } else { "" };
        if scale <= 0 {
            let zeros = if v == 0 {
                String::new()
            } else {
                "0".repeat((-scale) as usize)
            };
            return format!("{sign}{digits}{zeros}");
        }
        let scale = scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{sign}{int}.{frac}")
    }

    fn b64(v: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 string"))
            .expect("base64")
    }

    fn hex_of(b: &[u8]) -> String {
        format!("\\x{}", hex::encode(b))
    }

    /// Asserts that every column of a message's row equals the server's rendering.
    fn assert_row(
        what: &str,
        got: &Map<String, Value>,
        want: &Map<String, Value>,
        check: impl Fn(&str, &Value, &Map<String, Value>) -> bool,
    ) {
        for col in COLUMNS {
            let g = got
                .get(col)
                .unwrap_or_else(|| panic!("{what}: column {col} missing in {got:?}"));
            let w = &want[col];
            let ok = if w.is_null() || g.is_null() {
                w.is_null() && g.is_null()
            } else {
                check(col, g, want)
            };
            assert!(
                ok,
                "{what}: column {col}: message has {g}, the server renders {w}"
            );
        }
    }

    /// Canal JSON and SharePlex JSON carry every value as the server's `::text`.
    fn text_equal(col: &str, got: &Value, want: &Map<String, Value>) -> bool {
        *got == want[col]
    }

    /// Debezium JSON: decimals as Connect `Decimal` bytes (the scale is the column's) or
    /// `VariableScaleDecimal`, bytes as base64, timestamps as epoch micro- or milliseconds,
    /// zoned timestamps as ISO strings in UTC, intervals as `MicroDuration`.
    fn debezium_equal(col: &str, got: &Value, want: &Map<String, Value>) -> bool {
        let text = want[col].as_str().unwrap_or_default();
        let scale = match col {
            "nps" => 4,
            "nneg" => -2,
            _ => 0,
        };
        match col {
            "id" | "n38" | "nps" | "nneg" => same_decimal(&decimal_text(&b64(got), scale), text),
            "n" => same_decimal(
                &decimal_text(&b64(&got["value"]), got["scale"].as_i64().unwrap() as i32),
                text,
            ),
            "bl" | "rw" | "lr" => hex_of(&b64(got)) == text,
            "d" | "ts" | "ts3" | "tstz" | "tsltz" => *got == want[&format!("{col}#dbz")],
            "iym" | "ids" => {
                let w = want[&format!("{col}#dbz")].as_f64().unwrap();
                // Debezium computes in doubles, then truncates: a microsecond either way.
                (got.as_f64().unwrap() - w).abs() <= 1.0
            }
            "bf" => got.as_f64().map(|f| f as f32) == text.parse::<f32>().ok(),
            "bd" => got.as_f64() == text.parse::<f64>().ok(),
            _ => got.as_str() == Some(text),
        }
    }

    /// The nine messages' rows (JSON formats): snapshot rows 1-4, inserts 11-14, update of 1.
    fn json_rows(
        msgs: &[Vec<u8>],
        row: impl Fn(&Value) -> Map<String, Value>,
    ) -> Vec<Map<String, Value>> {
        msgs.iter()
            .map(|m| row(&serde_json::from_slice(m).expect("a JSON message")))
            .collect()
    }

    fn check_all(
        format: &str,
        rows: &[Map<String, Value>],
        r: &Rendered,
        check: impl Fn(&str, &Value, &Map<String, Value>) -> bool + Copy,
    ) {
        for (i, got) in rows.iter().enumerate() {
            let (id, want) = r.expected(i);
            let phase = if i < 4 { "snapshot" } else { "stream" };
            assert_row(&format!("{format}, {phase} row {id}"), got, want, check);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn canal_json_values_are_the_servers_rendering() {
        let (msgs, r) = migrate("ivcanal", "canal_json", false, "").await;
        let rows = json_rows(&msgs, |v| v["data"][0].as_object().unwrap().clone());
        check_all("canal_json", &rows, &r, text_equal);
        let first: Value = serde_json::from_slice(&msgs[0]).unwrap();
        for (col, name, code) in [
            ("id", "number", 3),
            ("v2b", "varchar2", 12),
            ("c", "char", 1),
            ("cl", "clob", 2005),
            ("bl", "blob", 2004),
            ("lr", "long raw", 2004),
            ("d", "date", 93),
            ("tsltz", "timestamp with local time zone", 93),
            ("iym", "interval year to month", 12),
            ("x", "xmltype", 12),
        ] {
            assert_eq!(first["mysqlType"][col], name, "{col}");
            assert_eq!(first["sqlType"][col], code, "{col}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shareplex_json_values_are_the_servers_rendering() {
        let (msgs, r) = migrate("ivsplex", "shareplex_json", false, "").await;
        let rows = json_rows(&msgs, |v| v["data"].as_object().unwrap().clone());
        check_all("shareplex_json", &rows, &r, text_equal);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn debezium_json_values_are_the_servers_rendering() {
        let extra = "[destination.debezium]\nschemas_enable = true";
        let (msgs, r) = migrate("ivdbz", "debezium_json", false, extra).await;
        let rows = json_rows(&msgs, |v| {
            v["payload"]["after"].as_object().unwrap().clone()
        });
        check_all("debezium_json", &rows, &r, debezium_equal);
        let first: Value = serde_json::from_slice(&msgs[0]).unwrap();
        let after = first["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == "after")
            .expect("the after schema");
        let schema = |col: &str| {
            let f = after["fields"].as_array().unwrap().iter();
            f.clone().find(|f| f["field"] == col).unwrap().clone()
        };
        let decimal = |scale: &str, precision: &str| serde_json::json!({"scale": scale, "connect.decimal.precision": precision});
        for (col, name, params) in [
            (
                "id",
                "org.apache.kafka.connect.data.Decimal",
                decimal("0", "10"),
            ),
            (
                "n38",
                "org.apache.kafka.connect.data.Decimal",
                decimal("0", "38"),
            ),
            (
                "nps",
                "org.apache.kafka.connect.data.Decimal",
                decimal("4", "12"),
            ),
            (
                "nneg",
                "org.apache.kafka.connect.data.Decimal",
                decimal("-2", "6"),
            ),
            ("n", "io.debezium.data.VariableScaleDecimal", Value::Null),
            ("d", "io.debezium.time.MicroTimestamp", Value::Null),
            ("ts", "io.debezium.time.MicroTimestamp", Value::Null),
            ("ts3", "io.debezium.time.Timestamp", Value::Null),
            ("tstz", "io.debezium.time.ZonedTimestamp", Value::Null),
            ("tsltz", "io.debezium.time.ZonedTimestamp", Value::Null),
            ("iym", "io.debezium.time.MicroDuration", Value::Null),
            ("ids", "io.debezium.time.MicroDuration", Value::Null),
            ("x", "io.debezium.data.Xml", Value::Null),
        ] {
            let f = schema(col);
            assert_eq!(f["name"], name, "{col}: {f}");
            assert_eq!(f["parameters"], params, "{col}: {f}");
        }
        for (col, ty) in [
            ("bf", "float"),
            ("bd", "double"),
            ("bl", "bytes"),
            ("rw", "bytes"),
        ] {
            assert_eq!(schema(col)["type"], ty, "{col}");
        }
    }

    /// `Record.avsc`'s named types, the `Record` last.
    fn avro_schemata() -> Vec<apache_avro::Schema> {
        let types: Vec<Value> =
            serde_json::from_str(tributary::format::dts_avro::RECORD_AVSC).expect("Record.avsc");
        let texts: Vec<String> = types.iter().map(Value::to_string).collect();
        apache_avro::Schema::parse_list(&texts).expect("Record.avsc parses")
    }

    /// An Avro value as plain JSON: unions as their value, bytes as `\x<hex>`.
    fn plain(v: &apache_avro::types::Value) -> Value {
        use apache_avro::types::Value as A;
        match v {
            A::Union(_, inner) => plain(inner),
            A::Record(f) => Value::Object(f.iter().map(|(k, x)| (k.clone(), plain(x))).collect()),
            A::Array(items) => Value::Array(items.iter().map(plain).collect()),
            A::Map(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), plain(x))).collect()),
            A::Enum(_, s) | A::String(s) => Value::from(s.as_str()),
            A::Bytes(b) => Value::from(hex_of(b)),
            A::Int(n) => Value::from(*n),
            A::Long(n) => Value::from(*n),
            A::Double(f) => Value::from(*f),
            A::Float(f) => Value::from(f64::from(*f)),
            A::Null => Value::Null,
            other => panic!("unexpected Avro value {other:?}"),
        }
    }

    /// A DTS `Record`'s after image as column → plain item.
    fn dts_row(schemata: &[apache_avro::Schema], bytes: &[u8]) -> Map<String, Value> {
        let mut rest = bytes;
        let record = schemata.last().expect("the Record type");
        let v = apache_avro::from_avro_datum_schemata(
            record,
            schemata.iter().collect(),
            &mut rest,
            None,
        )
        .expect("a DTS Record");
        let v = plain(&v);
        let names = v["fields"].as_array().expect("fields");
        let images = v["afterImages"].as_array().expect("afterImages");
        names
            .iter()
            .zip(images)
            .map(|(f, i)| (f["name"].as_str().unwrap().to_owned(), i.clone()))
            .collect()
    }

    /// `YYYY-MM-DD HH:MM:SS[.f]` (and a `+00` zone) as the DTS `DateTime` parts.
    fn date_time(text: &str) -> Value {
        let text = text.trim_end_matches("+00");
        let (date, time) = text.split_once(' ').unwrap();
        let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        let micros: i64 = format!("{frac:0<6}").parse().unwrap();
        serde_json::json!({"year": d[0], "month": d[1], "day": d[2], "hour": t[0],
            "minute": t[1], "second": t[2], "millis": micros})
    }

    /// DTS Avro: NUMBER(p,0) as `Integer`, other NUMBERs as `Decimal`, text as `Character`
    /// UTF-8 bytes, BLOB/RAW as `BinaryObject`, DATE/TIMESTAMP as `DateTime`, zoned timestamps
    /// as `TimestampWithTimeZone` in UTC, floats as `Float`, intervals as `TextObject` `XTYPE`,
    /// XMLTYPE as `TextObject` `XML` (docs/TYPE-MAPPING.md).
    fn dts_equal(col: &str, got: &Value, want: &Map<String, Value>) -> bool {
        let text = want[col].as_str().unwrap_or_default();
        let text_object = |ty: &str| *got == serde_json::json!({"type": ty, "value": text});
        match col {
            "id" => *got == serde_json::json!({"precision": 10, "value": text}),
            "n38" => *got == serde_json::json!({"precision": 38, "value": text}),
            "n" | "nps" | "nneg" => {
                let digits = text.trim_start_matches('-').replace('.', "");
                let precision = digits.trim_start_matches('0').len().max(1);
                let scale = text.split_once('.').map_or(0, |(_, f)| f.len());
                *got == serde_json::json!({"value": text, "precision": precision, "scale": scale})
            }
            "v2b" | "v2c" | "c" | "cl" | "ncl" | "lg" => {
                *got == serde_json::json!({"charset": "UTF8", "value": hex_of(text.as_bytes())})
            }
            "bl" => text_object("BLOB"),
            "rw" => text_object("RAW"),
            "lr" => text_object("LONG_RAW"),
            "d" | "ts" | "ts3" => *got == date_time(text),
            "tstz" | "tsltz" => {
                *got == serde_json::json!({"value": date_time(text), "timezone": "+00:00"})
            }
            "bf" => {
                let f: f32 = text.parse().unwrap();
                let shortest: f64 = f.to_string().parse().unwrap();
                *got == serde_json::json!({"value": shortest, "precision": 8, "scale": 15})
            }
            "bd" => {
                let f: f64 = text.parse().unwrap();
                *got == serde_json::json!({"value": f, "precision": 8, "scale": 15})
            }
            "iym" | "ids" => text_object("XTYPE"),
            "x" => text_object("XML"),
            _ => false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dts_avro_values_are_the_servers_rendering() {
        let (msgs, r) = migrate("ivdts", "dts_avro", false, "").await;
        let schemata = avro_schemata();
        let rows: Vec<Map<String, Value>> = msgs.iter().map(|m| dts_row(&schemata, m)).collect();
        check_all("dts_avro", &rows, &r, dts_equal);
        // `dataTypeNumber` is the column's type OID: the Oracle type's own, not its base's.
        let admin = connect(&ivory_url()).await;
        let xmltype: u32 = admin
            .query_one("SELECT 'sys.xmltype'::regtype::oid", &[])
            .await
            .unwrap()
            .get(0);
        let mut rest = msgs[0].as_slice();
        let record = apache_avro::from_avro_datum_schemata(
            schemata.last().unwrap(),
            schemata.iter().collect(),
            &mut rest,
            None,
        )
        .unwrap();
        let fields: BTreeMap<String, i64> = plain(&record)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_owned(),
                    f["dataTypeNumber"].as_i64().unwrap(),
                )
            })
            .collect();
        let oids = [
            ("id", 9520),
            ("n", 9520),
            ("v2b", 9503),
            ("v2c", 9502),
            ("c", 9501),
            ("cl", 9527),
            ("ncl", 9531),
            ("bl", 9526),
            ("rw", 9530),
            ("d", 9508),
            ("ts", 9510),
            ("tstz", 9512),
            ("tsltz", 9514),
            ("bf", 9522),
            ("bd", 9524),
            ("iym", 9516),
            ("ids", 9518),
            ("lg", 9528),
            ("lr", 9529),
            ("x", i64::from(xmltype)),
        ];
        for (col, oid) in oids {
            assert_eq!(fields[col], oid, "dataTypeNumber of {col}");
        }
    }

    /// The Oracle-mode port works too (each session switches to the PostgreSQL parser), and the
    /// Oracle-style upper-case names come from `destination.capitalisation = "upper"`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_on_the_oracle_mode_port_works_with_upper_case_names() {
        let (msgs, r) = migrate("ivora", "canal_json", true, "capitalisation = \"upper\"").await;
        let first: Value = serde_json::from_slice(&msgs[0]).unwrap();
        assert_eq!(first["table"], "ORA_TYPES");
        assert_eq!(first["pkNames"], serde_json::json!(["ID"]));
        let rows = json_rows(&msgs, |v| {
            let row = v["data"][0].as_object().unwrap();
            row.iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect()
        });
        for m in &msgs {
            let v: Value = serde_json::from_slice(m).unwrap();
            let keys: Vec<&String> = v["data"][0].as_object().unwrap().keys().collect();
            assert!(keys.iter().all(|k| **k == k.to_uppercase()), "{keys:?}");
        }
        check_all("canal_json on the Oracle-mode port", &rows, &r, text_equal);
    }

    /// `tributary precheck --json` of a task over `public.ora_types` on `url`: the status and
    /// text of item `name`.
    fn precheck_item(url: &str, name: &str) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = task_file(
            dir.path(),
            &unique("ivpc"),
            url,
            &kafka(),
            &["public.ora_types"],
            &["full", "incremental"],
            "",
        );
        let out = tributary()
            .args(["precheck", "--json", "--task"])
            .arg(&path)
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
        });
        let i = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no item {name}: {r}"));
        let text = format!("{} {}", i["found"], i["fix"]);
        (i["status"].as_str().unwrap().to_owned(), text)
    }

    /// PostgreSQL 18's `idle_replication_slot_timeout` (IvorySQL 5.4 is PostgreSQL 18.4) read
    /// by the precheck: 0 passes, a limit warns with the figure.
    #[tokio::test]
    async fn precheck_reads_postgresql_18s_idle_replication_slot_timeout() {
        let (db, _ora) = fixture("ividle").await;
        let (status, text) = precheck_item(&db.url, "idle_replication_slot_timeout");
        assert_eq!(status, "pass", "{text}");
        assert!(text.contains("never invalidated"), "{text}");
        let set = |v: &'static str| {
            let client = &db.client;
            async move {
                for sql in [
                    format!("ALTER SYSTEM SET idle_replication_slot_timeout = '{v}'"),
                    "SELECT pg_reload_conf()".into(),
                ] {
                    client.batch_execute(&sql).await.unwrap();
                }
                wait_for("the reload", LIMIT, || async {
                    let now: String = client
                        .query_one("SHOW idle_replication_slot_timeout", &[])
                        .await
                        .unwrap()
                        .get(0);
                    now == v
                })
                .await;
            }
        };
        set("2d").await;
        let result = std::panic::AssertUnwindSafe(async {
            precheck_item(&db.url, "idle_replication_slot_timeout")
        });
        let (status, text) = futures::FutureExt::catch_unwind(result)
            .await
            .unwrap_or_default();
        set("0").await;
        assert_eq!(status, "warn", "{text}");
        assert!(
            text.contains("idle_replication_slot_timeout = 2d"),
            "{text}"
        );
        db.cleanup().await;
    }

    /// Runs `scripts/ivorysql.sh ARG` on the given ports, with its data under `run`.
    fn script(arg: &str, run: &std::path::Path, ports: (u16, u16)) -> (bool, String) {
        let o = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ivorysql.sh"))
            .arg(arg)
            .env("TRIBUTARY_RUN", run)
            .env("TRIBUTARY_IVORY_PG_PORT", ports.0.to_string())
            .env("TRIBUTARY_IVORY_ORA_PORT", ports.1.to_string())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    }

    /// Stops the script's server if a test fails half-way.
    struct StopServer<'a>(&'a std::path::Path, (u16, u16));

    impl Drop for StopServer<'_> {
        fn drop(&mut self) {
            let _ = script("stop", self.0, self.1);
        }
    }

    /// `scripts/ivorysql.sh` (README, "Oracle-compatible PostgreSQL"): start gives a server in
    /// Oracle mode on two ports with `wal_level=logical` and the `tributary` superuser, status
    /// prints both URLs, stop stops it. The build is the cached one `scripts/test.sh` made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ivorysql_script_starts_reports_and_stops_a_server() {
        let _ = ivory_url(); // the build exists when the test server does
        let run = tempfile::tempdir().unwrap();
        // The postgres OS user must reach the data directory inside.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(run.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ports = (free_port(), free_port());
        let (ok, out) = script("start", run.path(), ports);
        let _stop = StopServer(run.path(), ports);
        assert!(ok, "{out}");
        let url = |port: u16| format!("postgres://tributary:tributary@127.0.0.1:{port}/postgres");
        let pg = connect(&url(ports.0)).await;
        let ora = connect(&url(ports.1)).await;
        for (client, what, want) in [
            (&pg, "wal_level", "logical"),
            (&pg, "ivorysql.compatible_mode", "pg"),
            (&ora, "ivorysql.compatible_mode", "oracle"),
            (&pg, "ivorysql.database_mode", "oracle"),
        ] {
            let row = client
                .query_one(&format!("SHOW {what}"), &[])
                .await
                .unwrap();
            assert_eq!(row.get::<_, String>(0), want, "{what}");
        }
        let (ok, out) = script("status", run.path(), ports);
        assert!(ok, "{out}");
        assert!(
            out.contains(&url(ports.0)) && out.contains(&url(ports.1)),
            "{out}"
        );
        let (ok, out) = script("stop", run.path(), ports);
        assert!(ok, "{out}");
        let (ok, out) = script("status", run.path(), ports);
        assert!(!ok && out.contains("not running"), "{out}");
    }
}
