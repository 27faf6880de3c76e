//! Read-only views of many sessions for an operator: a page of sessions by name, the upcoming
//! expiries, one session's keys. Nothing here changes a session or records a change: a session
//! that is due is shown as the next command on it would find it (gone, or emptied and re-armed),
//! and the expiry itself is left to that command or the sweep.
//!
//! Each view scans the shards one lock hold at a time and keeps only a bounded number of rows
//! (a page), so its memory stays small and no client waits for more than one shard's scan,
//! however many sessions the store holds.

use std::collections::BinaryHeap;

use super::Store;
use crate::base::Token;
use crate::expiry;
use crate::session::Session;

/// Which sessions a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFilter<'a> {
    /// Sessions whose name starts with this prefix; the empty prefix also lists unnamed ones.
    NamePrefix(&'a str),
}

impl SessionFilter<'_> {
    fn matches(&self, s: &Session) -> bool {
        match self {
            SessionFilter::NamePrefix("") => true,
            SessionFilter::NamePrefix(prefix) => s.name().is_some_and(|n| n.starts_with(prefix)),
        }
    }
}

/// One page of a listing: `limit` sessions in order of (name, token), after a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionQuery<'a> {
    /// Which sessions.
    pub filter: SessionFilter<'a>,
    /// Start after this (name, token): the last row of the previous page. Unnamed sessions sort
    /// as the empty name.
    pub after: Option<(&'a str, Token)>,
    /// Most rows on the page.
    pub limit: usize,
}

/// What the expiry timeline covers: the `next` sessions due soonest, and `buckets` intervals of
/// `bucket_ms` ahead, each counting the sessions due in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineQuery {
    /// Most sessions listed as due soonest.
    pub next: usize,
    /// Width of one interval, in ms (0 counts as 1).
    pub bucket_ms: u64,
    /// Number of intervals.
    pub buckets: usize,
}

/// How much of one session a view copies out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewLimits {
    /// Most keys (the first ones, in the session's order).
    pub max_keys: usize,
    /// Most bytes of each value; longer ones are cut on a character boundary.
    pub max_value_bytes: usize,
}

/// One session as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Its token.
    pub tkn: Token,
    /// Its name, if any.
    pub name: Option<String>,
    /// Whether it is shared.
    pub shared: bool,
    /// How many keys it holds.
    pub keys: usize,
    /// When it is due (Unix ms); `None` when it never expires.
    pub deadline_ms: Option<u64>,
    /// Whether it is deleted (rather than emptied) when it is due.
    pub deletes_on_expiry: bool,
    /// Its owner, if any (E11).
    pub owner: Option<String>,
    /// Its version (E10). Seeing it here does not count as showing it to a client.
    pub version: u32,
}

/// A page of sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPage {
    /// The rows, in order of (name, token).
    pub sessions: Vec<SessionSummary>,
    /// How many live sessions match the filter in all (before and after the page too).
    pub matching: u64,
    /// Whether more rows follow this page.
    pub more: bool,
}

/// The upcoming expiries: the next few, and how many fall into each interval ahead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryTimeline {
    /// The sessions due soonest, earliest first.
    pub next: Vec<SessionSummary>,
    /// `buckets[i]`: sessions due in `[now + i·bucket_ms, now + (i+1)·bucket_ms)`.
    pub buckets: Vec<u64>,
    /// Sessions that expire, but after the last bucket.
    pub later: u64,
    /// Sessions that never expire.
    pub never: u64,
}

/// One session's keys and values, as far as a view shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The session's settings and counts.
    pub summary: SessionSummary,
    /// Its first keys, in the session's order, with their JSON values (cut at the value limit).
    pub entries: Vec<ViewedEntry>,
}

/// A key and its value, possibly cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewedEntry {
    /// The key.
    pub key: String,
    /// The value's JSON text, or its first bytes (on a character boundary).
    pub json: String,
    /// The value's full length in bytes.
    pub json_len: usize,
}

impl ViewedEntry {
    /// Whether [`ViewedEntry::json`] is only the start of the value.
    pub fn is_cut(&self) -> bool {
        self.json.len() < self.json_len
    }
}

