//! Built-in types without a mapping (`TypeKind::Other`) arrive in the stream in their binary
//! send form; `decode_other_binary` must render each value exactly as PostgreSQL's output
//! function prints it. For many values per type, a live PostgreSQL 15 gives both the send bytes
//! (`inet_send(v)`...) and the output text (`v` over the simple protocol, which is the output
//! function's text), and the decoder must agree byte for byte.
//!
//! The server comes from `TRIBUTARY_TEST_PG_URL` (default below). An unreachable server fails
//! the test: it never passes without having compared anything.
//!
//! Exception, by design: `money` is compared with `v::numeric::text` (the decoder prints a
//! plain decimal; `cash_out` follows `lc_monetary`).

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tributary::schema::{PgType, TypeKind};
use tributary::source::postgres::typemap::{kind_from_catalog, CatalogTypeRow};
use tributary::value::{decode_binary, Value};

const DEFAULT_URL: &str = "postgres://tributary:tributary@127.0.0.1:55432/postgres";

fn pg_url() -> String {
    std::env::var("TRIBUTARY_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// Connects and pins the session settings the source pins. Panics (fails the test) when the
/// server is unreachable.
async fn connect() -> Client {
    let url = pg_url();
    let connecting = tokio_postgres::connect(&url, NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(20), connecting)
        .await
        .unwrap_or_else(|_| panic!("timed out connecting to PostgreSQL at {url}"))
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is unreachable ({e}); set TRIBUTARY_TEST_PG_URL")
        });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = postgres; \
             SET extra_float_digits = 3; SET client_encoding = 'UTF8'",
        )
        .await
        .expect("session settings");
    client
}

/// Rows of a simple query, every column as the server's text.
async fn rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    let msgs = client.simple_query(sql).await.unwrap_or_else(|e| {
        let db = e.as_db_error().map(|d| d.message().to_owned());
        panic!("{sql}: {e} {db:?}")
    });
    msgs.into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).expect("no NULL here").to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The type as the catalog resolves it (it must be `Other`), and its send function.
async fn catalog_type(client: &Client, name: &str) -> (PgType, String) {
    let sql = format!(
        "SELECT t.oid, t.typname, n.nspname, t.typtype, t.typcategory, t.typelem, t.typbasetype, \
         t.typsend::regproc::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.oid = {}::regtype",
        lit(name)
    );
    let row = rows(client, &sql).await.pop().expect("type row");
    let row = CatalogTypeRow {
        oid: row[0].parse().unwrap(),
        name: row[1].clone(),
        namespace: row[2].clone(),
        typtype: row[3].as_bytes()[0],
        typcategory: row[4].as_bytes()[0],
        typelem: row[5].parse().unwrap(),
        typbasetype: row[6].parse().unwrap(),
        typsend: row[7].clone(),
        ..CatalogTypeRow::default()
    };
    let kind = kind_from_catalog(&row, |_| None);
    assert_eq!(kind, TypeKind::Other, "{name} has no mapping");
    assert_eq!(row.namespace, "pg_catalog");
    let ty = PgType::new(row.oid, &row.name, &row.namespace, kind);
    (ty, row.typsend)
}

/// One type's comparison: `expr` builds the value from the text `s`; `expected` is the text the
/// decoder must print (by default `v`, the output function's text).
struct Case {
    ty: &'static str,
    expr: &'static str,
    expected: &'static str,
    values: Vec<String>,
}

