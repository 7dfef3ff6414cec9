//! Transaction visibility: whether a streamed transaction's changes are already in a chunk's
//! rows (DESIGN-NOTES §1.3–§1.4). A chunk's read records its MVCC snapshot
//! (`pg_current_snapshot()`); a streamed transaction is in the chunk exactly when its
//! top-level xid is visible in that snapshot. Commit order in the WAL is not visibility order,
//! so this, not an LSN comparison, is what decides.
//!
//! pgoutput's xids are 32 bits, the snapshot's 64 (`xid8`, never wrapping): a 32-bit xid is
//! widened to the 64-bit xid nearest the snapshot's `xmax` (running xids are always within
//! 2^31 of each other, which PostgreSQL's wraparound protection guarantees).

use std::collections::{HashSet, VecDeque};

/// A `pg_snapshot`: xids below `xmin` are finished, from `xmax` on not yet started, and those
/// in `xip` were running when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XidSnapshot {
    pub xmin: u64,
    pub xmax: u64,
    pub xip: Vec<u64>,
}

impl XidSnapshot {
    /// Parses `pg_snapshot`'s text form, `xmin:xmax:xip1,xip2,...`.
    pub fn parse(text: &str) -> Option<XidSnapshot> {
        let mut parts = text.splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let xip = match parts.next()? {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(|x| x.parse().ok())
                .collect::<Option<Vec<u64>>>()?,
        };
        Some(XidSnapshot { xmin, xmax, xip })
    }

    /// The 64-bit xid of a 32-bit one, the nearest to `xmax`.
    pub fn widen(&self, xid: u32) -> u64 {
        let delta = xid.wrapping_sub(self.xmax as u32) as i32;
        self.xmax.wrapping_add_signed(i64::from(delta))
    }

    /// Whether the transaction `xid` (top-level, 32-bit) had committed when the snapshot was
    /// taken, i.e. whether a read under the snapshot sees its changes.
    pub fn visible(&self, xid: u32) -> bool {
        let x = self.widen(xid);
        x < self.xmin || (x < self.xmax && !self.xip.contains(&x))
    }

    /// The running xids (32-bit, as the stream names them).
    pub fn running(&self) -> impl Iterator<Item = u32> + '_ {
        self.xip.iter().map(|x| *x as u32)
    }
}

/// The top-level xids whose changes the stream has already passed on, most recent
/// `capacity` of them: a chunk whose snapshot still counts one of them as running would put
/// an older row after a newer change (the guard of DESIGN-NOTES §1.4 step 4).
#[derive(Debug)]
pub struct DecodedXids {
    order: VecDeque<u32>,
    set: HashSet<u32>,
    capacity: usize,
    /// Some xid was forgotten to stay within `capacity`.
    pub overflowed: bool,
    /// The newest xid passed on (in xid order, across the 32-bit wrap).
    newest: Option<u32>,
}

/// How many recent xids the stream remembers (1 MiB of xids, about 3 MiB with the set).
pub const DECODED_XIDS: usize = 1 << 18;

impl DecodedXids {
    pub fn new(capacity: usize) -> DecodedXids {
        DecodedXids {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: capacity.max(1),
            overflowed: false,
            newest: None,
        }
    }

    /// Records that the stream passes on changes of `xid` from now.
    pub fn insert(&mut self, xid: u32) {
        if self.newest.is_none_or(|n| (xid.wrapping_sub(n) as i32) > 0) {
            self.newest = Some(xid);
        }
        if !self.set.insert(xid) {
            return;
        }
        self.order.push_back(xid);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
            self.overflowed = true;
        }
    }

    pub fn contains(&self, xid: u32) -> bool {
        self.set.contains(&xid)
    }

    /// A transaction passed on that `snapshot` does not see as committed: one it lists as
    /// running, or one at or past its `xmax`. A snapshot's `xmax` is one past the newest
    /// transaction that has *ended*, so a transaction whose commit is in the WAL but that
    /// has not ended yet (waiting for a synchronous standby) can lie past it without being
    /// listed.
    pub fn unseen_by(&self, snapshot: &XidSnapshot) -> Option<u32> {
        self.newest
            .filter(|n| snapshot.widen(*n) >= snapshot.xmax)
            .or_else(|| snapshot.running().find(|x| self.contains(*x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_judges_visibility() {
        let s = XidSnapshot::parse("100:110:102,105").unwrap();
        assert_eq!(s.xip, vec![102, 105]);
        assert!(s.visible(99), "below xmin");
        assert!(s.visible(101), "finished between xmin and xmax");
        assert!(!s.visible(102), "running");
        assert!(!s.visible(110), "not started");
        assert!(!s.visible(200));
        assert_eq!(XidSnapshot::parse("7:7:").unwrap().xip, Vec::<u64>::new());
        assert!(XidSnapshot::parse("7:x:").is_none());
    }

    #[test]
    fn widens_across_the_32_bit_wrap() {
        // xmax just past an epoch boundary: 32-bit xids just below 2^32 belong to the
        // previous epoch, small ones to this one.
        let epoch = 5u64 << 32;
        let s = XidSnapshot {
            xmin: epoch - 10,
            xmax: epoch + 3,
            xip: vec![epoch - 4],
        };
        assert_eq!(s.widen(u32::MAX - 3), epoch - 4);
        assert_eq!(s.widen(2), epoch + 2);
        assert!(!s.visible(u32::MAX - 3), "running, previous epoch");
        assert!(s.visible(u32::MAX - 2), "finished, previous epoch");
        assert!(s.visible(2));
        assert!(!s.visible(3), "not started");
        assert!(s.visible(u32::MAX - 20), "below xmin");
    }

    #[test]
    fn remembers_the_most_recent_xids() {
        let mut d = DecodedXids::new(2);
        d.insert(1);
        d.insert(2);
        d.insert(2);
        assert!(!d.overflowed);
        d.insert(3);
        assert!(d.overflowed && !d.contains(1) && d.contains(2) && d.contains(3));
    }

    #[test]
    fn a_passed_transaction_the_snapshot_does_not_see_is_found() {
        let mut d = DecodedXids::new(16);
        d.insert(100);
        d.insert(98);
        let snap = |t: &str| XidSnapshot::parse(t).unwrap();
        assert_eq!(d.unseen_by(&snap("99:101:")), None, "both committed");
        assert_eq!(
            d.unseen_by(&snap("98:101:98")),
            Some(98),
            "listed as running"
        );
        assert_eq!(
            d.unseen_by(&snap("100:100:")),
            Some(100),
            "past xmax: committed in the WAL, not ended"
        );
    }
}