/// What a session looks like at `now_ms` to the next command on it: `None` if that command would
/// find it gone, otherwise its (possibly re-armed) deadline and whether its keys are still there.
fn seen_at(s: &Session, now_ms: u64) -> Option<(Option<u64>, bool)> {
    let expiry = s.expiry();
    if expiry.duration_secs == 0 {
        return Some((None, true));
    }
    if !expiry::is_due(s, now_ms) {
        return Some((Some(s.deadline_ms), true));
    }
    if expiry.delete_session {
        return None;
    }
    Some((Some(expiry::arm(now_ms, expiry.duration_secs)), false))
}

/// The summary of `s` as seen at `now_ms`, if it is live.
fn summarize(s: &Session, now_ms: u64) -> Option<SessionSummary> {
    let (deadline_ms, keys_kept) = seen_at(s, now_ms)?;
    Some(SessionSummary {
        tkn: s.tkn,
        name: s.name().map(str::to_owned),
        shared: s.shared,
        keys: if keys_kept {
            s.data.live_len(now_ms)
        } else {
            0
        },
        deadline_ms,
        deletes_on_expiry: s.expiry().delete_session,
        owner: s.owner().map(str::to_owned),
        version: s.version(),
    })
}

/// The start of `text`, at most `max` bytes, cut on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A row ranked by `key` (then token), so a heap keeps the smallest few.
struct Ranked<K> {
    key: K,
    row: SessionSummary,
}

impl<K: Ord> Ranked<K> {
    fn rank(&self) -> (&K, Token) {
        (&self.key, self.row.tkn)
    }
}

impl<K: Ord> PartialEq for Ranked<K> {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}

impl<K: Ord> Eq for Ranked<K> {}

impl<K: Ord> PartialOrd for Ranked<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord> Ord for Ranked<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// Keeps the `limit` smallest rows offered to it; a row it would not keep is never built.
struct Smallest<K> {
    heap: BinaryHeap<Ranked<K>>,
    limit: usize,
}

impl<K: Ord> Smallest<K> {
    fn new(limit: usize) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(limit.saturating_add(1).min(1024)),
            limit,
        }
    }

    /// Whether a row would be kept, given whether it ranks below the largest kept one.
    fn admits(&self, below_largest: impl FnOnce(&K, Token) -> bool) -> bool {
        self.heap.len() < self.limit
            || self
                .heap
                .peek()
                .is_some_and(|top| below_largest(&top.key, top.row.tkn))
    }

    fn keep(&mut self, key: K, row: SessionSummary) {
        self.heap.push(Ranked { key, row });
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    fn into_rows(self) -> Vec<SessionSummary> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.row)
            .collect()
    }
}

impl Store {
    /// A page of the live sessions that match `query`, in order of (name, token).
    pub fn list_sessions(&self, query: &SessionQuery<'_>, now_ms: u64) -> SessionPage {
        // One row more than the page, to tell whether more follow.
        let mut kept: Smallest<Box<str>> = Smallest::new(query.limit.saturating_add(1));
        let mut matching = 0u64;
        for shard in self.shards.iter() {
            let guard = shard.inner.lock();
            for s in guard.table.iter() {
                if !query.filter.matches(s) || seen_at(s, now_ms).is_none() {
                    continue;
                }
                matching += 1;
                let rank = (s.name().unwrap_or(""), s.tkn);
                if query.after.is_some_and(|after| rank <= after) {
                    continue;
                }
                if kept.admits(|name, tkn| rank < (&**name, tkn)) {
                    if let Some(row) = summarize(s, now_ms) {
                        kept.keep(rank.0.into(), row);
                    }
                }
            }
        }
        let mut sessions = kept.into_rows();
        let more = sessions.len() > query.limit;
        sessions.truncate(query.limit);
        SessionPage {
            sessions,
            matching,
            more,
        }
    }

