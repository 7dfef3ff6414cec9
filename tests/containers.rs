//! Ranges, multiranges, composites, domains over any type, enums, arrays of all of these, and
//! the extension types hstore, citext, ltree and PostGIS geometry/geography: for many values, a
//! live PostgreSQL 15 gives each value's binary form (a binary-format result column, which is
//! the type's send function) and its output text (`format('%s', v)`). The types are resolved
//! from the catalog by `TypeCache` (as the source resolves them), each value is decoded with
//! `decode_binary` and rendered with `write_text`, and the text must equal PostgreSQL's byte
//! for byte.
//!
//! Each test runs in a database of its own with the extensions created there. An unreachable
//! server fails the test: it never passes without having compared anything.

mod support;

use std::error::Error;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Client;
use tributary::source::postgres::catalog::TypeCache;
use tributary::value::{check_decodable, decode_binary, write_text, Value};

use support::TestDb;

/// A column's bytes as the server sent them, whatever its type.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Raw, Box<dyn Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

const SCHEMA: &str = r#"
    CREATE EXTENSION hstore; CREATE EXTENSION citext; CREATE EXTENSION ltree;
    CREATE SCHEMA gis; CREATE EXTENSION postgis SCHEMA gis;
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'very happy', 'with,comma', 'q"uote');
    CREATE TYPE textrange AS RANGE (subtype = text);
    CREATE TYPE float8range AS RANGE (subtype = float8);
    CREATE TYPE pair AS (a int4, b text);
    CREATE TYPE nested AS (p pair, xs int4[], m mood, r int4range, d date, ts timestamptz,
                           n numeric, h hstore, l ltree, g gis.geometry, ps pair[], e text);
    CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
    CREATE DOMAIN dom_of_dom AS posint;
    CREATE DOMAIN int_arr AS int4[];
    CREATE DOMAIN mood_dom AS mood;
    CREATE DOMAIN range_dom AS int4range;
    CREATE DOMAIN pair_dom AS pair;
    CREATE DOMAIN inet_dom AS inet;
    CREATE DOMAIN num_dom AS numeric(10, 2);
    CREATE TYPE with_domains AS (a posint, b int_arr, c mood_dom, d range_dom);
"#;

async fn db() -> TestDb {
    let db = TestDb::create("containers").await;
    db.client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = postgres; \
             SET extra_float_digits = 3",
        )
        .await
        .unwrap();
    db.client.batch_execute(SCHEMA).await.unwrap();
    db.client
        .batch_execute("SET search_path = public, gis")
        .await
        .unwrap();
    db
}

/// Compares every value of `exprs` (SQL expressions, cast to `ty`); returns how many.
async fn check(client: &Client, types: &mut TypeCache, ty: &str, exprs: &[String]) -> usize {
    let values: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("({i}, ({e})::{ty})"))
        .collect();
    let sql = format!(
        "SELECT v, format('%s', v), v IS NULL FROM (VALUES {}) AS t(i, v) ORDER BY i",
        values.join(", ")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{ty}: {e} {:?}", e.as_db_error()));
    assert_eq!(rows.len(), exprs.len(), "{ty}: every value read");
    let oid = rows[0].columns()[0].type_().oid();
    let pg_type = types.resolve(client, oid).await.unwrap();
    check_decodable(&pg_type).unwrap_or_else(|e| panic!("{ty}: {e}"));
    let mut failures = Vec::new();
    let mut compared = 0;
    for (row, expr) in rows.iter().zip(exprs) {
        if row.get::<_, bool>(2) {
            continue;
        }
        let raw: Raw = row.get(0);
        let want: String = row.get(1);
        let mut got = String::new();
        match decode_binary(&pg_type, &raw.0) {
            Ok(v) => write_text(&pg_type, &v, &mut got),
            Err(e) => got = format!("error: {e}"),
        }
        if got != want {
            failures.push(format!("{expr}: tributary {got:?}, PostgreSQL {want:?}"));
        }
        compared += 1;
    }
    assert!(
        failures.is_empty(),
        "{ty}: {} of {} values differ:\n{}",
        failures.len(),
        compared,
        failures.join("\n")
    );
    compared
}

