//! Deadlines (`docs/PROTOCOL.md` §9): arming, the due check, `remaining`, and the per-shard index of
//! deadlines that lets the sweep touch only due sessions.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::base::Token;
use crate::session::{Data, Session};

/// The deadline of a session armed at `now_ms` for `duration_secs` (§9.2), saturating; `u64::MAX`
/// (never) when the duration is 0.
pub fn arm(now_ms: u64, duration_secs: u64) -> u64 {
    if duration_secs == 0 {
        return u64::MAX;
    }
    now_ms.saturating_add(duration_secs.saturating_mul(1000))
}

/// Whether `s` is due at `now_ms` (§9.3): it expires and `now ≥ deadline`.
pub fn is_due(s: &Session, now_ms: u64) -> bool {
    s.expiry().duration_secs > 0 && now_ms >= s.deadline_ms
}

/// Whole seconds left (§9.6): `floor((deadline − now) / 1000)`, never negative, at most the
/// duration (the clock may have gone back since arming).
pub fn remaining_secs(s: &Session, now_ms: u64) -> u64 {
    (s.deadline_ms.saturating_sub(now_ms) / 1000).min(s.expiry().duration_secs)
}

/// When `s` next needs the expiry's attention: its own deadline when it expires, or a key's
/// deadline (E9) when that is earlier; `u64::MAX` for never.
#[inline]
pub fn next_due_ms(s: &Session) -> u64 {
    let own = if s.expiry().duration_secs > 0 {
        s.deadline_ms
    } else {
        u64::MAX
    };
    own.min(s.data.next_key_deadline())
}

/// What the due check did to a session.
#[derive(Debug)]
pub enum Checked {
    /// Not due: untouched.
    Live,
    /// Due without `deleteSession`: its keys were taken out (returned, to be dropped after the
    /// lock is released) and it was re-armed to `now + duration`.
    Emptied(Data),
    /// Due with `deleteSession`: the caller must delete it; it is not visible any more.
    Expired,
}

/// Applies a due expiry to `s` in place where it can (§9.3). A session to delete is left for the
/// caller to remove from its table.
pub fn check(s: &mut Session, now_ms: u64) -> Checked {
    if !is_due(s, now_ms) {
        return Checked::Live;
    }
    let expiry = s.expiry();
    if expiry.delete_session {
        return Checked::Expired;
    }
    let data = s.data.take();
    // A wipe is a change of the keys only when there were keys to wipe.
    if !data.is_empty() {
        s.bump_version();
    }
    s.deadline_ms = arm(now_ms, expiry.duration_secs);
    // The index entry (≤ the old deadline) still covers the later deadline: nothing to file.
    Checked::Emptied(data)
}

/// Per-shard min-heap of `(deadline, token)` with lazy deletion.
///
/// Invariant: every session that expires, or holds a key that does, has an entry whose deadline
/// equals its `indexed_ms` and is ≤ its [`next_due_ms`]. Extensions only move a deadline later, so they cost nothing here (the
/// sweep re-files the session when it meets the old entry); ended sessions leave stale entries
/// that the sweep discards. [`DeadlineIndex::needs_compaction`] bounds the stale entries.
#[derive(Debug, Default)]
pub struct DeadlineIndex {
    heap: BinaryHeap<Reverse<(u64, Token)>>,
}

impl DeadlineIndex {
    /// Files `s` after its deadline was set, if the current entry no longer covers it.
    /// `s.indexed_ms` must be `u64::MAX` for a session with no entry.
    pub fn file(&mut self, s: &mut Session) {
        let due = next_due_ms(s);
        if due < s.indexed_ms {
            self.heap.push(Reverse((due, s.tkn)));
            s.indexed_ms = due;
        }
    }

