//! Every listed type round-trips: the value in the database equals the value decoded from the
//! Debezium message, for snapshot rows and stream rows alike.

mod support;

mod serial {
    use std::time::Duration;

    use base64::Engine;
    use serde_json::{json, Value};

    use super::support::*;

    const DDL: &str = "
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE TABLE t (
            id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric(20,5), nu numeric, f4 float4, f8 float8,
            b bool, tx text, vc varchar(20), bp char(5), by bytea, d date, tm time, ttz timetz, ts timestamp,
            tstz timestamptz, iv interval, u uuid, j json, jb jsonb, ai int4[], at text[], e mood, dm posint
        )";

    const ROW_SQL: [&str; 3] = [
        "(1, -32768, 2147483647, -9223372036854775808, 123456789012345.12345, 3.14159265358979323846264338327950288419716939937510,
          1.5, -2.25e300, true, 'héllo \"q\"', 'vc', 'ab', '\\x00ff10', '2024-02-29', '23:59:59.999999', '10:11:12.5+05:30',
          '1999-12-31 23:59:59.123456', '2024-02-29 12:34:56.789012+00', '1 year 2 mons 3 days 04:05:06.7', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          '{\"k\": [1, 2]}', '{\"b\": 1, \"a\": null}', '{1,NULL,3}', '{\"x\",\"y z\"}', 'happy', 7)",
        "(2, 0, 0, 0, -0.00001, 'NaN', 'NaN', 'Infinity', false, '', '', '', '\\x', '1900-01-01', '00:00:00', '00:00:00+00',
          '1960-06-15 01:02:03', '1969-12-31 23:59:59.5+00', '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000',
          '[]', '[]', '{}', '{}', 'sad', 1)",
        "(3, NULL, NULL, NULL, NULL, 123456789012345678901234567890.123456789012345678901234567890, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ];

    /// The Debezium value each column must have, computed by PostgreSQL itself. Intervals:
    /// Debezium's MicroDuration counts every month as 365.25/12 days, where PostgreSQL's epoch
    /// counts years as 365.25 days and the remaining months as 30. ZonedTime prints the
    /// fraction with as few digits as it needs (Java's ISO_OFFSET_TIME).
    const EXPECTED_SQL: &str = r#"
        SELECT id, json_build_object(
          'id', id, 'i2', i2, 'i4', i4, 'i8', i8, 'f4', f4, 'f8', f8, 'b', b, 'tx', tx, 'vc', vc, 'bp', bp,
          'by', encode(by, 'base64'),
          'd', d - date '1970-01-01',
          'tm', (extract(epoch from tm) * 1000000)::bigint,
          'ttz', rtrim(rtrim(to_char(date '2000-01-01' + ttz AT TIME ZONE 'UTC', 'HH24:MI:SS.US'), '0'), '.') || 'Z',
          'ts', (extract(epoch from ts) * 1000000)::bigint,
          'tstz', to_char(tstz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || 'Z',
          'iv', ((extract(epoch from iv) + extract(month from iv) * 0.4375 * 86400) * 1000000)::bigint,
          'u', u::text, 'j', j::text, 'jb', jb::text, 'ai', ai, 'at', at, 'e', e::text, 'dm', dm
        )::text, n::text, nu::text FROM t ORDER BY id"#;

    /// A two's-complement big-endian integer (base64) with `scale`, as decimal text.
    fn decimal(b64: &str, scale: u32) -> String {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
        if negative {
            // Two's complement negation.
            for b in bytes.iter_mut() {
                *b = !*b;
            }
            for b in bytes.iter_mut().rev() {
                let (v, carry) = b.overflowing_add(1);
                *b = v;
                if !carry {
                    break;
                }
            }
        }
        let mut digits = Vec::new();
        while bytes.iter().any(|b| *b != 0) {
            let mut rem = 0u32;
            for b in bytes.iter_mut() {
                let cur = (rem << 8) | u32::from(*b);
                *b = (cur / 10) as u8;
                rem = cur % 10;
            }
            digits.push((b'0' + rem as u8) as char);
        }
        while digits.len() <= scale as usize {
            digits.push('0');
        }
        let s: String = digits.into_iter().rev().collect();
        let (int, frac) = s.split_at(s.len() - scale as usize);
        let sign = if negative { "-" } else { "" };
        if scale == 0 {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        }
    }

    fn check_row(after: &Value, expected: &Value, n: Option<&str>, nu: Option<&str>) {
        let id = &expected["id"];
        for (col, want) in expected.as_object().unwrap() {
            let got = &after[col];
            match (col.as_str(), want) {
                ("f4", Value::Number(w)) => assert_eq!(
                    got.as_f64().map(|g| g as f32),
                    w.as_f64().map(|w| w as f32),
                    "row {id} f4"
                ),
                ("f4" | "f8", Value::String(w)) => {
                    assert_eq!(got.as_str(), Some(w.as_str()), "row {id} {col}")
                }
                ("jb" | "j", Value::String(w)) => {
                    assert_eq!(got.as_str(), Some(w.as_str()), "row {id} {col}")
                }
                _ => assert_eq!(got, want, "row {id} column {col}"),
            }
        }
        match n {
            Some(n) => assert_eq!(decimal(after["n"].as_str().unwrap(), 5), n, "row {id} n"),
            None => assert!(after["n"].is_null()),
        }
        match nu {
            Some("NaN") | None => {
                assert!(after["nu"].is_null(), "row {id}: NaN is null under precise")
            }
            Some(v) => {
                let scale = after["nu"]["scale"].as_u64().unwrap() as u32;
                // VariableScaleDecimal strips trailing zeros (BigDecimal.stripTrailingZeros).
                let want = if v.contains('.') {
                    v.trim_end_matches('0').trim_end_matches('.')
                } else {
                    v
                };
                assert_eq!(
                    decimal(after["nu"]["value"].as_str().unwrap(), scale),
                    want,
                    "row {id} nu"
                );
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_type_round_trips_in_snapshot_and_stream() {
        let db = TestDb::create("types").await;
        db.client.batch_execute(DDL).await.unwrap();
        db.client
            .batch_execute(&format!(
                "INSERT INTO t VALUES {}, {}",
                ROW_SQL[0], ROW_SQL[2]
            ))
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "types", &["public.t"], &["full", "incremental"]);
        let (task, child) = (&setup.task, setup.spawn());
        let topic = format!("{task}.public.t");
        tracing::info!(
            "two rows by snapshot, then stream inserts (id 2, and id 1 and 3 again as 11 and 13)"
        );
        {
            let m = consume_until(&topic, |m| m.len() >= 2);
            assert!(m.len() >= 2, "{} messages on {topic}", m.len());
            db.client
                .batch_execute(&format!("INSERT INTO t VALUES {}", ROW_SQL[1]))
                .await
                .unwrap();
            for (id, row) in [(11, ROW_SQL[0]), (13, ROW_SQL[2])] {
                let row = row.replacen(&format!("({}", id - 10), &format!("({id}"), 1);
                db.client
                    .batch_execute(&format!("INSERT INTO t VALUES {row}"))
                    .await
                    .unwrap();
            }
        }
        let expected = db.client.query(EXPECTED_SQL, &[]).await.unwrap();
        let mut msgs = Vec::new();
        for _ in 0..30 {
            msgs = consume_all(&topic, Duration::from_secs(1), Duration::from_secs(20));
            if msgs.len() >= expected.len() {
                break;
            }
        }
        let state = replay(&msgs);
        assert_eq!(state.len(), expected.len(), "{msgs:?}");
        for row in &expected {
            let id: i32 = row.get(0);
            let want: Value = serde_json::from_str(row.get(1)).unwrap();
            let after = state
                .get(&json!({ "id": id }).to_string())
                .unwrap_or_else(|| panic!("row {id} missing"));
            check_row(after, &want, row.get(2), row.get(3));
        }
        let ops: Vec<&str> = msgs
            .iter()
            .filter_map(|m| m.value.as_ref()?.get("op")?.as_str())
            .collect();
        assert!(
            ops.contains(&"r") && ops.contains(&"c"),
            "both snapshot and stream rows: {ops:?}"
        );
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }
}
