use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::event::{Cell, Row};
use crate::schema::{PgType, ReplicaIdentity, TypeKind};

pub(crate) fn spec(destination: &str, objects: &str) -> TaskSpec {
    let text = format!(
        "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n{destination}\n\
         [objects]\ntables = [\"public.*\"]\n{objects}"
    );
    TaskSpec::parse(&text).unwrap()
}

pub(crate) fn table(oid: u32, name: &str, cols: &[(&str, bool)]) -> Arc<TableSchema> {
    let text = Arc::new(PgType::new(25, "text", "pg_catalog", TypeKind::Text));
    Arc::new(TableSchema {
        oid,
        schema: "public".into(),
        name: name.into(),
        columns: cols
            .iter()
            .map(|(n, key)| Column {
                name: (*n).into(),
                ty: text.clone(),
                typmod: -1,
                is_key: *key,
                nullable: !*key,
            })
            .collect(),
        replica_identity: ReplicaIdentity::Default,
    })
}

/// A row of text cells (`None` is NULL).
pub(crate) fn row(values: &[Option<&str>]) -> Row {
    let mut buf = Vec::new();
    let mut cells = Vec::new();
    for v in values {
        match v {
            Some(s) => {
                cells.push(Cell::Text {
                    start: buf.len() as u32,
                    len: s.len() as u32,
                });
                buf.extend_from_slice(s.as_bytes());
            }
            None => cells.push(Cell::Null),
        }
    }
    Row {
        buf: Bytes::from(buf),
        cells,
    }
}

#[test]
fn default_routes_keep_debezium_topics_names_and_the_primary_key() {
    let r = Routing::new(&spec("", ""));
    let t = table(1, "Orders", &[("id", true), ("Status", false)]);
    let route = r.route(&t).unwrap();
    assert_eq!(route.topic, "shop.public.Orders");
    assert_eq!(route.target.name, "Orders");
    assert_eq!(route.target.columns[1].name, "Status");
    assert_eq!(route.key_indices, [0]);
    assert_eq!(route.partition(Some(5)), PartitionChoice::Default);
    assert_eq!(r.ddl_topic(), "shop");
    assert!(Operation::ALL.iter().all(|o| route.migrates(*o)));
}

#[test]
fn mapping_capitalisation_topics_and_keys_follow_the_task() {
    let dest = "capitalisation = \"upper\"\npartition_policy = \"hash_key\"\nddl_topic = \"ddl\"";
    let objects = "[objects.schema.public]\nname = \"app\"\n\
        [objects.table.\"public.orders\"]\nname = \"orders_v2\"\ntopic = \"orders-topic\"\n\
        partitions = 6\nkey_columns = [\"status\", \"id\"]\noperations = [\"insert\", \"ddl\"]\n\
        columns = { status = \"state\" }\n";
    let r = Routing::new(&spec(dest, objects));
    let orders = table(
        1,
        "orders",
        &[("id", true), ("status", false), ("note", false)],
    );
    let lines = table(2, "lines", &[("id", true)]);
    r.check(&[orders.clone(), lines.clone()]).unwrap();
    let route = r.route(&orders).unwrap();
    assert_eq!(
        (route.target.schema.as_str(), route.target.name.as_str()),
        ("app", "orders_v2")
    );
    let names: Vec<&str> = route
        .target
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["ID", "state", "NOTE"]);
    assert_eq!(route.topic, "orders-topic");
    assert_eq!(route.partitions, Some(6));
    assert_eq!(route.key_indices, [1, 0]);
    assert_eq!(route.table_hash, java_string_hash("app.orders_v2"));
    assert!(route.migrates(Operation::Insert) && route.migrates(Operation::Ddl));
    assert!(!route.migrates(Operation::Update) && !route.migrates(Operation::Truncate));
    assert_eq!(r.route(&lines).unwrap().topic, "shop.app.LINES");
    assert_eq!(r.ddl_topic(), "ddl");
    assert_eq!(
        r.topics(&[orders, lines]),
        [
            TopicPlan {
                name: "orders-topic".into(),
                partitions: Some(6)
            },
            TopicPlan::named("shop.app.LINES")
        ],
        "Debezium writes no DDL messages: no DDL topic"
    );
    assert_eq!(r.partitions_of("orders-topic"), Some(6));
    assert_eq!(r.partitions_of("shop.app.LINES"), None);
}

