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

    const USER_DDL: &str = r#"
        CREATE EXTENSION hstore; CREATE EXTENSION citext; CREATE EXTENSION ltree;
        CREATE SCHEMA gis; CREATE EXTENSION postgis SCHEMA gis;
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'with,comma');
        CREATE TYPE textrange AS RANGE (subtype = text);
        CREATE TYPE pair AS (a int4, b text);
        CREATE TYPE nested AS (p pair, xs int4[], r int4range, m mood);
        CREATE DOMAIN mood_dom AS mood;
        CREATE DOMAIN int_arr AS int4[];
        CREATE DOMAIN range_dom AS int4range;
        CREATE DOMAIN pair_dom AS pair;
        CREATE TABLE u (
            id int PRIMARY KEY, dm mood_dom, da int_arr, dr range_dom, dc pair_dom, tr textrange,
            tm textmultirange, nc nested, ap pair[], ar int4range[], h hstore, l ltree, ci citext,
            g gis.geometry, e mood, ea mood[]
        )"#;

    const USER_ROWS: [&str; 2] = [
        r#"(1, 'happy', '{1,NULL,3}', '[1,5)', '(1,"x y")', '["a b",c)', '{["a b",c),[x,y]}',
            ROW(ROW(2, 'q"uote')::pair, ARRAY[1, 2], 'empty'::int4range, 'with,comma')::nested,
            ARRAY[ROW(1, 'a')::pair, NULL, ROW(NULL, NULL)::pair], '{"[1,2)",empty,NULL}',
            'a=>1, "b c"=>NULL', 'Top.Science', 'MiXeD', 'SRID=4326;POINT(13.4 52.5)'::gis.geometry,
            'ok', '{sad,happy}')"#,
        "(2, NULL, '{}', 'empty', '(,)', 'empty', '{}', NULL, '{}', NULL, '', '', '',
          'POINT(1 2)'::gis.geometry, NULL, NULL)",
    ];

    /// The Debezium value of each column, computed by PostgreSQL: text forms for the types
    /// Debezium does not map, base-type mappings for domains.
    const USER_EXPECTED_SQL: &str = r#"
        SELECT id, json_build_object(
          'id', id, 'dm', dm::text, 'da', to_json(da), 'dr', format('%s', dr),
          'dc', dc::text,
          'tr', format('%s', tr), 'tm', format('%s', tm),
          'nc', nc::text,
          'ap', to_json(ap::text[]), 'ar', to_json(ar::text[]),
          'l', l::text, 'ci', ci::text,
          'g', json_build_object('wkb', replace(encode(gis.ST_AsEWKB(g), 'base64'), E'\n', ''),
                                 'srid', NULLIF(gis.ST_SRID(g), 0)),
          'e', e::text, 'ea', to_json(ea::text[])
        )::text, hstore_to_json(h)::text FROM u ORDER BY id"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn user_defined_and_extension_types_round_trip_in_snapshot_and_stream() {
        let db = TestDb::create("usertypes").await;
        db.client.batch_execute(USER_DDL).await.unwrap();
        let rows = USER_ROWS.join(", ");
        db.client
            .batch_execute(&format!("INSERT INTO u VALUES {rows}"))
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "usertypes",
            &["public.u"],
            &["full", "incremental"],
        );
        let child = setup.spawn();
        let topic = setup.topic("public.u");
        tracing::info!("two rows by snapshot, then the same rows streamed as ids 11 and 12");
        {
            let m = consume_until(&topic, |m| m.len() >= 2);
            assert!(m.len() >= 2, "{} messages on {topic}", m.len());
            db.client
                .batch_execute(
                    "CREATE TEMP TABLE c AS SELECT * FROM u; UPDATE c SET id = id + 10; \
                     INSERT INTO u SELECT * FROM c",
                )
                .await
                .unwrap();
        }
        let expected = db.client.query(USER_EXPECTED_SQL, &[]).await.unwrap();
        let msgs = consume_until(&topic, |m| replay(m).len() >= expected.len());
        let state = replay(&msgs);
        assert_eq!(state.len(), expected.len(), "{msgs:?}");
        for row in &expected {
            let id: i32 = row.get(0);
            let want: Value = serde_json::from_str(row.get(1)).unwrap();
            let after = state
                .get(&json!({ "id": id }).to_string())
                .unwrap_or_else(|| panic!("row {id} missing"));
            for (col, w) in want.as_object().unwrap() {
                assert_eq!(&after[col], w, "row {id} column {col}");
            }
            // hstore: a JSON object string (member order is Java's HashMap order).
            let h: Option<String> = row.get(2);
            let got = after["h"]
                .as_str()
                .map(|s| serde_json::from_str::<Value>(s).unwrap());
            let want = h.map(|s| serde_json::from_str::<Value>(&s).unwrap());
            assert_eq!(got, want, "row {id} column h");
        }
        let ops: Vec<&str> = msgs
            .iter()
            .filter_map(|m| m.value.as_ref()?.get("op")?.as_str())
            .collect();
        assert!(ops.contains(&"r") && ops.contains(&"c"), "{ops:?}");
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_column_without_a_decoder_is_named_before_anything_starts() {
        let db = TestDb::create("undecodable").await;
        // aclitem has no binary send function and no decoder: found by the preflight, which
        // names the table, the column and the fix, and creates nothing.
        db.client
            .batch_execute(
                "CREATE TABLE bad (id int PRIMARY KEY, ok int, acl aclitem[]); \
                 INSERT INTO bad VALUES (1, 1, NULL)",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "undecodable",
            &["public.bad"],
            &["full", "incremental"],
        );
        let (code, err) = setup.spawn().wait_exit(Duration::from_secs(60));
        assert_eq!(code, 1, "{err}");
        let line = err
            .lines()
            .find(|l| l.contains("error"))
            .unwrap_or_else(|| panic!("no error line: {err}"));
        for part in [
            "public.bad",
            "\"acl\"",
            "pg_catalog.aclitem",
            "exclude the table",
        ] {
            assert!(line.contains(part), "{part:?} in {line:?}");
        }
        let (slots, pubs) = db.replication_objects().await;
        assert!(slots.is_empty() && pubs.is_empty(), "{slots:?} {pubs:?}");
        db.cleanup().await;
    }
}
