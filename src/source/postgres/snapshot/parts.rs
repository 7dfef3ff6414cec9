//! Splitting a table read under the exported snapshot into `ctid` block ranges
//! (DESIGN-NOTES §1.6), so the session's connections read one large table side by side instead
//! of one connection reading it whole. This is how a table without a key is read in parallel
//! (there is no key to cut it by), and how a full-only task reads its large tables.
//!
//! ctids are stable only inside one snapshot, and every part is read under the same imported
//! one, so the ranges together hold each visible row exactly once. `ctid >= '(b,0)'` and
//! `ctid < '(b,0)'` are TID range scans from PostgreSQL 14. A table cut by a crash is read
//! again from its start (its parts are not remembered).

use tokio_postgres::Client;

use super::SnapshotTable;

/// Without statistics (`reltuples` is -1 before the first ANALYZE), a part is this many
/// blocks (8 MiB of 8 KiB pages).
const FALLBACK_BLOCKS: u64 = 1024;
/// At most this many parts per table.
const MAX_PARTS: u64 = 4096;

/// The `WHERE` condition of each part of every table, in the tables' order (`None`: the table
/// is read whole). Tables are split into parts of about `part_rows` rows when they are plain
/// tables (not read with `ONLY`; a partitioned root has no blocks of its own) holding at least
/// two parts.
pub async fn plan(
    client: &Client,
    tables: &[SnapshotTable],
    part_rows: usize,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let whole = || vec![None];
    if part_rows == 0 {
        return Ok(tables.iter().map(|_| whole()).collect());
    }
    let oids: Vec<u32> = tables.iter().map(|t| t.schema.oid).collect();
    let rows = client
        .query(
            "SELECT c.oid, (pg_relation_size(c.oid) / current_setting('block_size')::bigint)::bigint, \
             c.reltuples::float8, c.relkind = 'r' FROM pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
        )
        .await?;
    let sizes: std::collections::HashMap<u32, (i64, f64, bool)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    Ok(tables
        .iter()
        .map(|t| match sizes.get(&t.schema.oid) {
            Some(&(pages, tuples, true)) if !t.only => {
                let pages = pages.max(0) as u64;
                ranges(pages, blocks_per_part(pages, tuples, part_rows))
            }
            _ => whole(),
        })
        .collect())
}

/// Blocks holding about `part_rows` rows, from the table's average rows per block.
fn blocks_per_part(pages: u64, tuples: f64, part_rows: usize) -> u64 {
    if tuples <= 0.0 || pages == 0 {
        return FALLBACK_BLOCKS;
    }
    let per_block = (tuples / pages as f64).max(1.0);
    let blocks = (part_rows as f64 / per_block).ceil() as u64;
    blocks.max(1).max(pages.div_ceil(MAX_PARTS))
}

/// The ranges of `pages` blocks in parts of `blocks`: the first bounded above only, the last
/// below only (rows in blocks added later are not visible to the snapshot, but nothing is left
/// out if they were). Fewer than two parts: the whole table.
fn ranges(pages: u64, blocks: u64) -> Vec<Option<String>> {
    let parts = pages.div_ceil(blocks.max(1));
    if parts < 2 {
        return vec![None];
    }
    (0..parts)
        .map(|i| {
            let (lo, hi) = (i * blocks, (i + 1) * blocks);
            Some(match i {
                0 => format!("ctid < '({hi},0)'::tid"),
                i if i + 1 == parts => format!("ctid >= '({lo},0)'::tid"),
                _ => format!("ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_block_once() {
        assert_eq!(
            ranges(10, 4),
            vec![
                Some("ctid < '(4,0)'::tid".to_owned()),
                Some("ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid".to_owned()),
                Some("ctid >= '(8,0)'::tid".to_owned()),
            ]
        );
        assert_eq!(ranges(4, 4), vec![None], "one part: the whole table");
        assert_eq!(ranges(0, 4), vec![None]);
    }

    #[test]
    fn parts_hold_about_the_rows_asked_for() {
        // 100 rows per block: 8,192 rows are 82 blocks.
        assert_eq!(blocks_per_part(1000, 100_000.0, 8192), 82);
        // Without statistics: the fallback size.
        assert_eq!(blocks_per_part(1000, -1.0, 8192), FALLBACK_BLOCKS);
        // Never more than MAX_PARTS parts.
        assert_eq!(blocks_per_part(1_000_000, 1_000_000.0, 1), 245);
    }
}