    /// The live sessions due soonest, and how many are due in each interval ahead of `now_ms`,
    /// as `query` asks.
    pub fn expiry_timeline(&self, query: &TimelineQuery, now_ms: u64) -> ExpiryTimeline {
        let mut kept: Smallest<u64> = Smallest::new(query.next);
        let mut timeline = ExpiryTimeline {
            buckets: vec![0; query.buckets],
            ..ExpiryTimeline::default()
        };
        let bucket_ms = query.bucket_ms.max(1);
        for shard in self.shards.iter() {
            let guard = shard.inner.lock();
            for s in guard.table.iter() {
                let Some((deadline, _)) = seen_at(s, now_ms) else {
                    continue;
                };
                let Some(deadline) = deadline else {
                    timeline.never += 1;
                    continue;
                };
                let ahead = deadline.saturating_sub(now_ms) / bucket_ms;
                match usize::try_from(ahead)
                    .ok()
                    .and_then(|i| timeline.buckets.get_mut(i))
                {
                    Some(count) => *count += 1,
                    None => timeline.later += 1,
                }
                if kept.admits(|&d, tkn| (deadline, s.tkn) < (d, tkn)) {
                    if let Some(row) = summarize(s, now_ms) {
                        kept.keep(deadline, row);
                    }
                }
            }
        }
        timeline.next = kept.into_rows();
        timeline
    }

