//! ctl's text output: aligned columns for lists, `key: value` lines for one object.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use super::output::{ClusterView, MemberView, ShardView, TaskView};

/// Rows under headers, each column as wide as its widest cell, two spaces apart; the last
/// column is not padded.
pub fn columns(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&head).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn tasks(tasks: &[TaskView]) -> String {
    if tasks.is_empty() {
        return "no tasks: `tributary ctl task create FILE` submits one\n".into();
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let events: u64 = t.shards.iter().map(|s| s.events).sum();
            let rows: u64 = t.shards.iter().map(|s| s.snapshot_rows).sum();
            let lag = t.shards.iter().map(|s| s.lag_ms).max().unwrap_or(0);
            vec![
                t.name.clone(),
                t.desired.into(),
                t.phase.into(),
                t.shards.len().to_string(),
                rows.to_string(),
                events.to_string(),
                ms(lag),
                one_line(t.last_error.as_deref()),
            ]
        })
        .collect();
    let headers = [
        "NAME",
        "DESIRED",
        "PHASE",
        "SHARDS",
        "ROWS",
        "EVENTS",
        "LAG",
        "LAST ERROR",
    ];
    columns(&headers, &rows)
}

pub fn task(t: &TaskView) -> String {
    let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut out = String::new();
    let _ = writeln!(out, "name:        {}", t.name);
    let _ = writeln!(out, "desired:     {}", t.desired);
    let _ = writeln!(out, "phase:       {}", t.phase);
    let _ = writeln!(out, "created:     {}", time(t.created_ms));
    let _ = writeln!(out, "labels:      {}", or_dash(&labels.join(", ")));
    let _ = writeln!(out, "last error:  {}", one_line(t.last_error.as_deref()));
    out.push('\n');
    out.push_str(&shards(&t.shards));
    out.push_str("\nspec (secrets redacted):\n");
    for line in t.spec_toml.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn shards(shards: &[ShardView]) -> String {
    let rows: Vec<Vec<String>> = shards
        .iter()
        .map(|s| {
            let owner = match (s.owner, s.moving_to) {
                (Some(o), Some(m)) => format!("{o}→{m}"),
                (Some(o), None) => o.to_string(),
                (None, _) => "-".into(),
            };
            vec![
                s.id.to_string(),
                owner,
                s.epoch.to_string(),
                s.state.into(),
                format!("{}/{}", s.tables_done, s.tables_total),
                s.snapshot_rows.to_string(),
                s.events.to_string(),
                ms(s.lag_ms),
                or_dash(&s.position),
                s.tables.join(","),
                one_line(s.reason.as_deref()),
            ]
        })
        .collect();
    let headers = [
        "SHARD",
        "OWNER",
        "EPOCH",
        "STATE",
        "TABLES",
        "ROWS",
        "EVENTS",
        "LAG",
        "POSITION",
        "SELECTION",
        "REASON",
    ];
    columns(&headers, &rows)
}

/// One line after a change: what happened and where the task stands.
pub fn changed(t: &TaskView, done: &str) -> String {
    format!(
        "task {} {done}: {} shard(s), desired {}, phase {}\n",
        t.name,
        t.shards.len(),
        t.desired,
        t.phase
    )
}

pub fn cluster(c: &ClusterView) -> String {
    let mut out = String::new();
    let leader = c.leader.map_or("none".to_owned(), |l| l.to_string());
    let health = if c.healthy { "ok" } else { "degraded" };
    let _ = writeln!(out, "leader: {leader}   health: {health}");
    for d in &c.degraded {
        let _ = writeln!(out, "  - {d}");
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = c.members.iter().map(member_row).collect();
    let headers = [
        "NODE",
        "ROLE",
        "RAFT",
        "ADMIN",
        "LEASE AGE",
        "STATE",
        "SHARDS",
    ];
    out.push_str(&columns(&headers, &rows));
    out
}

fn member_row(m: &MemberView) -> Vec<String> {
    let role = match (m.leader, m.voter) {
        (true, _) => "leader",
        (false, true) => "follower",
        (false, false) => "learner",
    };
    let state = match (m.lease_age_ms, m.lost, m.draining) {
        (None, ..) => "unregistered",
        (_, true, _) => "lost",
        (_, _, true) => "draining",
        _ => "ok",
    };
    vec![
        m.node_id.to_string(),
        role.into(),
        m.raft_addr.clone(),
        m.admin_addr.clone(),
        m.lease_age_ms.map_or("-".into(), ms),
        state.into(),
        m.shard_count.to_string(),
    ]
}

fn ms(v: u64) -> String {
    if v < 1000 {
        format!("{v}ms")
    } else {
        format!("{:.1}s", v as f64 / 1000.0)
    }
}

fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

fn one_line(s: Option<&str>) -> String {
    or_dash(&s.unwrap_or("").replace('\n', " "))
}
