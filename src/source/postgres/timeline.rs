//! Timeline forks behind the checkpoint. A promoted standby starts a new timeline at the point
//! its WAL ended (the switchpoint). When it had not received everything the task delivered (no
//! `synchronized_standby_slots` on the old primary), the checkpoint lies past that point: the
//! changes delivered from there on exist only on the old primary, and the new primary's own
//! changes at those positions would be skipped as already delivered. A resume on a timeline
//! other than the checkpoint's reads the server's timeline history and refuses such a
//! checkpoint instead of streaming on silently.

use super::conn::ReplicationConn;
use super::error::PgSourceError;
use crate::position::Lsn;

/// One line of a timeline history file: `timeline` ended at `switchpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub timeline: u32,
    pub switchpoint: Lsn,
}

/// The lines of a timeline history file (`<parent tli>\t<switchpoint>\t<reason>`), comments
/// and blank lines skipped.
pub fn parse_history(text: &str) -> Vec<Switch> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Switch {
                timeline: f.next()?.parse().ok()?,
                switchpoint: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// `TIMELINE_HISTORY`'s content column: text before PostgreSQL 16, bytea (`\x` hex) since.
fn history_text(content: &str) -> String {
    match content
        .strip_prefix("\\x")
        .and_then(|h| hex::decode(h).ok())
    {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => content.to_owned(),
    }
}

/// The server's timeline history up to `timeline` (empty on timeline 1, which has none).
pub async fn history(
    conn: &mut ReplicationConn,
    timeline: u32,
) -> Result<Vec<Switch>, PgSourceError> {
    if timeline <= 1 {
        return Ok(Vec::new());
    }
    let rows = conn
        .simple_query(&format!("TIMELINE_HISTORY {timeline}"))
        .await?;
    let content = rows
        .first()
        .and_then(|r| r.get(1).cloned().flatten())
        .unwrap_or_default();
    Ok(parse_history(&history_text(&content)))
}

/// Why a checkpoint written on timeline `was` cannot resume on a server now on `now` with
/// `history`, if it cannot: `delivered` is the last commit delivered, `confirmed` the position
/// the stream starts at (both must lie before the point where `was` ended).
pub fn fork(
    was: u32,
    now: u32,
    history: &[Switch],
    delivered: Option<Lsn>,
    confirmed: Lsn,
) -> Option<String> {
    if was == now {
        return None;
    }
    if was > now {
        return Some(format!(
            "the checkpoint was written on timeline {was}, this server is on timeline {now} (a former primary, or a standby of one, that did not follow the promotion)"
        ));
    }
    let Some(end) = history.iter().find(|s| s.timeline == was) else {
        return Some(format!(
            "the checkpoint was written on timeline {was}, which is not in the history of this server's timeline {now}"
        ));
    };
    let past = delivered.is_some_and(|d| d >= end.switchpoint) || confirmed > end.switchpoint;
    past.then(|| {
        let at = delivered.map_or(confirmed, |d| d.max(confirmed));
        format!(
            "timeline {was} ended at LSN {} on this server, before the checkpoint's LSN {at}: it was promoted before it received everything delivered (set synchronized_standby_slots on the primary to prevent it)",
            end.switchpoint
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000060\tbefore 2\n";

    fn lsn(s: &str) -> Lsn {
        s.parse().unwrap()
    }

    #[test]
    fn a_history_file_is_read_line_by_line_in_either_encoding() {
        let want = vec![
            Switch {
                timeline: 1,
                switchpoint: lsn("0/3000000"),
            },
            Switch {
                timeline: 2,
                switchpoint: lsn("0/5000060"),
            },
        ];
        assert_eq!(parse_history(HISTORY), want);
        let hex = format!("\\x{}", hex::encode(HISTORY));
        assert_eq!(parse_history(&history_text(&hex)), want);
        assert_eq!(parse_history("# comment\n\n"), Vec::new());
    }

    #[test]
    fn a_checkpoint_before_the_switchpoint_resumes_and_one_past_it_is_refused() {
        let h = parse_history(HISTORY);
        assert_eq!(fork(3, 3, &h, Some(lsn("9/0")), lsn("9/0")), None);
        // Delivered up to a commit that starts before timeline 1 ended: on the new timeline too.
        assert_eq!(
            fork(1, 3, &h, Some(lsn("0/2FFFF00")), lsn("0/3000000")),
            None
        );
        assert_eq!(fork(2, 3, &h, None, lsn("0/5000060")), None);
        let why = fork(1, 3, &h, Some(lsn("0/3000000")), lsn("0/2000000")).unwrap();
        assert!(
            why.contains("timeline 1 ended at LSN 0/3000000")
                && why.contains("synchronized_standby_slots"),
            "{why}"
        );
        assert!(fork(2, 3, &h, Some(lsn("0/4000000")), lsn("0/5000061")).is_some());
    }

    #[test]
    fn a_timeline_outside_the_server_s_history_is_refused() {
        let h = parse_history(HISTORY);
        let older = fork(3, 2, &h, None, lsn("0/1")).unwrap();
        assert!(older.contains("did not follow the promotion"), "{older}");
        let foreign = fork(4, 5, &h, None, lsn("0/1")).unwrap();
        assert!(foreign.contains("not in the history"), "{foreign}");
    }
}