#[test]
fn topics_carry_their_partition_counts_and_the_dts_formats_add_the_ddl_topic() {
    let objects = "[objects.table.\"public.orders\"]\npartitions = 3\n\
        [objects.table.\"public.lines\"]\ntopic = \"shared\"\npartitions = 5\n\
        [objects.table.\"public.notes\"]\ntopic = \"shared\"\n";
    let tables = [
        table(1, "orders", &[("id", true)]),
        table(2, "lines", &[("id", true)]),
        table(3, "notes", &[("id", true)]),
        table(4, "plain", &[("id", true)]),
    ];
    let plan = |name: &str, partitions| TopicPlan {
        name: name.into(),
        partitions,
    };
    let r = Routing::new(&spec("format = \"canal_json\"", objects));
    r.check(&tables).unwrap();
    assert_eq!(
        r.topics(&tables),
        [
            plan("shared", Some(5)),
            plan("shop", None),
            plan("shop.public.orders", Some(3)),
            plan("shop.public.plain", None),
        ],
        "a shared topic takes its tables' count; the DDL topic (the task name) and tables \
         without a count take the sink's default (destination.partitions)"
    );
    let r = Routing::new(&spec(
        "format = \"canal_json\"\nddl_topic = \"shared\"",
        objects,
    ));
    let names: Vec<String> = r.topics(&tables).into_iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        ["shared", "shop.public.orders", "shop.public.plain"],
        "a DDL topic that is also a data topic is prepared once"
    );
}

#[test]
fn the_message_key_and_hash_key_use_the_same_strings() {
    let r = Routing::new(&spec("partition_policy = \"hash_key\"", ""));
    let t = table(1, "t", &[("a", true), ("b", true), ("c", false)]);
    let route = r.route(&t).unwrap();
    let mut w = KeyWriter::default();
    let mut out = Vec::new();
    let h = w
        .write(&route, &row(&[Some("42"), None, Some("x")]), &mut out)
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":"42","b":null}"#);
    // NULL hashes as "" (0): the XOR is the hash of "42" alone.
    assert_eq!(h, Some(java_string_hash("42")));
    let h2 = w
        .hash(&route, &row(&[Some("42"), Some("é😀"), None]))
        .unwrap();
    assert_eq!(h2, Some(java_string_hash("42") ^ java_string_hash("é😀")));
    assert_eq!(route.partition(h2), PartitionChoice::Hash(h2.unwrap()));
    // Without key columns: null key, and hash_key falls back to the table's hash.
    let keyless = r.route(&table(2, "k", &[("x", false)])).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        w.write(&keyless, &row(&[Some("1")]), &mut out).unwrap(),
        None
    );
    assert!(out.is_empty());
    assert_eq!(
        keyless.partition(None),
        PartitionChoice::Hash(java_string_hash("public.k"))
    );
}

#[test]
fn policies_pick_partitions_and_the_dts_formats_default_to_partition_zero() {
    let t = table(1, "t", &[("id", true)]);
    let zero = Routing::new(&spec("format = \"canal_json\"", ""));
    assert_eq!(
        zero.route(&t).unwrap().partition(Some(9)),
        PartitionChoice::Fixed(0)
    );
    let by_table = Routing::new(&spec("partition_policy = \"hash_table\"", ""));
    let route = by_table.route(&t).unwrap();
    let th = java_string_hash("public.t");
    assert_eq!(route.partition(Some(9)), PartitionChoice::Hash(th));
    assert_eq!(route.table_partition(), PartitionChoice::Hash(th));
    let by_key = Routing::new(&spec("partition_policy = \"hash_key\"", ""));
    assert_eq!(
        by_key.route(&t).unwrap().table_partition(),
        PartitionChoice::Fixed(0)
    );
}