/// SQL string literals of `values`.
fn lits(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect()
}

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn ranges_and_multiranges_match_postgres() {
    let db = db().await;
    let c = &db.client;
    let mut types = TypeCache::new();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut n = check(
        c,
        &mut types,
        "int4range",
        &lits(&[
            "[1,10)",
            "(1,10]",
            "empty",
            "(,)",
            "[5,)",
            "(,0]",
            "[-2147483648,2147483647)",
        ]),
    )
    .await;
    let random_int8: Vec<String> = (0..200)
        .map(|_| {
            let a = rng.next() as i64 >> rng.below(60);
            let b = a.saturating_add((rng.next() >> (1 + rng.below(62))) as i64);
            let (l, u) = (
                ["[", "("][rng.below(2) as usize],
                ["]", ")"][rng.below(2) as usize],
            );
            let lo = if rng.below(10) == 0 {
                String::new()
            } else {
                a.to_string()
            };
            format!("'{l}{lo},{b}{u}'")
        })
        .collect();
    n += check(c, &mut types, "int8range", &random_int8).await;
    n += check(
        c,
        &mut types,
        "numrange",
        &lits(&[
            "(1.5,2.5]",
            "[-0.001,100000000000000000000)",
            "(,0.000000001]",
            "empty",
            "[NaN,NaN]",
        ]),
    )
    .await;
    let random_ts: Vec<String> = (0..200)
        .map(|_| {
            let a = rng.below(400_000_000_000) as i64 - 200_000_000_000;
            let b = a + rng.below(10_000_000_000) as i64;
            format!(
                "tstzrange(to_timestamp({a}) + interval '{} microseconds', to_timestamp({b}), '[)')",
                rng.below(1_000_000)
            )
        })
        .collect();
    n += check(c, &mut types, "tstzrange", &random_ts).await;
    n += check(
        c,
        &mut types,
        "tsrange",
        &lits(&[
            "[2024-01-01 00:00,2024-01-02 12:30:00.5)",
            "(,\"2024-01-01 00:00\")",
            "[-infinity,infinity]",
            "[4713-01-01 00:00:00 BC,0001-01-01 00:00:00)",
            "[294276-12-31 23:59:59.999999,294276-12-31 23:59:59.999999]",
        ]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "daterange",
        &lits(&[
            "[2024-01-01,2024-02-01)",
            "[-infinity,2024-01-01)",
            "[0044-03-15 BC,0001-01-01]",
            "empty",
        ]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "textrange",
        &lits(&[
            "[\"a b\",\"c,d\"]",
            "(\"\",x)",
            "[\"back\\\\slash\",\"q\"\"uote\"]",
            "[\"(\",\"]\"]",
            "[a,b)",
            "empty",
        ]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "float8range",
        &lits(&[
            "[-0,1e300)",
            "(1e-300,Infinity]",
            "[1,NaN]",
            "[0.1,0.30000000000000004]",
        ]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "int4multirange",
        &lits(&["{[1,3),[5,7)}", "{}", "{(,5),[10,)}", "{(,)}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "tstzmultirange",
        &lits(&["{[2024-01-01 00:00+00,2024-01-02 00:00+00),[2025-01-01 00:00+00,)}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "datemultirange",
        &lits(&["{[2024-01-01,2024-01-05),[2024-02-01,)}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "textmultirange",
        &lits(&["{[\"a b\",c),[x,y]}", "{}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "int4range[]",
        &lits(&["{\"[1,2)\",empty,NULL,\"(,)\"}", "{}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "textrange[]",
        &lits(&["{\"[\\\"a b\\\",c)\",NULL}"]),
    )
    .await;
    assert!(n > 430, "compared {n} values");
    db.cleanup().await;
}

#[tokio::test]
async fn composites_domains_and_enums_match_postgres() {
    let db = db().await;
    let c = &db.client;
    let mut types = TypeCache::new();
    let mut n = check(
        c,
        &mut types,
        "pair",
        &lits(&[
            "(1,\"x y\")",
            "(,)",
            "(0,\"\")",
            "(-5,\"a\"\"b\\\\c\")",
            "(7,\"(paren), comma\")",
        ]),
    )
    .await;
    let nested = [
        "ROW(ROW(1, 'x y')::pair, ARRAY[1, 2, NULL], 'happy', int4range(1, 5), date '2024-02-29', \
         timestamptz '2024-01-01 12:34:56.5+02', 1.50, 'a=>1, \"b c\"=>NULL'::hstore, 'Top.Sci', \
         'SRID=4326;POINT(1 2)'::geometry, ARRAY[ROW(1, 'a')::pair, NULL, ROW(NULL, NULL)::pair], '')",
        "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "ROW(ROW(NULL, '')::pair, '{}'::int4[], 'with,comma', 'empty'::int4range, 'infinity'::date, \
         '-infinity'::timestamptz, 'NaN'::numeric, ''::hstore, '', 'POINT EMPTY'::geometry, \
         '{}'::pair[], 'q\"uote')",
    ];
    let nested: Vec<String> = nested.iter().map(|s| (*s).to_owned()).collect();
    n += check(c, &mut types, "nested", &nested).await;
    n += check(
        c,
        &mut types,
        "nested[]",
        &[format!("ARRAY[{}, NULL]::nested[]", nested[0])],
    )
    .await;
    n += check(
        c,
        &mut types,
        "mood",
        &lits(&["sad", "very happy", "with,comma", "q\"uote"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "mood[]",
        &lits(&[
            "{sad,NULL,\"very happy\",\"with,comma\",\"q\\\"uote\"}",
            "{}",
        ]),
    )
    .await;
    n += check(c, &mut types, "posint", &lits(&["1", "2147483647"])).await;
    n += check(c, &mut types, "dom_of_dom", &lits(&["5"])).await;
    n += check(c, &mut types, "posint[]", &lits(&["{1,NULL,3}"])).await;
    n += check(
        c,
        &mut types,
        "int_arr",
        &lits(&["{1,NULL,3}", "{}", "[0:1]={7,8}", "{{1,2},{3,4}}"]),
    )
    .await;
    n += check(c, &mut types, "mood_dom", &lits(&["happy"])).await;
    n += check(c, &mut types, "range_dom", &lits(&["[1,2)", "empty"])).await;
    n += check(c, &mut types, "pair_dom", &lits(&["(1,x)", "(,)"])).await;
    n += check(
        c,
        &mut types,
        "inet_dom",
        &lits(&["::ffff:1.2.3.4/128", "10.0.0.1/8"]),
    )
    .await;
    n += check(c, &mut types, "num_dom", &lits(&["12345.67", "-0.01"])).await;
    n += check(
        c,
        &mut types,
        "with_domains",
        &lits(&["(1,\"{1,2}\",happy,\"[1,3)\")", "(,,,)"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "text[]",
        &lits(&["{\"a b\",\"\",NULL,\"null\",\"x\\\"y\",\"{}\",\"back\\\\slash\",\"NULL\"}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "box[]",
        &lits(&["{(1,1),(0,0);(2,2),(1,1)}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "int4[]",
        &lits(&[
            "{{1,2},{3,NULL}}",
            "[2:3][-1:0]={{1,2},{3,4}}",
            "{{{1}},{{2}}}",
        ]),
    )
    .await;
    assert!(n > 30, "compared {n} values");
    db.cleanup().await;
}

#[tokio::test]
async fn extension_types_match_postgres() {
    let db = db().await;
    let c = &db.client;
    let mut types = TypeCache::new();
    let mut n = check(
        c,
        &mut types,
        "hstore",
        &lits(&[
            "\"a\"=>\"1\", \"b\"=>NULL, \"c d\"=>\"x\\\"y\", \"ü\"=>\"ö\"",
            "",
            "\"k\\\\ey\"=>\"v\\\\al\"",
            "\"NULL\"=>\"null\"",
        ]),
    )
    .await;
    n += check(c, &mut types, "hstore[]", &lits(&["{\"a=>1\",NULL}"])).await;
    n += check(
        c,
        &mut types,
        "citext",
        &lits(&["MiXeD Case", "", "ünïcödé"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "ltree",
        &lits(&["Top.Science.Astronomy", "", "a"]),
    )
    .await;
    n += check(c, &mut types, "ltree[]", &lits(&["{Top.Science,NULL,a.b}"])).await;
    let geoms = lits(&[
        "POINT(1 2)",
        "SRID=4326;POINT(13.4 52.5)",
        "SRID=3857;POINT Z (1 2 3)",
        "POLYGON((0 0,1 0,1 1,0 1,0 0))",
        "GEOMETRYCOLLECTION EMPTY",
        "SRID=4326;MULTILINESTRING((0 0,1 1),(2 2,3 3))",
    ]);
    n += check(c, &mut types, "geometry", &geoms).await;
    n += check(
        c,
        &mut types,
        "geometry[]",
        &lits(&["{POINT(1 2):POINT(3 4)}"]),
    )
    .await;
    n += check(
        c,
        &mut types,
        "geography",
        &lits(&[
            "POINT(-71.06 42.36)",
            "LINESTRING(0 0,1 1)",
            "SRID=4326;POINT(13.4 52.5)",
        ]),
    )
    .await;
    assert!(n > 20, "compared {n} values");
    // Every value decodes: the decoder accepts what PostgreSQL sends.
    let rows = c
        .query(
            "SELECT 'a=>1'::hstore, 'x.y'::ltree, 'POINT(1 2)'::geometry",
            &[],
        )
        .await
        .unwrap();
    for (i, col) in rows[0].columns().iter().enumerate() {
        let ty = types.resolve(c, col.type_().oid()).await.unwrap();
        let raw: Raw = rows[0].get(i);
        assert!(
            !matches!(decode_binary(&ty, &raw.0), Err(_) | Ok(Value::Other { .. })),
            "{}",
            ty.name
        );
    }
    db.cleanup().await;
}
