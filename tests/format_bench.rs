//! Serialisation throughput of every message format on one core, over real rows: the bench's
//! `bench_wide` rows read from PostgreSQL in binary COPY form (the wire form the stream's
//! binary pgoutput carries), encoded as stream INSERTs, and as UPDATEs with the full before
//! image (REPLICA IDENTITY FULL, the heaviest message every format writes), in transactions of
//! 100 events through the format the task's `destination.format` builds, buffered transactions
//! drained as the runner drains them. Run by `scripts/bench.sh` (release build), which sets TRIBUTARY_BENCH_URL and
//! compares each rate with the stream rate of the same run.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use tributary::event::{Cell, ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use tributary::format::EncodedBatch;
use tributary::metrics::ShardLabels;
use tributary::position::{Lsn, Position, StreamPosition};
use tributary::route::Routing;
use tributary::schema::{Column, PgType, ReplicaIdentity, TableSchema, TypeKind};
use tributary::source::SourceInfo;

/// The formats measured unless BENCH_FORMATS names others (comma-separated).
const FORMATS: [&str; 4] = ["debezium_json", "canal_json", "dts_avro", "shareplex_json"];
const TX_EVENTS: u32 = 100;

#[tokio::test]
#[ignore = "benchmark: needs the bench database; run by scripts/bench.sh in release"]
async fn serialisation_throughput_per_format() {
    let url = std::env::var("TRIBUTARY_BENCH_URL").expect("TRIBUTARY_BENCH_URL");
    let events: u64 = std::env::var("BENCH_FORMAT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let table = bench_wide();
    let rows = read_rows(&url, 100_000).await;
    let chosen = std::env::var("BENCH_FORMATS").unwrap_or_else(|_| FORMATS.join(","));
    let full = Arc::new(TableSchema {
        replica_identity: ReplicaIdentity::Full,
        ..(*table).clone()
    });
    for format in chosen.split(',') {
        for (op, table) in [(Op::Insert, &table), (Op::Update, &full)] {
            let per_s = encode_all(format, table, op, &rows, events);
            let op = if op == Op::Insert { "insert" } else { "update" };
            println!("FORMAT format={format} op={op} events={events} events_per_s={per_s}");
        }
    }
}

/// Encodes `n` events of `op` (INSERT, or UPDATE with the before image) cycling over `rows`;
/// events per second on this thread.
fn encode_all(format: &str, table: &Arc<TableSchema>, op: Op, rows: &[Row], n: u64) -> u64 {
    let spec = tributary::config::TaskSpec::parse(&format!(
        "name = \"bench\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/bench\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\nformat = \"{format}\"\n\
         [objects]\ntables = [\"public.bench_wide\"]\n"
    ))
    .expect("task");
    let info = SourceInfo {
        kind: "postgresql",
        database: "bench".into(),
        server_version: "15.0".into(),
        tables: vec![table.clone()],
        server_point: None,
    };
    let routing = Arc::new(Routing::new(&spec));
    let mut f = tributary::format::build(&spec, &info, &ShardLabels::new("bench", 0), &routing)
        .expect("format");
    let mut out = EncodedBatch::default();
    let (mut bytes, mut records) = (0u64, 0u64);
    let mut count = |out: &EncodedBatch| {
        records += out.len() as u64;
        bytes += out
            .records()
            .iter()
            .map(|r| r.value.len() as u64)
            .sum::<u64>();
    };
    let start = Instant::now();
    let mut i = 0u64;
    while i < n {
        let tx = TxMeta {
            xid: 1000 + i,
            commit_time_us: 1_705_307_400_000_000 + i as i64,
            commit_lsn: Lsn(0x1000_0000 + i * 64),
        };
        out.clear();
        f.begin(&tx, &mut out).expect("begin");
        count(&out);
        let in_tx = u64::from(TX_EVENTS).min(n - i) as u32;
        for k in 0..in_tx {
            let at = i as usize + k as usize;
            let ev = change(
                table,
                op,
                &tx,
                k,
                (&rows[at % rows.len()], &rows[(at + 1) % rows.len()]),
            );
            out.clear();
            f.encode(&ev, &mut out).expect("encode");
            count(&out);
        }
        out.clear();
        f.commit(&tx, in_tx, &mut out).expect("commit");
        count(&out);
        loop {
            out.clear();
            let more = f.pending(&mut out, 1024).expect("pending");
            count(&out);
            if !more {
                break;
            }
        }
        i += u64::from(in_tx);
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(records >= n, "{format}: {records} records for {n} events");
    eprintln!("{format} {op:?}: {n} events, {records} records, {bytes} value bytes in {secs:.2} s");
    (n as f64 / secs) as u64
}

/// An INSERT of `after`, or an UPDATE from `before` to `after`.
fn change(
    table: &Arc<TableSchema>,
    op: Op,
    tx: &TxMeta,
    index: u32,
    (before, after): (&Row, &Row),
) -> ChangeEvent {
    ChangeEvent {
        position: Position::Stream(StreamPosition::pg(tx.commit_lsn, index)),
        op,
        table: table.clone(),
        tx: *tx,
        lsn: tx.commit_lsn,
        last_commit_lsn: None,
        snapshot: SnapshotMark::None,
        before: (op == Op::Update).then(|| before.clone()),
        after: Some(after.clone()),
    }
}

/// `bench_wide` as scripts/bench.sh creates it.
fn bench_wide() -> Arc<TableSchema> {
    let ty = |oid, name: &str, kind| Arc::new(PgType::new(oid, name, "pg_catalog", kind));
    let col = |name: &str, ty: Arc<PgType>, typmod, is_key| Column {
        name: name.into(),
        ty,
        typmod,
        is_key,
        nullable: false,
    };
    Arc::new(TableSchema {
        oid: 16_384,
        schema: "public".into(),
        name: "bench_wide".into(),
        columns: vec![
            col("id", ty(20, "int8", TypeKind::Int8), -1, true),
            col("qty", ty(23, "int4", TypeKind::Int4), -1, false),
            col("descr", ty(25, "text", TypeKind::Text), -1, false),
            col("code", ty(1043, "varchar", TypeKind::Text), 36, false),
            col(
                "amount",
                ty(1700, "numeric", TypeKind::Numeric),
                (12 << 16 | 2) + 4,
                false,
            ),
            col(
                "created_at",
                ty(1184, "timestamptz", TypeKind::TimestampTz),
                -1,
                false,
            ),
            col("active", ty(16, "bool", TypeKind::Bool), -1, false),
            col("attrs", ty(3802, "jsonb", TypeKind::Jsonb), -1, false),
            col("ref", ty(2950, "uuid", TypeKind::Uuid), -1, false),
            col("day", ty(1082, "date", TypeKind::Date), -1, false),
            col("score", ty(701, "float8", TypeKind::Float8), -1, false),
        ],
        replica_identity: ReplicaIdentity::Default,
    })
}

/// Up to `limit` rows of `bench_wide` in binary COPY form, each a `Row` of binary cells.
async fn read_rows(url: &str, limit: u32) -> Vec<Row> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the bench database");
    tokio::spawn(conn);
    let copy = format!(
        "COPY (SELECT id, qty, descr, code, amount, created_at, active, attrs, ref, day, score \
         FROM bench_wide ORDER BY id LIMIT {limit}) TO STDOUT (FORMAT binary)"
    );
    let stream = client.copy_out(copy.as_str()).await.expect("COPY");
    let mut data = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.expect("COPY data"));
    }
    parse_binary_copy(&data)
}

/// Splits binary COPY output (signature, flags, extension, tuples, trailer) into rows.
fn parse_binary_copy(data: &[u8]) -> Vec<Row> {
    let be16 = |b: &[u8]| i16::from_be_bytes([b[0], b[1]]);
    let be32 = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let ext = be32(&data[15..19]) as usize;
    let mut at = 19 + ext;
    let mut rows = Vec::new();
    loop {
        let fields = be16(&data[at..]);
        at += 2;
        if fields < 0 {
            return rows;
        }
        let start = at;
        let mut cells = Vec::with_capacity(fields as usize);
        for _ in 0..fields {
            let len = be32(&data[at..]);
            at += 4;
            if len < 0 {
                cells.push(Cell::Null);
                continue;
            }
            cells.push(Cell::Binary {
                start: (at - start) as u32,
                len: len as u32,
            });
            at += len as usize;
        }
        rows.push(Row {
            buf: Bytes::copy_from_slice(&data[start..at]),
            cells,
        });
    }
}