impl Case {
    fn new(ty: &'static str, values: &[&str]) -> Case {
        Case {
            ty,
            expr: "",
            expected: "v",
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn expr(mut self, expr: &'static str) -> Case {
        self.expr = expr;
        self
    }

    fn expected(mut self, expected: &'static str) -> Case {
        self.expected = expected;
        self
    }

    fn more(mut self, values: impl IntoIterator<Item = String>) -> Case {
        self.values.extend(values);
        self
    }
}

/// Checks every value of `case` (also as an array element, through `decode_binary`); returns
/// how many values were compared.
async fn check(client: &Client, case: &Case) -> usize {
    let (ty, send) = catalog_type(client, case.ty).await;
    let expr = if case.expr.is_empty() {
        format!("s::{}", case.ty)
    } else {
        case.expr.to_owned()
    };
    let values: Vec<String> = case
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("({i}, {})", lit(v)))
        .collect();
    let sql = format!(
        "SELECT i, encode({send}(v), 'hex'), {expected} FROM (VALUES {values}) AS t(i, s) \
         CROSS JOIN LATERAL (SELECT {expr} AS v) AS x ORDER BY i",
        expected = case.expected,
        values = values.join(", "),
    );
    let got = rows(client, &sql).await;
    assert_eq!(
        got.len(),
        case.values.len(),
        "{}: every value read",
        case.ty
    );
    let mut failures = Vec::new();
    for row in &got {
        let input = &case.values[row[0].parse::<usize>().unwrap()];
        let bytes = hex::decode(&row[1]).unwrap();
        let want = &row[2];
        match decode_binary(&ty, &bytes) {
            Ok(Value::Other { type_name, text }) => {
                assert_eq!(type_name, ty.name);
                if text != want.as_str() {
                    failures.push(format!("{input:?}: got {text:?}, PostgreSQL {want:?}"));
                }
            }
            other => failures.push(format!("{input:?} ({}): {other:?}", row[1])),
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {} of {} values differ:\n{}",
        case.ty,
        failures.len(),
        got.len(),
        failures.join("\n")
    );
    // int2vector and oidvector are arrays themselves (array_agg would nest them).
    if !matches!(case.ty, "int2vector" | "oidvector") {
        check_array(client, case, &ty, &expr).await;
    }
    got.len()
}

/// The same values as one array (`array_send`), decoded through the array path: each element
/// must match the element's output text.
async fn check_array(client: &Client, case: &Case, elem: &PgType, expr: &str) {
    let values: Vec<String> = case
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("({i}, {})", lit(v)))
        .collect();
    let sql = format!(
        "SELECT encode(array_send(array_agg(v ORDER BY i)), 'hex'), \
         array_to_json(array_agg(({expected})::text ORDER BY i))::text \
         FROM (VALUES {values}) AS t(i, s) CROSS JOIN LATERAL (SELECT {expr} AS v) AS x",
        expected = if case.expected == "v" {
            // ::text may be a cast function (inet, xml); format() uses the output function.
            "format('%s', v)"
        } else {
            case.expected
        },
        values = values.join(", "),
    );
    let row = rows(client, &sql).await.pop().expect("array row");
    let bytes = hex::decode(&row[0]).unwrap();
    let want: Vec<String> = serde_json::from_str(&row[1]).unwrap();
    let array_ty = PgType::new(
        0,
        "_array",
        "pg_catalog",
        TypeKind::Array(Arc::new(elem.clone())),
    );
    let Ok(Value::Array(array)) = decode_binary(&array_ty, &bytes) else {
        panic!("{}[]: not decoded as an array", case.ty);
    };
    let got: Vec<String> = array
        .elements
        .iter()
        .map(|e| match e {
            Value::Other { text, .. } => text.to_string(),
            other => panic!("{}[] element {other:?}", case.ty),
        })
        .collect();
    assert_eq!(got, want, "{}[]", case.ty);
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

    /// A double: any bit pattern, or a short decimal, or a small integer.
    fn f64(&mut self) -> f64 {
        match self.next() % 4 {
            0 | 1 => f64::from_bits(self.next()),
            2 => (self.next() % 2_000_001) as f64 / 1000.0 - 1000.0,
            _ => (self.next() % 200) as f64 - 100.0,
        }
    }

    /// A finite double.
    fn finite(&mut self) -> f64 {
        loop {
            let v = self.f64();
            if v.is_finite() {
                return v;
            }
        }
    }
}

/// A float8 input literal that reads back as exactly `v`.
fn flit(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v:e}")
    }
}

fn random_ipv6(rng: &mut Rng) -> String {
    let words: Vec<String> = (0..8)
        .map(|_| {
            let r = rng.next();
            match r % 4 {
                0 | 1 => "0".to_owned(),
                2 => "ffff".to_owned(),
                _ => format!("{:x}", (r >> 8) & 0xFFFF),
            }
        })
        .collect();
    words.join(":")
}