    /// Session `tkn` as seen at `now_ms`, with as much of its keys as `limits` allow; `None` if
    /// it does not exist (or has expired).
    pub fn view_session(
        &self,
        tkn: Token,
        limits: &ViewLimits,
        now_ms: u64,
    ) -> Option<SessionView> {
        let h = self.hash(tkn);
        let guard = self.shard_of(h).inner.lock();
        let s = guard.table.find(h, |e| e.tkn == tkn)?;
        let summary = summarize(s, now_ms)?;
        let entries = if summary.keys == 0 {
            Vec::new()
        } else {
            // A key past its own deadline is not visible, though no access has removed it yet.
            s.data
                .iter()
                .filter(|(key, _)| s.data.key_deadline(key).is_none_or(|d| d > now_ms))
                .take(limits.max_keys)
                .map(|(key, json)| ViewedEntry {
                    key: key.to_owned(),
                    json: cut(json, limits.max_value_bytes).to_owned(),
                    json_len: json.len(),
                })
                .collect()
        };
        Some(SessionView { summary, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Expiry, Outcome, StoreConfig, Value};

    const NOW: u64 = 1_000_000;

    fn new_session(store: &Store, name: Option<&str>, secs: u64, delete: bool) -> Token {
        let expiry = Expiry {
            duration_secs: secs,
            delete_session: delete,
            ..Expiry::default()
        };
        match store.execute(
            Command::ShNew {
                expiry: Some(expiry),
                name: name.map(Into::into),
                shared: false,
            },
            NOW,
        ) {
            Outcome::Created { tkn } => tkn,
            other => panic!("SH_NEW: {other:?}"),
        }
    }

    fn set(store: &Store, tkn: Token, entries: &[(&str, &str)]) {
        let keys = entries
            .iter()
            .map(|(k, v)| ((*k).into(), Value::from_json_unchecked(v)))
            .collect();
        assert_eq!(
            store.execute(
                Command::ShSet {
                    tkn: Some(tkn),
                    keys
                },
                NOW
            ),
            Outcome::Done
        );
    }

    fn limits(max_keys: usize, max_value_bytes: usize) -> ViewLimits {
        ViewLimits {
            max_keys,
            max_value_bytes,
        }
    }

    fn names(page: &SessionPage) -> Vec<Option<&str>> {
        page.sessions.iter().map(|s| s.name.as_deref()).collect()
    }

    fn query<'a>(
        prefix: &'a str,
        after: Option<(&'a str, Token)>,
        limit: usize,
    ) -> SessionQuery<'a> {
        SessionQuery {
            filter: SessionFilter::NamePrefix(prefix),
            after,
            limit,
        }
    }

    #[test]
    fn pages_go_through_the_matching_sessions_in_name_order() {
        let store = Store::new(StoreConfig::default());
        for name in ["user:c", "user:a", "admin", "user:b", "user:d"] {
            new_session(&store, Some(name), 60, true);
        }
        new_session(&store, None, 60, true);
        let first = store.list_sessions(&query("user:", None, 2), NOW);
        assert_eq!(names(&first), [Some("user:a"), Some("user:b")]);
        assert_eq!((first.matching, first.more), (4, true));
        let last = &first.sessions[1];
        let cursor = (last.name.as_deref().unwrap_or(""), last.tkn);
        let second = store.list_sessions(&query("user:", Some(cursor), 2), NOW);
        assert_eq!(names(&second), [Some("user:c"), Some("user:d")]);
        assert!(!second.more);
        let all = store.list_sessions(&query("", None, 10), NOW);
        assert_eq!(all.matching, 6);
        assert_eq!(all.sessions[0].name, None, "unnamed sorts first");
        assert_eq!(
            store
                .list_sessions(&query("nobody", None, 10), NOW)
                .matching,
            0
        );
    }

    #[test]
    fn due_sessions_show_as_the_next_command_would_find_them() {
        let store = Store::new(StoreConfig::default());
        let deleted = new_session(&store, Some("a-deleted"), 1, true);
        let emptied = new_session(&store, Some("b-emptied"), 1, false);
        let forever = new_session(&store, Some("c-forever"), 0, true);
        for tkn in [deleted, emptied, forever] {
            set(&store, tkn, &[("k", "1")]);
        }
        let later = NOW + 1_500;
        let page = store.list_sessions(&query("", None, 10), later);
        assert_eq!(names(&page), [Some("b-emptied"), Some("c-forever")]);
        assert_eq!(page.sessions[0].keys, 0);
        assert_eq!(page.sessions[0].deadline_ms, Some(later + 1_000));
        assert_eq!(
            (page.sessions[1].keys, page.sessions[1].deadline_ms),
            (1, None)
        );
        assert!(store
            .view_session(deleted, &limits(10, 10), later)
            .is_none());
        // Viewing changed nothing: the session is still there for the sweep.
        assert_eq!(store.session_count_estimate(), 3);
    }

    #[test]
    fn the_timeline_keeps_the_soonest_and_counts_the_rest() {
        let store = Store::new(StoreConfig::default());
        for secs in [30, 10, 20, 5, 400] {
            new_session(&store, Some(&format!("s{secs}")), secs, true);
        }
        new_session(&store, Some("forever"), 0, true);
        let t = store.expiry_timeline(
            &TimelineQuery {
                next: 3,
                bucket_ms: 60_000,
                buckets: 5,
            },
            NOW,
        );
        let next: Vec<_> = t.next.iter().map(|s| s.name.as_deref()).collect();
        assert_eq!(next, [Some("s5"), Some("s10"), Some("s20")]);
        assert_eq!(t.buckets, [4, 0, 0, 0, 0]);
        assert_eq!((t.later, t.never), (1, 1));
    }

    #[test]
    fn a_view_shows_the_first_keys_and_cuts_long_values() {
        let store = Store::new(StoreConfig::default());
        let tkn = new_session(&store, Some("v"), 0, true);
        set(
            &store,
            tkn,
            &[("a", "\"héllo wörld\""), ("b", "2"), ("c", "3")],
        );
        let view = store.view_session(tkn, &limits(2, 4), NOW).expect("live");
        assert_eq!(view.summary.keys, 3);
        let shown: Vec<_> = view
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.json.as_str()))
            .collect();
        // "\"hé" is 4 bytes; the cut does not split the é.
        assert_eq!(shown, [("a", "\"hé"), ("b", "2")]);
        assert!(view.entries[0].is_cut() && !view.entries[1].is_cut());
        assert!(store.view_session(tkn + 1, &limits(2, 4), NOW).is_none());
    }

    #[test]
    fn a_key_past_its_own_deadline_is_not_shown() {
        let store = Store::new(StoreConfig::default());
        let tkn = new_session(&store, Some("otp"), 3600, true);
        set(&store, tkn, &[("user", "\"ann\""), ("otp", "123456")]);
        let ttl = Command::ShKeyTtl {
            tkn: Some(tkn),
            keys: vec![("otp".into(), Some(5))],
        };
        assert!(
            matches!(store.execute(ttl, NOW), Outcome::Count(1)),
            "SH_KEY_TTL"
        );
        let keys_at = |now| {
            let view = store
                .view_session(tkn, &limits(10, 100), now)
                .expect("live");
            let keys: Vec<String> = view.entries.iter().map(|e| e.key.clone()).collect();
            (view.summary.keys, keys)
        };
        assert_eq!(keys_at(NOW + 4_999), (2, vec!["user".into(), "otp".into()]));
        // Nothing has touched the session since, so the key is still held, but not visible.
        assert_eq!(keys_at(NOW + 5_000), (1, vec!["user".into()]));
    }
}
