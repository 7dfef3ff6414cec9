//! Shard planning against a real PostgreSQL: each sharding mode over the tables that exist,
//! a selector matching nothing, a user who may not read a table, and an unreachable server.

mod support;

use tributary::cluster::plan::plan_shards;
use tributary::cluster::state::ShardPlan;
use tributary::config::TaskSpec;

use support::*;

fn spec(url: &str, tables: &[&str], sharding: &str) -> TaskSpec {
    let list: Vec<String> = tables.iter().map(|t| format!("{t:?}")).collect();
    TaskSpec::parse(&format!(
        "name = \"plan\"\nsharding = {sharding:?}\n[source]\nkind = \"postgres\"\nurl = {url:?}\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = \"127.0.0.1:9092\"\n\
         [objects]\ntables = [{}]\n",
        list.join(", ")
    ))
    .unwrap()
}

fn shards(plan: &[ShardPlan]) -> Vec<(u32, Vec<&str>)> {
    plan.iter()
        .map(|p| (p.shard, p.tables.iter().map(String::as_str).collect()))
        .collect()
}

async fn shop() -> TestDb {
    let db = TestDb::create("plan").await;
    db.client
        .batch_execute(
            "CREATE SCHEMA sales; CREATE SCHEMA inventory; CREATE SCHEMA later;
             CREATE TABLE sales.orders (id int PRIMARY KEY);
             CREATE TABLE sales.line_a (id int PRIMARY KEY);
             CREATE TABLE sales.line_b (id int PRIMARY KEY);
             CREATE TABLE sales.other (id int PRIMARY KEY);
             CREATE TABLE inventory.items (id int PRIMARY KEY);
             CREATE TABLE inventory.\"odd.name\" (id int PRIMARY KEY);",
        )
        .await
        .unwrap();
    db
}

const SELECTION: [&str; 4] = ["sales.orders", "sales.line_*", "inventory.*", "later.*"];

#[tokio::test]
async fn sharding_none_keeps_the_selectors_as_one_shard() {
    let db = shop().await;
    let plan = plan_shards(&spec(&db.url, &SELECTION, "none"))
        .await
        .unwrap();
    assert_eq!(shards(&plan), vec![(0, SELECTION.to_vec())]);
    db.cleanup().await;
}

#[tokio::test]
async fn sharding_by_schema_keeps_whole_schemas_and_names_the_rest() {
    let db = shop().await;
    let plan = plan_shards(&spec(&db.url, &SELECTION, "schema"))
        .await
        .unwrap();
    assert_eq!(
        shards(&plan),
        vec![
            (0, vec!["inventory.*"]),
            (1, vec!["later.*"]),
            (2, vec!["sales.orders", "sales.line_a", "sales.line_b"]),
        ]
    );
    db.cleanup().await;
}

#[tokio::test]
async fn sharding_by_table_gives_each_existing_table_its_shard_in_name_order() {
    let db = shop().await;
    let plan = plan_shards(&spec(&db.url, &SELECTION, "table"))
        .await
        .unwrap();
    assert_eq!(
        shards(&plan),
        vec![
            (0, vec!["inventory.items"]),
            (1, vec!["inventory.\"odd.name\""]),
            (2, vec!["sales.line_a"]),
            (3, vec!["sales.line_b"]),
            (4, vec!["sales.orders"]),
        ]
    );
    let only_empty = plan_shards(&spec(&db.url, &["later.*"], "table"))
        .await
        .unwrap_err()
        .to_string();
    assert!(only_empty.contains("no existing table"), "{only_empty}");
    db.cleanup().await;
}

#[tokio::test]
async fn a_selector_matching_nothing_is_named() {
    let db = shop().await;
    let e = plan_shards(&spec(&db.url, &["sales.orders", "sales.nope_*"], "none"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sales.nope_*") && e.contains("objects.tables"),
        "{e}"
    );
    assert!(!e.contains('\n'));
    db.cleanup().await;
}

#[tokio::test]
async fn a_user_who_may_not_read_a_table_is_told_what_to_grant() {
    let db = shop().await;
    let role = unique("planrole");
    db.client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'pw';
             GRANT USAGE ON SCHEMA sales TO {role};
             GRANT SELECT ON sales.orders TO {role};"
        ))
        .await
        .unwrap();
    let (_, rest) = db.url.split_once("://").unwrap();
    let (_, host_db) = rest.rsplit_once('@').unwrap();
    let url = format!("postgres://{role}:pw@{host_db}");
    let e = plan_shards(&spec(&url, &["sales.orders", "sales.line_a"], "table"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("line_a") && e.contains("GRANT SELECT"), "{e}");
    assert!(!e.contains("orders"), "{e}");
    db.client
        .batch_execute(&format!("GRANT SELECT ON sales.line_a TO {role}"))
        .await
        .unwrap();
    assert_eq!(
        plan_shards(&spec(&url, &["sales.orders", "sales.line_a"], "table"))
            .await
            .unwrap()
            .len(),
        2
    );
    let admin = connect(&pg_url()).await;
    db.cleanup().await;
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_source_is_named_with_its_address() {
    let port = free_port();
    let url = format!("postgres://tributary@127.0.0.1:{port}/nowhere");
    let e = plan_shards(&spec(&url, &["public.t"], "none"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("source.url"),
        "{e}"
    );
}

#[tokio::test]
async fn settings_that_do_not_fit_the_tables_are_refused_at_creation() {
    let db = shop().await;
    let mut bad = spec(&db.url, &["sales.orders"], "none");
    let text = format!(
        "{}\n[objects.table.\"sales.orders\"]\nkey_columns = [\"nope\"]\n",
        toml::to_string(&bad).unwrap()
    );
    bad = TaskSpec::parse(&text).unwrap();
    let e = plan_shards(&bad).await.unwrap_err().to_string();
    assert!(
        e.contains("sales.orders") && e.contains("\"nope\"") && e.contains("key_columns"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    db.cleanup().await;
}