#[tokio::test]
async fn network_and_mac_types_match_postgres() {
    let client = connect().await;
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let inet = [
        "0.0.0.0",
        "0.0.0.0/0",
        "255.255.255.255",
        "192.168.0.1/24",
        "10.1.2.3/8",
        "127.0.0.1/32",
        "1.2.3.4/31",
        "::",
        "::/0",
        "::1",
        "::1/128",
        "::2",
        "::1:2",
        "1::",
        "1::/16",
        "2001:db8::1/64",
        "2001:db8:0:0:1:0:0:1",
        "2001:0:0:1:0:0:0:1",
        "2001:db8::",
        "fe80::1",
        "::ffff:1.2.3.4",
        "::ffff:1.2.3.4/120",
        "::1.2.3.4",
        "::0.1.255.255",
        "::ffff:0:0",
        "::ffff:0.0.0.0",
        "::fffe:1.2.3.4",
        "0:0:0:0:0:1:ffff:1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "1:2:3:4:5:6:7:8",
        "1:0:3:4:5:6:7:8",
        "1:2:3:4:5:6:0:0",
        "0:0:1:0:0:0:1:0",
        "1:0:0:1:0:0:1:1",
        "0:1:0:1:0:1:0:1",
        "::ffff:1:2",
        "0:0:0:0:0:ffff:0:1",
    ];
    let random_inet = (0..300).map(|i| {
        if i % 3 == 0 {
            let r = rng.next();
            format!(
                "{}.{}.{}.{}/{}",
                r & 0xFF,
                (r >> 8) & 0xFF,
                (r >> 16) & 0xFF,
                (r >> 24) & 0xFF,
                (r >> 32) % 33
            )
        } else {
            let bits = rng.next() % 129;
            format!("{}/{bits}", random_ipv6(&mut rng))
        }
    });
    let random_inet: Vec<String> = random_inet.collect();
    let cidr_inputs: Vec<String> = inet
        .iter()
        .map(|s| (*s).to_owned())
        .chain(random_inet.iter().cloned())
        .collect();
    let mut n = check(&client, &Case::new("inet", &inet).more(random_inet)).await;
    n += check(
        &client,
        &Case::new("cidr", &[])
            .expr("network(s::inet)")
            .more(cidr_inputs),
    )
    .await;
    let random_mac: Vec<String> = (0..50)
        .map(|_| {
            let b = rng.next().to_be_bytes();
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect();
    n += check(
        &client,
        &Case::new(
            "macaddr",
            &[
                "08:00:2b:01:02:03",
                "00:00:00:00:00:00",
                "FF:FF:FF:FF:FF:FF",
                "0800.2b01.0203",
            ],
        )
        .more(random_mac.iter().map(|m| m[..17].to_owned())),
    )
    .await;
    n += check(
        &client,
        &Case::new(
            "macaddr8",
            &[
                "08:00:2b:01:02:03:04:05",
                "08:00:2b:01:02:03",
                "00:00:00:00:00:00:00:00",
            ],
        )
        .more(random_mac),
    )
    .await;
    assert!(n > 700, "compared {n} values");
}

#[tokio::test]
async fn numeric_like_and_text_like_types_match_postgres() {
    let client = connect().await;
    let mut rng = Rng(0x0BAD_CAFE_DEAD_BEEF);
    let money: Vec<String> = (0..100)
        .map(|_| {
            let cents = rng.next() as i64 >> (rng.next() % 64);
            let sign = if cents < 0 { "-" } else { "" };
            let abs = cents.unsigned_abs();
            format!("{sign}{}.{:02}", abs / 100, abs % 100)
        })
        .collect();
    let mut n = check(
        &client,
        &Case::new(
            "money",
            &[
                "-1234.56",
                "0",
                "0.01",
                "-0.01",
                "1000000",
                "92233720368547758.07",
                "-92233720368547758.08",
            ],
        )
        .expected("v::numeric")
        .more(money),
    )
    .await;
    let random_bits: Vec<String> = (0..100)
        .map(|_| {
            let len = (rng.next() % 80) as usize;
            (0..len)
                .map(|_| {
                    if rng.next().is_multiple_of(2) {
                        '0'
                    } else {
                        '1'
                    }
                })
                .collect()
        })
        .collect();
    let bits = [
        "",
        "0",
        "1",
        "0101",
        "11111111",
        "000000001",
        "1000000000000001",
    ];
    n += check(
        &client,
        &Case::new("bit", &bits)
            .expr("bit_in(s::cstring, 0, -1)")
            .more(random_bits.clone()),
    )
    .await;
    n += check(&client, &Case::new("varbit", &bits).more(random_bits)).await;
    let lsn: Vec<String> = (0..50)
        .map(|_| {
            let v = rng.next() >> (rng.next() % 64);
            format!("{:X}/{:X}", v >> 32, v & 0xFFFF_FFFF)
        })
        .collect();
    n += check(
        &client,
        &Case::new(
            "pg_lsn",
            &["0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "1/0", "0/1"],
        )
        .more(lsn),
    )
    .await;
    n += check(
        &client,
        &Case::new(
            "xml",
            &[
                "<a/>",
                "<a b=\"1\">text &amp; more</a>",
                "plain content",
                "",
                "<?xml version=\"1.0\"?><a/>",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<x>é</x>",
                "<?xml version=\"1.0\" standalone=\"yes\"?><a/>",
                "<héllo>wörld ✓</héllo>",
                "<a>\n  <b/>\n</a>",
            ],
        ),
    )
    .await;
    n += check(
        &client,
        &Case::new(
            "jsonpath",
            &[
                "$",
                "$.a ? (@ > 1)",
                "strict $.a[*]",
                "$.\"key with space\"",
                "lax $.a.b[1 to 3, last]",
                "$ ? (@ like_regex \"^a\" flag \"i\")",
                "$.a.double() + 2 * $.b",
                "$.datetime(\"YYYY-MM-DD\")",
            ],
        ),
    )
    .await;
    n += check(
        &client,
        &Case::new("int2vector", &["", "1", "1 2 -3", "32767 -32768 0"]),
    )
    .await;
    n += check(
        &client,
        &Case::new("oidvector", &["", "0", "1 4294967295", "26 23 16"]),
    )
    .await;
    n += check(
        &client,
        &Case::new("tid", &["(0,0)", "(1,2)", "(4294967295,65535)"]),
    )
    .await;
    n += check(
        &client,
        &Case::new("xid8", &["0", "123", "18446744073709551615"]),
    )
    .await;
    let snapshots = [
        "10:20:",
        "10:20:12,15",
        "10:10:",
        "3:1000000000000:5,6,999999999999",
    ];
    n += check(&client, &Case::new("pg_snapshot", &snapshots)).await;
    n += check(
        &client,
        &Case::new("txid_snapshot", &["10:20:", "10:20:12,15"]),
    )
    .await;
    n += check(
        &client,
        &Case::new(
            "\"char\"",
            &["a", "", "ab", "\\351", "\\", " ", "\\177", "\\200"],
        ),
    )
    .await;
    assert!(n > 350, "compared {n} values");
}

#[tokio::test]
async fn geometric_types_match_postgres() {
    let client = connect().await;
    let mut rng = Rng(0xFEED_FACE_0123_4567);
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1e14,
        123456789012345.0,
        1e15,
        1e16,
        1e300,
        -2.25e300,
        1e-4,
        1.5e-5,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        0.30000000000000004,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut points: Vec<String> = Vec::new();
    for x in specials {
        for y in [0.0, -0.0, 2.5, f64::NAN, 1e-300] {
            points.push(format!("({},{})", flit(x), flit(y)));
        }
    }
    for _ in 0..1000 {
        points.push(format!("({},{})", flit(rng.f64()), flit(rng.f64())));
    }
    let mut n = check(&client, &Case::new("point", &[]).more(points)).await;
    let mut p = || format!("({},{})", flit(rng.finite()), flit(rng.finite()));
    let lsegs: Vec<String> = (0..100).map(|_| format!("[{},{}]", p(), p())).collect();
    let boxes: Vec<String> = (0..100).map(|_| format!("{},{}", p(), p())).collect();
    let paths: Vec<String> = (0..100)
        .map(|i| {
            let pts: Vec<String> = (0..=(i % 5)).map(|_| p()).collect();
            if i % 2 == 0 {
                format!("[{}]", pts.join(","))
            } else {
                format!("({})", pts.join(","))
            }
        })
        .collect();
    let polygons: Vec<String> = (0..100)
        .map(|i| {
            let pts: Vec<String> = (0..=(i % 6)).map(|_| p()).collect();
            format!("({})", pts.join(","))
        })
        .collect();
    n += check(&client, &Case::new("lseg", &["[(1,2),(3,4)]"]).more(lsegs)).await;
    n += check(
        &client,
        &Case::new("box", &["(3,4),(1,2)", "(NaN,1),(2,3)"]).more(boxes),
    )
    .await;
    n += check(
        &client,
        &Case::new("path", &["[(1,2)]", "((1,2),(3,4))"]).more(paths),
    )
    .await;
    n += check(
        &client,
        &Case::new("polygon", &["((0,0),(1,1),(1,0))"]).more(polygons),
    )
    .await;
    let lines: Vec<String> = (0..100)
        .map(|_| {
            // line_in rejects |A| and |B| both below 1e-6.
            let a = rng.finite();
            let a = if a.abs() < 1e-6 { a + 1.0 } else { a };
            format!("{{{},{},{}}}", flit(a), flit(rng.finite()), flit(rng.f64()))
        })
        .collect();
    n += check(
        &client,
        &Case::new("line", &["{1,-2,0.5}", "{0,1,0}", "{1,0,-0}"]).more(lines),
    )
    .await;
    let circles: Vec<String> = (0..100)
        .map(|_| {
            format!(
                "<({},{}),{}>",
                flit(rng.f64()),
                flit(rng.f64()),
                flit(rng.finite().abs())
            )
        })
        .collect();
    n += check(
        &client,
        &Case::new("circle", &["<(1,2),3>", "<(0,0),0>", "<(1,2),NaN>"]).more(circles),
    )
    .await;
    assert!(n > 1500, "compared {n} values");
}

#[tokio::test]
async fn text_search_types_match_postgres() {
    let client = connect().await;
    let mut n = check(
        &client,
        &Case::new(
            "tsvector",
            &[
                "",
                "a",
                "a:1A,2B,3C,4",
                "fat cat:3 rat:5A sat:2,4",
                "'it''s'",
                "b\\\\c",
                "'a b' 'c''d':1",
                "héllo wörld:3D ✓:16383",
                "z y x w:1,1,2",
                "'\\'' '\\\\'",
            ],
        ),
    )
    .await;
    n += check(
        &client,
        &Case::new(
            "tsquery",
            &[
                "",
                "a",
                "a & b",
                "a | b & c",
                "(a | b) & c",
                "a & (b | c)",
                "!a",
                "!(a & b)",
                "!!a",
                "!a | b",
                "!(a <-> b)",
                "a <-> b",
                "a <3> b",
                "a <0> b",
                "(a <-> b) <-> c",
                "a <-> (b <-> c)",
                "(a & b) <-> c",
                "a <-> (b | c)",
                "a:*",
                "a:AB",
                "a:*D",
                "a:ABCD",
                "a & !b <-> c:*AB | d",
                "'it''s' & 'b\\\\c'",
                "héllo & (wörld | ✓)",
                "((a | b) & (c | d)) <2> !(e & f)",
                "a | b | c | d & e & f",
                "a <-> b <-> c <-> d",
            ],
        ),
    )
    .await;
    // A long chain: deep nesting in the prefix form.
    let long: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
    n += check(
        &client,
        &Case::new("tsquery", &[]).more([long.join(" & "), long.join(" | "), long.join(" <-> ")]),
    )
    .await;
    assert!(n > 35, "compared {n} values");
}