    /// Removes and returns the earliest entry if its deadline is ≤ `now_ms`.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<(u64, Token)> {
        match self.heap.peek() {
            Some(Reverse((d, _))) if *d <= now_ms => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Number of entries, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Whether stale entries outnumber the `sessions` of the shard enough to rebuild.
    pub fn needs_compaction(&self, sessions: usize) -> bool {
        self.heap.len() > 2 * sessions + 1024
    }

    /// Returns memory after a mass expiry emptied most of the heap.
    pub fn shrink_if_sparse(&mut self) {
        if self.heap.capacity() > 4 * self.heap.len() + 1024 {
            self.heap.shrink_to(2 * self.heap.len());
        }
    }

    /// Rebuilds the index from the shard's sessions, dropping every stale entry (O(n)).
    pub fn rebuild<'a>(&mut self, sessions: impl Iterator<Item = &'a mut Session>) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.clear();
        for s in sessions {
            s.indexed_ms = next_due_ms(s);
            if s.indexed_ms != u64::MAX {
                entries.push(Reverse((s.indexed_ms, s.tkn)));
            }
        }
        entries.shrink_to(entries.len() * 2);
        self.heap = BinaryHeap::from(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Expiry;
    use crate::session::Data;
    use crate::value::Value;
    use std::borrow::Cow;

    fn session(tkn: Token, duration_secs: u64, delete_session: bool, now: u64) -> Session {
        let expiry = Expiry {
            duration_secs,
            delete_session,
            ..Expiry::default()
        };
        Session::new(
            tkn,
            false,
            None,
            expiry,
            arm(now, duration_secs),
            Data::default(),
        )
    }

    #[test]
    fn arming_saturates_and_zero_never_expires() {
        assert_eq!(arm(1_000, 2), 3_000);
        assert_eq!(arm(1_000, u64::MAX), u64::MAX);
        assert_eq!(arm(u64::MAX - 5, 1), u64::MAX);
        assert_eq!(arm(5, 0), u64::MAX);
        assert!(!is_due(&session(1, 0, true, 0), u64::MAX));
    }

    #[test]
    fn due_exactly_at_the_deadline() {
        let s = session(1, 2, true, 0);
        assert!(!is_due(&s, 1_999));
        assert!(is_due(&s, 2_000));
    }

    #[test]
    fn remaining_is_floored_and_bounded() {
        let s = session(1, 10, false, 0);
        assert_eq!(remaining_secs(&s, 0), 10);
        assert_eq!(remaining_secs(&s, 1), 9);
        assert_eq!(remaining_secs(&s, 9_999), 0);
        assert_eq!(remaining_secs(&s, 50_000), 0);
        let mut back = session(1, 10, false, 0);
        back.deadline_ms = 100_000; // the clock went back after arming
        assert_eq!(remaining_secs(&back, 0), 10);
    }

    #[test]
    fn check_empties_and_rearms_or_expires() {
        let mut s = session(1, 2, false, 0);
        s.data
            .set(&Cow::Borrowed("a"), &Value::from_json_unchecked("1"));
        assert!(matches!(check(&mut s, 1_999), Checked::Live));
        match check(&mut s, 2_100) {
            Checked::Emptied(d) => assert_eq!(d.len(), 1),
            other => panic!("expected Emptied, got {other:?}"),
        }
        assert!(s.data.is_empty());
        assert_eq!(s.deadline_ms, 4_100);
        let mut d = session(1, 2, true, 0);
        assert!(matches!(check(&mut d, 2_000), Checked::Expired));
    }

    #[test]
    fn index_pops_in_deadline_order_and_refiles_only_earlier_deadlines() {
        let mut idx = DeadlineIndex::default();
        let mut a = session(1, 5, true, 0);
        let mut b = session(2, 2, true, 0);
        idx.file(&mut a);
        idx.file(&mut b);
        // Extension to a later deadline: no new entry.
        b.deadline_ms = 9_000;
        idx.file(&mut b);
        assert_eq!(idx.len(), 2);
        // Clock went back: an earlier deadline gets an entry of its own.
        a.deadline_ms = 1_000;
        idx.file(&mut a);
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.pop_due(999), None);
        assert_eq!(idx.pop_due(10_000), Some((1_000, 1)));
        assert_eq!(idx.pop_due(10_000), Some((2_000, 2)));
        assert_eq!(idx.pop_due(10_000), Some((5_000, 1)));
        assert!(idx.is_empty());
    }
}
