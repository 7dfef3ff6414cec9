//! `slot_name_free` and `publication_name_free`: no replication slot or publication on the
//! server already carries this task's name (`tributary_<task>_<incarnation>_<shard>`) unless it
//! is the task's own resumable state. Another one means another tributary (another data
//! directory or cluster) runs, or ran, a task of the same name: both would write the same
//! topics.

use tokio_postgres::Client;

use super::Item;
use crate::source::postgres::slot::{object_name, sanitise};

/// Which of the task's names are its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Owned {
    /// None: a new task.
    #[default]
    Nothing,
    /// These (the checkpoint's slot and publications, or a first start's planned ones).
    Names(Vec<String>),
    /// Every name of the task (it exists; what it holds is its own).
    All,
}

impl Owned {
    fn owns(&self, name: &str) -> bool {
        match self {
            Owned::Nothing => false,
            Owned::Names(n) => n.iter().any(|x| x == name),
            Owned::All => true,
        }
    }
}

/// Whether `name` is one `object_name(task, ...)` gives for some incarnation and shard:
/// `<hex>`, `<hex>_ins` or `<hex>_reread` between the task's prefix and `_<shard>`, possibly
/// followed by the 8 hex digits of a name that had to be cleaned or cut short. Names cut short
/// before the shard (very long task names) are not recognised.
pub fn named_for_task(name: &str, task: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("tributary_{}_", sanitise(task))) else {
        return false;
    };
    let unhashed = rest.len().checked_sub(9).and_then(|n| rest.get(..n));
    [Some(rest), unhashed]
        .into_iter()
        .flatten()
        .any(|r| matches_middle(r, name, task))
}

/// `r` is `<incarnation>[_ins|_reread]_<shard>` and gives `name` back.
fn matches_middle(r: &str, name: &str, task: &str) -> bool {
    let Some((middle, shard)) = r.rsplit_once('_') else {
        return false;
    };
    let Ok(shard) = shard.parse::<u32>() else {
        return false;
    };
    let incarnation = ["_ins", "_reread"]
        .iter()
        .find_map(|s| middle.strip_suffix(s))
        .unwrap_or(middle);
    !incarnation.is_empty()
        && incarnation.bytes().all(|b| b.is_ascii_hexdigit())
        && object_name(task, middle, shard) == name
}

/// Both items.
pub async fn check(client: &Client, task: &str, owned: &Owned, out: &mut Vec<Item>) {
    let slots = client
        .query(
            "SELECT slot_name::text, coalesce(database::text, ''), active_pid FROM pg_replication_slots ORDER BY 1",
            &[],
        )
        .await;
    out.push(match slots {
        Ok(rows) => slot_item(
            task,
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .filter(|(n, _, _): &(String, String, Option<i32>)| {
                    named_for_task(n, task) && !owned.owns(n)
                })
                .collect(),
        ),
        Err(e) => Item::fail(
            "slot_name_free",
            format!("cannot read pg_replication_slots: {e}"),
            "grant the task's user pg_monitor, or check the server",
        ),
    });
    let pubs = client
        .query("SELECT pubname::text FROM pg_publication ORDER BY 1", &[])
        .await;
    out.push(match pubs {
        Ok(rows) => publication_item(
            task,
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|n| named_for_task(n, task) && !owned.owns(n))
                .collect(),
        ),
        Err(e) => Item::fail(
            "publication_name_free",
            format!("cannot read pg_publication: {e}"),
            "check the server",
        ),
    });
}

fn slot_item(task: &str, taken: Vec<(String, String, Option<i32>)>) -> Item {
    if taken.is_empty() {
        return Item::pass(
            "slot_name_free",
            format!("no replication slot carries task {task}'s name"),
        );
    }
    let list: Vec<String> = taken
        .iter()
        .map(|(n, db, pid)| match pid {
            Some(p) => format!("{n} (database {db}, in use by PID {p})"),
            None => format!("{n} (database {db}, idle)"),
        })
        .collect();
    Item::fail(
        "slot_name_free",
        format!(
            "replication slot(s) {} already carry task {task}'s name: another tributary (another data directory or cluster) runs or ran a task of this name, and both would write the same topics",
            list.join(", ")
        ),
        format!("release or delete that task (`tributary release` with its data directory, or `tributary ctl task delete {task}`), drop a slot nothing uses with SELECT pg_drop_replication_slot('<name>'), or rename this task"),
    )
}

fn publication_item(task: &str, taken: Vec<String>) -> Item {
    if taken.is_empty() {
        return Item::pass(
            "publication_name_free",
            format!("no publication in this database carries task {task}'s name"),
        );
    }
    Item::fail(
        "publication_name_free",
        format!(
            "publication(s) {} already carry task {task}'s name: another tributary runs or ran a task of this name",
            taken.join(", ")
        ),
        "release or delete that task, drop a publication nothing uses with DROP PUBLICATION <name>, or rename this task",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_s_own_naming_is_recognised_and_nothing_else() {
        for inc in ["0a1b2c3d", "0a1b2c3d_ins", "0a1b2c3d_reread"] {
            for shard in [0, 7] {
                let n = object_name("shop", inc, shard);
                assert!(named_for_task(&n, "shop"), "{n}");
                assert!(!named_for_task(&n, "shop2"), "{n}");
            }
        }
        assert!(!named_for_task(
            &object_name("shop_1", "0a1b2c3d", 0),
            "shop"
        ));
        assert!(!named_for_task("tributary_shop_xyz_0", "shop"));
        assert!(!named_for_task("tributary_shop__0", "shop"));
        let cleaned = object_name("Sh-op", "00ff", 2);
        assert!(named_for_task(&cleaned, "Sh-op"), "{cleaned}");
        assert!(!named_for_task(&cleaned, "sh_op"), "{cleaned}");
    }

    #[test]
    fn owned_names_do_not_count_as_taken() {
        let n = object_name("shop", "0a1b2c3d", 0);
        assert!(Owned::Names(vec![n.clone()]).owns(&n));
        assert!(!Owned::Nothing.owns(&n));
        assert!(Owned::All.owns(&n));
    }
}
