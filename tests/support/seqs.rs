//! The sequence verifier of the fault tests (issue 11): the application raises a per-key
//! `seq` column by one at every update and adds new keys; reading the topic back, a lost
//! change shows as a gap, a doubled one as a repeat, a stale end as a last value that is not
//! the table's (as Kafka's own `test_exactly_once_source` checks).

use std::collections::BTreeMap;

use super::*;

/// Keys updated over and over.
pub const KEYS: i64 = 100;

/// `seqs (id, seq)`: `KEYS` rows at sequence 0.
pub async fn seq_table(prefix: &str) -> TestDb {
    seq_table_in(TestDb::create(prefix).await).await
}

pub async fn seq_table_in(db: TestDb) -> TestDb {
    seq_rows(db, KEYS).await
}

/// `seqs` with `rows` rows at sequence 0 (the first `KEYS` are the ones updated).
pub async fn seq_rows(db: TestDb, rows: i64) -> TestDb {
    db.client
        .batch_execute(&format!(
            "CREATE TABLE seqs (id bigint PRIMARY KEY, seq bigint NOT NULL);
             INSERT INTO seqs SELECT g, 0 FROM generate_series(1, {rows}) g;"
        ))
        .await
        .unwrap();
    db
}

/// The `i`-th write: one key's sequence raised by one; every tenth a new key.
pub fn statement(i: i64) -> String {
    if i % 10 == 9 {
        return format!("INSERT INTO seqs VALUES ({}, 0)", 1_000_000 + i);
    }
    format!(
        "UPDATE seqs SET seq = seq + 1 WHERE id = {}",
        (i * 37) % KEYS + 1
    )
}

pub async fn table_state(db: &TestDb) -> BTreeMap<i64, i64> {
    seqs_of(&db.client).await
}

/// `seqs` as `client` reads it: id → seq.
pub async fn seqs_of(client: &tokio_postgres::Client) -> BTreeMap<i64, i64> {
    client
        .query("SELECT id, seq FROM seqs", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// What the topic holds against the table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Keys in the table.
    pub keys: usize,
    /// Changes the table's sequences account for (each key's first value seen to its last).
    pub rows_checked: i64,
    /// Sequence values missing between a key's first value seen and the table's (or keys
    /// never seen).
    pub lost: i64,
    /// Values seen more than once.
    pub duplicated: i64,
    /// Keys whose last message is not the table's value.
    pub stale: usize,
}

/// Each key's sequence as the topic shows it, in order, against the table's.
pub fn verdict(msgs: &[Msg], table: &BTreeMap<i64, i64>) -> Verdict {
    verdict_of(msgs, table, "seq")
}

/// `verdict` for a table whose sequence column is `column`.
pub fn verdict_of(msgs: &[Msg], table: &BTreeMap<i64, i64>, column: &str) -> Verdict {
    // Each value with whether a snapshot read it (`op` "r"): a chunk read beside the stream
    // may read a row at a value the stream already delivered as a change; that read is an
    // event of its own, and only the same event seen twice is a duplicate.
    let mut seen: BTreeMap<i64, Vec<(i64, bool)>> = BTreeMap::new();
    for v in values(msgs) {
        let after = &v["after"];
        if let (Some(id), Some(seq)) = (after["id"].as_i64(), after[column].as_i64()) {
            seen.entry(id).or_default().push((seq, v["op"] == "r"));
        }
    }
    let mut out = Verdict {
        keys: table.len(),
        ..Verdict::default()
    };
    for (id, want) in table {
        let Some(values) = seen.get(id) else {
            out.lost += 1;
            continue;
        };
        let first = values[0].0;
        let mut events = values.clone();
        events.sort_unstable();
        events.dedup();
        out.duplicated += (values.len() - events.len()) as i64;
        let mut distinct: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
        distinct.dedup();
        out.rows_checked += want - first + 1;
        let inside = distinct
            .iter()
            .filter(|s| (first..=*want).contains(*s))
            .count();
        out.lost += (want - first + 1) - inside as i64;
        if values.last().map(|(s, _)| s) != Some(want) {
            out.stale += 1;
        }
    }
    out
}

/// The verdict once the topic holds every change of the table (bounded: about a minute).
pub async fn settled(db: &TestDb, topic: &str, servers: &str) -> Verdict {
    let want = table_state(db).await;
    // Messages of a key keep their order: once every key is at its table value, every change
    // that will ever arrive has.
    let msgs = consume_until_from(servers, topic, |m| {
        let keys: std::collections::BTreeSet<i64> = values(m)
            .iter()
            .filter_map(|v| v["after"]["id"].as_i64())
            .collect();
        keys.len() >= want.len() && verdict(m, &want).stale == 0
    });
    verdict(&msgs, &want)
}

/// Asserts that `v` lost nothing and ends at the table's values, after printing it.
pub fn judged(what: &str, v: &Verdict) {
    eprintln!("{what}: {v:?}");
    assert!(v.rows_checked > KEYS, "{what}: {v:?}");
    assert_eq!((v.lost, v.stale), (0, 0), "{what}: {v:?}");
}