#[test]
fn settings_that_do_not_fit_the_tables_are_refused_with_the_reason() {
    let t = table(
        1,
        "orders",
        &[("id", true), ("Name", false), ("name", false)],
    );
    let bad_key = Routing::new(&spec(
        "",
        "[objects.table.\"public.orders\"]\nkey_columns = [\"nope\"]",
    ));
    let e = bad_key
        .check(std::slice::from_ref(&t))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("public.orders") && e.contains("\"nope\"") && e.contains("key_columns"),
        "{e}"
    );
    let unselected = Routing::new(&spec("", "[objects.table.\"public.gone\"]\ntopic = \"x\""));
    let e = unselected
        .check(std::slice::from_ref(&t))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("public.gone") && e.contains("not a selected table"),
        "{e}"
    );
    let lower = Routing::new(&spec("capitalisation = \"lower\"", ""));
    let e = lower
        .check(std::slice::from_ref(&t))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"name\""), "{e}");
    let a = table(1, "A", &[("id", true)]);
    let b = table(2, "a", &[("id", true)]);
    let e = lower.check(&[a, b]).unwrap_err().to_string();
    assert!(e.contains("public.A") && e.contains("public.a"), "{e}");
    let rename = Routing::new(&spec(
        "",
        "[objects.table.\"public.orders\"]\ncolumns = { missing = \"x\" }",
    ));
    assert!(rename
        .check(&[t])
        .unwrap_err()
        .to_string()
        .contains("\"missing\""));
}

#[test]
fn the_task_file_refuses_mappings_it_can_see_are_wrong() {
    let parse = |objects: &str| {
        let text = format!(
            "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n\
             [objects]\ntables = [\"public.*\"]\n{objects}"
        );
        TaskSpec::parse(&text).map(|_| ()).unwrap_err().to_string()
    };
    let e = parse(
        "[objects.table.\"public.a\"]\nname = \"x\"\n[objects.table.\"public.b\"]\nname = \"x\"",
    );
    assert!(
        e.contains("public.a") && e.contains("public.b") && e.contains("public.x"),
        "{e}"
    );
    let e = parse("[objects.table.\"public.a\"]\ncolumns = { p = \"x\", q = \"x\" }");
    assert!(e.contains("\"x\""), "{e}");
    let e = parse("[objects.schema.s1]\nname = \"t\"\n[objects.schema.s2]\nname = \"t\"");
    assert!(e.contains("\"t\""), "{e}");
    let e = parse("[objects.table.\"public.*\"]\ntopic = \"x\"");
    assert!(e.contains("exact"), "{e}");
    let e = parse("[objects.table.\"public.a\"]\npartitions = 0");
    assert!(e.contains("partitions"), "{e}");
    let e = parse("[objects.table.\"public.a\"]\noperations = []");
    assert!(e.contains("operations"), "{e}");
    let e = parse("[objects.table.\"public.a\"]\noperations = [\"merge\"]");
    assert!(e.contains("merge"), "{e}");
}

#[test]
fn the_router_rebuilds_a_route_only_when_the_table_changes() {
    let r = Arc::new(Routing::new(&spec("", "")));
    let mut router = Router::new(r);
    let t = table(1, "t", &[("id", true)]);
    let a = router.get(&t).unwrap();
    assert!(Arc::ptr_eq(&a, &router.get(&t).unwrap()));
    let same = Arc::new((*t).clone());
    let b = router.get(&same).unwrap();
    assert!(Arc::ptr_eq(&b.source, &same));
    let changed = table(1, "t", &[("id", true), ("extra", false)]);
    assert_eq!(router.get(&changed).unwrap().target.columns.len(), 2);
}
