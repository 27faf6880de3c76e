//! Deadlines of single keys of a session (`docs/PROTOCOL.md` E9): `SH_SET` and `SH_ADD` with
//! `ttl`, `SH_KEY_TTL`, `SH_KEY_REMAINING`, and [`Store::expire_keys`], the one place a key's
//! expiry takes effect.
//!
//! A key's deadline is a Unix-ms wall-clock time like a session's (§9.2), so it holds across a
//! restart. A key past its deadline is never visible: every command that looks a session up
//! removes its due keys first, and the sweep removes them from sessions nobody touches. The
//! removal is an ordinary removal of keys through [`Store::edit`], so it is accounted and
//! journaled like `SH_RMV`'s, and it never extends the session.

use std::borrow::Cow;

use crate::base::Token;
use crate::change::Change;
use crate::command::edit::{account_since, Edit};
use crate::command::kv::values;
use crate::command::session::{LiveSession, Versioned};
use crate::command::{KeyTtls, Keys, Outcome, TtlWrite};
use crate::expiry::{self, DeadlineIndex};
use crate::session::Session;
use crate::store::{ShardStats, Store};

impl Store {
    /// Removes the keys of `live` that are past their deadline. Costs one comparison when none
    /// is due (and for a session without key deadlines, a look at its form).
    #[inline]
    pub(crate) fn expire_keys(&self, live: &mut LiveSession<'_>) {
        if live.s.data.next_key_deadline() <= live.now_ms {
            self.remove_due_keys(live);
        }
    }

    #[cold]
    fn remove_due_keys(&self, live: &mut LiveSession<'_>) {
        let now_ms = live.now_ms;
        let due: Keys<'_> = live
            .s
            .data
            .key_deadlines()
            .map(|d| d.due(now_ms).map(|k| Cow::Owned(k.to_owned())).collect())
            .unwrap_or_default();
        self.edit(live, Edit::Remove(&due));
    }

    /// `SH_SET` / `SH_ADD` with `ttl`: the write as without it, then the deadlines, under the
    /// same lock. Keys the write overwrites without a `ttl` lose their deadline (as an `SH_SET`
    /// without `ttl` does); an add gives deadlines only to the keys it added.
    pub(crate) fn sh_write_with_ttl(
        &self,
        write: TtlWrite<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        let TtlWrite {
            tkn,
            keys: entries,
            ttl,
            add,
        } = write;
        // The write counts as one change of the version; its deadlines are part of it.
        self.with_checked(tkn, now_ms, ver, |live| {
            let (ttl, edit) = if add {
                let absent = ttl
                    .into_iter()
                    .filter(|(k, _)| !live.s.data.contains(k))
                    .collect();
                (absent, Edit::Add(&entries))
            } else {
                (ttl, Edit::Set(&entries))
            };
            let outcome = self.edit(live, edit);
            if outcome == Outcome::Done {
                self.set_key_deadlines(live, &ttl);
            }
            outcome
        })
    }

    /// `SH_KEY_TTL`: sets or removes the deadlines of the named keys the session holds; the
    /// count of those keys. Never extends the session. When it finds any, that is a change of
    /// the session's data: its version goes up by one.
    pub(crate) fn sh_key_ttl(
        &self,
        tkn: Option<Token>,
        ttl: KeyTtls<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            let found = self.set_key_deadlines(live, &ttl);
            if found > 0 {
                live.s.bump_version();
                // Replay does not count a deadlines record (a write with `ttl` is counted by
                // its write record), so this change's version is journaled as it is.
                self.record(&Change::Version {
                    tkn: live.tkn,
                    ver: live.s.version(),
                    shown: live.s.version_shown(),
                });
            }
            Outcome::Count(found)
        })
    }

    /// `SH_KEY_REMAINING`: whole seconds left for each named key the session holds (`None`
    /// for no deadline), each key once, in request order.
    pub(crate) fn sh_key_remaining(
        &self,
        tkn: Option<Token>,
        keys: &Keys<'_>,
        now_ms: u64,
        ver: &mut Versioned,
    ) -> Outcome {
        self.with_checked(tkn, now_ms, ver, |live| {
            let data = &live.s.data;
            let mut found = Vec::new();
            let mut note = |i: usize, _: &str| {
                let left = data
                    .key_deadline(&keys[i])
                    .map(|d| d.saturating_sub(now_ms) / 1000);
                found.push((i, left));
            };
            values(keys, |k| data.get(k), &mut note);
            Outcome::Remaining(found)
        })
    }

    /// Arms (`Some(secs)`) or removes (`None`) the deadlines of the keys of `ttl` that `live`
    /// holds, accounts their bytes, files the session for the sweep and journals the deadlines
    /// as absolute times. Returns how many keys it found.
    fn set_key_deadlines(&self, live: &mut LiveSession<'_>, ttl: &KeyTtls<'_>) -> u64 {
        let before = live.s.data.bytes();
        let mut journaled: Vec<(Cow<'_, str>, Option<u64>)> = Vec::new();
        let mut found = 0;
        for (k, secs) in ttl {
            let deadline = secs.map(|s| expiry::arm(live.now_ms, s));
            if live.s.data.set_key_deadline(k, deadline) {
                found += 1;
                if self.journaling() {
                    journaled.push((Cow::Borrowed(&**k), deadline));
                }
            }
        }
        account_since(live, before);
        // A deadline earlier than the session's entry in the index needs an entry of its own.
        live.index.file(live.s);
        if !journaled.is_empty() {
            self.record(&Change::KeyDeadlines {
                tkn: live.tkn,
                deadlines: &journaled,
            });
        }
        found
    }
}

impl Store {
    /// [`Store::expire_keys`] for a live session met outside a command: by the sweep in the
    /// deadline index, or by a save visiting it.
    pub(crate) fn expire_keys_of(
        &self,
        s: &mut Session,
        index: &mut DeadlineIndex,
        stats: &ShardStats,
        now_ms: u64,
    ) {
        // Removed keys are dropped by the removal itself, as `SH_RMV`'s are.
        let mut freed = None;
        let mut live = LiveSession {
            tkn: s.tkn,
            now_ms,
            s,
            index,
            stats,
            freed: &mut freed,
        };
        self.expire_keys(&mut live);
    }
}
