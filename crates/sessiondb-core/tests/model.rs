//! Property test: random command sequences (few tokens, few keys, shared names, owners, expiry
//! of sessions and of single keys under a fake clock moved by random steps, a few of them back,
//! `ifVer`/`withVer` on commands naming a session) give the same outcomes and versions on `Store`
//! as on a plain BTreeMap model of `docs/PROTOCOL.md` §7–§11, E9, E10 and E11 written here from
//! the text.

use std::borrow::Cow;
use std::collections::BTreeMap;

use proptest::prelude::*;
use sessiondb_core::token::shared_token;
use sessiondb_core::{
    Command, Expiry, Outcome, OwnedNew, SessionInfo, Store, StoreConfig, Token, Value, VersionCheck,
};

const KEYS: [&str; 4] = ["a", "b", "c", "é"];
const NAMES: [&str; 3] = ["s1", "s2", ""];
const OWNERS: [&str; 2] = ["alice", "bob"];

#[derive(Debug, Clone)]
enum Op {
    KvSet(Vec<(u8, u8)>),
    KvAdd(Vec<(u8, u8)>),
    KvGet(Vec<u8>),
    KvRmv(Vec<u8>),
    KvContains(Vec<u8>),
    KvCount,
    KvKeys,
    KvClear,
    KvClearSet(Vec<(u8, u8)>),
    ShNew {
        expiry: Option<(u8, bool, bool, bool)>,
        name: Option<u8>,
        shared: bool,
        owner: Option<u8>,
    },
    ShOwnerList(u8),
    ShOwnerEnd(u8),
    ShOpen(u8),
    ShEnd(u8),
    ShEndAll,
    ShExists(Vec<u8>),
    ShInfo(u8),
    ShInfoAll,
    ShSet(u8, Vec<(u8, u8)>),
    ShAdd(u8, Vec<(u8, u8)>),
    ShGet(u8, Vec<u8>),
    ShRmv(u8, Vec<u8>),
    ShContains(u8, Vec<u8>),
    ShCount(u8),
    ShKeys(u8),
    ShClear(u8),
    ShClearSet(u8, Vec<(u8, u8)>),
    /// `SH_SET`/`SH_ADD` with `ttl`: (index into the entries, seconds − 1) pairs, and `add`.
    ShWriteTtl(u8, Vec<(u8, u8)>, Vec<(u8, u8)>, bool),
    /// Key, and seconds − 1 or `None` to remove.
    ShKeyTtl(u8, Vec<(u8, Option<u8>)>),
    ShKeyRemaining(u8, Vec<u8>),
    Stats,
    Sweep,
}

fn kvs() -> impl Strategy<Value = Vec<(u8, u8)>> {
    prop::collection::vec((0u8..4, 0u8..5), 0..5)
}

fn ks() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..4, 0..5)
}

fn op() -> impl Strategy<Value = Op> {
    let t = any::<u8>;
    prop_oneof![
        1 => kvs().prop_map(Op::KvSet),
        1 => kvs().prop_map(Op::KvAdd),
        1 => ks().prop_map(Op::KvGet),
        1 => prop::collection::vec(0u8..4, 1..4).prop_map(Op::KvRmv),
        1 => ks().prop_map(Op::KvContains),
        1 => Just(Op::KvCount),
        1 => Just(Op::KvKeys),
        1 => Just(Op::KvClear),
        1 => kvs().prop_map(Op::KvClearSet),
        3 => (
            prop::option::of((0u8..4, any::<bool>(), any::<bool>(), any::<bool>())),
            prop::option::of(0u8..3),
            any::<bool>(),
            prop::option::of(0u8..2)
        )
            .prop_map(|(expiry, name, shared, owner)| Op::ShNew {
                expiry,
                name,
                shared,
                owner
            }),
        1 => (0u8..2).prop_map(Op::ShOwnerList),
        1 => (0u8..2).prop_map(Op::ShOwnerEnd),
        1 => (0u8..2).prop_map(Op::ShOpen),
        1 => t().prop_map(Op::ShEnd),
        1 => Just(Op::ShEndAll),
        1 => prop::collection::vec(any::<u8>(), 0..4).prop_map(Op::ShExists),
        2 => t().prop_map(Op::ShInfo),
        1 => Just(Op::ShInfoAll),
        3 => (t(), kvs()).prop_map(|(a, b)| Op::ShSet(a, b)),
        2 => (t(), kvs()).prop_map(|(a, b)| Op::ShAdd(a, b)),
        3 => (t(), ks()).prop_map(|(a, b)| Op::ShGet(a, b)),
        1 => (t(), prop::collection::vec(0u8..4, 1..4)).prop_map(|(a, b)| Op::ShRmv(a, b)),
        1 => (t(), ks()).prop_map(|(a, b)| Op::ShContains(a, b)),
        2 => t().prop_map(Op::ShCount),
        1 => t().prop_map(Op::ShKeys),
        1 => t().prop_map(Op::ShClear),
        1 => (t(), kvs()).prop_map(|(a, b)| Op::ShClearSet(a, b)),
        3 => (t(), kvs(), prop::collection::vec((any::<u8>(), 0u8..3), 0..3), any::<bool>())
            .prop_map(|(a, b, c, d)| Op::ShWriteTtl(a, b, c, d)),
        2 => (t(), prop::collection::vec((0u8..4, prop::option::of(0u8..3)), 0..4))
            .prop_map(|(a, b)| Op::ShKeyTtl(a, b)),
        2 => (t(), ks()).prop_map(|(a, b)| Op::ShKeyRemaining(a, b)),
        1 => Just(Op::Stats),
        1 => Just(Op::Sweep),
    ]
}

#[derive(Debug, Clone)]
struct MSession {
    shared: bool,
    name: Option<String>,
    expiry: Expiry,
    deadline: u64,
    keys: BTreeMap<String, String>,
    /// Deadlines of single keys (E9), only of keys held.
    key_deadlines: BTreeMap<String, u64>,
    owner: Option<String>,
    /// E10: 1 at creation, one more per change of the keys.
    ver: u64,
}

impl MSession {
    /// Stores a key as `SH_SET` does: a value written again has no deadline.
    fn set(&mut self, k: &str, v: &str) {
        self.keys.insert(k.to_owned(), v.to_owned());
        self.key_deadlines.remove(k);
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.key_deadlines.clear();
    }

    /// Keys visible at `now` (E9: a key is gone from its deadline on).
    fn live_keys(&self, now: u64) -> u64 {
        let due = self.key_deadlines.values().filter(|&&d| now >= d).count();
        (self.keys.len() - due) as u64
    }

    /// Sets or removes the deadlines of held keys; the number of `ttl` items naming one.
    fn set_deadlines(&mut self, ttl: &[(String, Option<u64>)], now: u64) -> u64 {
        let mut found = 0;
        for (k, secs) in ttl {
            if !self.keys.contains_key(k) {
                continue;
            }
            found += 1;
            match secs {
                Some(secs) => self.key_deadlines.insert(k.clone(), deadline(now, *secs)),
                None => self.key_deadlines.remove(k),
            };
        }
        found
    }
}

/// The model: plain maps, expiry applied exactly when §9.4 says a command looks at a session.
#[derive(Debug, Default)]
struct Model {
    kv: BTreeMap<String, String>,
    sessions: BTreeMap<Token, MSession>,
}

fn deadline(now: u64, dur: u64) -> u64 {
    if dur == 0 {
        u64::MAX
    } else {
        now.saturating_add(dur.saturating_mul(1000))
    }
}

fn due(s: &MSession, now: u64) -> bool {
    s.expiry.duration_secs > 0 && now >= s.deadline
}

impl Model {
    /// Looks a session up as a command does: a due one is deleted or emptied and re-armed first.
    fn access(&mut self, tkn: Option<Token>, now: u64) -> Option<&mut MSession> {
        let t = tkn?;
        let s = self.sessions.get(&t)?;
        if due(s, now) {
            if s.expiry.delete_session {
                self.sessions.remove(&t);
                return None;
            }
            let s = self.sessions.get_mut(&t)?;
            if !s.keys.is_empty() {
                s.ver += 1;
            }
            s.clear();
            s.deadline = deadline(now, s.expiry.duration_secs);
        }
        let s = self.sessions.get_mut(&t)?;
        let due: Vec<String> = s
            .key_deadlines
            .iter()
            .filter(|(_, &d)| now >= d)
            .map(|(k, _)| k.clone())
            .collect();
        // E10: a key's expiry is a change of the session's data, one for all keys due at once.
        if !due.is_empty() {
            s.ver += 1;
        }
        for k in due {
            s.keys.remove(&k);
            s.key_deadlines.remove(&k);
        }
        Some(s)
    }

    /// Whether `t` names a live session, without changing anything.
    fn live(&self, t: Token, now: u64) -> bool {
        self.sessions
            .get(&t)
            .is_some_and(|s| !(due(s, now) && s.expiry.delete_session))
    }

    fn totals(&self, now: u64) -> (u64, u64) {
        let mut sessions = 0;
        let mut keys = 0;
        for s in self.sessions.values() {
            if !due(s, now) {
                sessions += 1;
                keys += s.live_keys(now);
            } else if !s.expiry.delete_session {
                sessions += 1;
            }
        }
        (sessions, keys)
    }

    fn values(map: &BTreeMap<String, String>, keys: &[String]) -> Outcome {
        let mut out: Vec<(usize, Value)> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                continue;
            }
            if let Some(v) = map.get(k) {
                out.push((i, Value::from_json_unchecked(v)));
            }
        }
        Outcome::Values(out)
    }

    fn contains(map: &BTreeMap<String, String>, keys: &[String]) -> Outcome {
        Outcome::Contains(
            keys.iter()
                .enumerate()
                .filter(|(_, k)| map.contains_key(*k))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn extend(s: &mut MSession, now: u64) {
        s.deadline = deadline(now, s.expiry.duration_secs);
    }

    /// Runs `cmd` under the version members `check` (E10), which only commands naming one
    /// session take; the outcome and the version the reply reports.
    fn run_checked(
        &mut self,
        cmd: &MCmd,
        now: u64,
        new_tkn: Option<Token>,
        check: VersionCheck,
    ) -> (Outcome, Option<u64>) {
        let Some(tkn) = cmd.named_session().filter(|_| check.reports()) else {
            return (self.run(cmd, now, new_tkn), None);
        };
        let Some(s) = self.access(tkn, now) else {
            return (Outcome::NoSession { tkn }, None);
        };
        let before = s.ver;
        if check.mismatches(u32::try_from(before).unwrap_or(0)) {
            return (Outcome::VersionMismatch, Some(before));
        }
        let out = self.run(cmd, now, new_tkn);
        let after = tkn
            .and_then(|t| self.sessions.get(&t))
            .map_or(before, |s| s.ver);
        (out, Some(after))
    }

    /// Runs `cmd`; for a non-shared `SH_NEW`, `new_tkn` is the token the store drew.
    fn run(&mut self, cmd: &MCmd, now: u64, new_tkn: Option<Token>) -> Outcome {
        let no = |tkn: Option<Token>| Outcome::NoSession { tkn };
        match cmd {
            MCmd::KvSet(e) => {
                for (k, v) in e {
                    self.kv.insert(k.clone(), v.clone());
                }
                Outcome::Done
            }
            MCmd::KvAdd(e) => {
                for (k, v) in e {
                    self.kv.entry(k.clone()).or_insert_with(|| v.clone());
                }
                Outcome::Done
            }
            MCmd::KvGet(k) => Self::values(&self.kv, k),
            MCmd::KvRmv(k) => {
                for key in k {
                    self.kv.remove(key);
                }
                Outcome::Done
            }
            MCmd::KvContains(k) => Self::contains(&self.kv, k),
            MCmd::KvCount => Outcome::Count(self.kv.len() as u64),
            MCmd::KvKeys => Outcome::KeyList(self.kv.keys().cloned().collect()),
            MCmd::KvClear => {
                let n = self.kv.len() as u64;
                self.kv.clear();
                Outcome::Count(n)
            }
            MCmd::KvClearSet(e) => {
                let n = self.kv.len() as u64;
                self.kv = e.iter().cloned().collect();
                Outcome::Count(n)
            }
            MCmd::ShNew {
                expiry,
                name,
                shared,
                owner,
            } => {
                let expiry = expiry.filter(|e| e.duration_secs > 0).unwrap_or_default();
                let tkn = if *shared {
                    let t = shared_token(name.as_deref().unwrap_or(""));
                    if self.access(Some(t), now).is_some() {
                        return Outcome::NameTaken;
                    }
                    t
                } else {
                    match new_tkn {
                        Some(t) => t,
                        None => return Outcome::Created { tkn: 0 }, // store failed: mismatch
                    }
                };
                self.sessions.insert(
                    tkn,
                    MSession {
                        shared: *shared,
                        name: name.clone(),
                        expiry,
                        deadline: deadline(now, expiry.duration_secs),
                        keys: BTreeMap::new(),
                        key_deadlines: BTreeMap::new(),
                        owner: owner.clone(),
                        ver: 1,
                    },
                );
                Outcome::Created { tkn }
            }
            MCmd::ShOwnerList(owner) => Outcome::OwnerSessions(
                self.sessions
                    .iter()
                    .filter(|(t, s)| s.owner.as_ref() == Some(owner) && self.live(**t, now))
                    .map(|(t, _)| *t)
                    .collect(),
            ),
            MCmd::ShOwnerEnd(owner) => {
                let owned: Vec<Token> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.owner.as_ref() == Some(owner))
                    .map(|(t, _)| *t)
                    .collect();
                let mut n = 0;
                for t in owned {
                    if self.access(Some(t), now).is_some() {
                        self.sessions.remove(&t);
                        n += 1;
                    }
                }
                Outcome::Count(n)
            }
            MCmd::ShOpen(name) => {
                let t = shared_token(name);
                match self.access(Some(t), now) {
                    Some(s) if s.shared => Outcome::Opened { tkn: t },
                    _ => Outcome::OpenFailed,
                }
            }
            MCmd::ShEnd(tkn) => {
                if self.access(*tkn, now).is_some() {
                    if let Some(t) = tkn {
                        self.sessions.remove(t);
                        return Outcome::Ended { tkn: *t };
                    }
                }
                no(*tkn)
            }
            MCmd::ShEndAll => {
                let (n, _) = self.totals(now);
                self.sessions.clear();
                Outcome::Count(n)
            }
            MCmd::ShExists(tkns) => Outcome::Exist(
                tkns.iter()
                    .copied()
                    .filter(|&t| self.live(t, now))
                    .collect(),
            ),
            MCmd::ShInfo(tkn) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => Outcome::Info(Box::new(SessionInfo {
                    tkn: tkn.unwrap_or(0),
                    shared: s.shared,
                    key_count: s.keys.len() as u64,
                    name: s.name.clone(),
                    expiry: (s.expiry.duration_secs > 0).then(|| {
                        (
                            s.expiry,
                            (s.deadline.saturating_sub(now) / 1000).min(s.expiry.duration_secs),
                        )
                    }),
                    owner: s.owner.clone(),
                })),
            },
            MCmd::ShInfoAll => {
                let (sessions, keys) = self.totals(now);
                Outcome::InfoAll { sessions, keys }
            }
            MCmd::Stats => {
                let (sessions, keys) = self.totals(now);
                Outcome::Stats {
                    sessions,
                    keys: keys + self.kv.len() as u64,
                }
            }
            MCmd::ShSet(tkn, e) | MCmd::ShAdd(tkn, e) => {
                let add = matches!(cmd, MCmd::ShAdd(..));
                let Some(s) = self.access(*tkn, now) else {
                    return no(*tkn);
                };
                if s.expiry.extend_on_set_add {
                    Self::extend(s, now);
                }
                let mut changed = false;
                for (k, v) in e {
                    if add {
                        if !s.keys.contains_key(k) {
                            s.keys.insert(k.clone(), v.clone());
                            changed = true;
                        }
                    } else {
                        s.set(k, v);
                        changed = true;
                    }
                }
                if changed {
                    s.ver += 1;
                }
                Outcome::Done
            }
            MCmd::ShWriteTtl(tkn, e, ttl, add) => {
                let Some(s) = self.access(*tkn, now) else {
                    return no(*tkn);
                };
                if s.expiry.extend_on_set_add {
                    Self::extend(s, now);
                }
                let ttl: Vec<(String, Option<u64>)> = ttl
                    .iter()
                    .filter(|(k, _)| !*add || !s.keys.contains_key(k))
                    .map(|(k, secs)| (k.clone(), Some(*secs)))
                    .collect();
                let mut changed = false;
                for (k, v) in e {
                    if !*add {
                        s.set(k, v);
                        changed = true;
                    } else if !s.keys.contains_key(k) {
                        s.keys.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
                // The write and its deadlines are one change.
                if changed {
                    s.ver += 1;
                }
                s.set_deadlines(&ttl, now);
                Outcome::Done
            }
            MCmd::ShKeyTtl(tkn, ttl) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => {
                    let found = s.set_deadlines(ttl, now);
                    // E10: a deadline set or removed changes the session's data.
                    if found > 0 {
                        s.ver += 1;
                    }
                    Outcome::Count(found)
                }
            },
            MCmd::ShKeyRemaining(tkn, k) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => Outcome::Remaining(
                    k.iter()
                        .enumerate()
                        .filter(|&(i, key)| !k[..i].contains(key) && s.keys.contains_key(key))
                        .map(|(i, key)| {
                            let left = s
                                .key_deadlines
                                .get(key)
                                .map(|d| d.saturating_sub(now) / 1000);
                            (i, left)
                        })
                        .collect(),
                ),
            },
            MCmd::ShGet(tkn, k) => {
                let Some(s) = self.access(*tkn, now) else {
                    return no(*tkn);
                };
                if s.expiry.extend_on_get {
                    Self::extend(s, now);
                }
                Self::values(&s.keys, k)
            }
            MCmd::ShRmv(tkn, k) => {
                let Some(s) = self.access(*tkn, now) else {
                    return no(*tkn);
                };
                let mut changed = false;
                for key in k {
                    changed |= s.keys.remove(key).is_some();
                    s.key_deadlines.remove(key);
                }
                if changed {
                    s.ver += 1;
                }
                Outcome::Done
            }
            MCmd::ShContains(tkn, k) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => Self::contains(&s.keys, k),
            },
            MCmd::ShCount(tkn) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => Outcome::Count(s.keys.len() as u64),
            },
            MCmd::ShKeys(tkn) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => Outcome::KeyList(s.keys.keys().cloned().collect()),
            },
            MCmd::ShClear(tkn) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => {
                    let n = s.keys.len() as u64;
                    s.clear();
                    if n > 0 {
                        s.ver += 1;
                    }
                    Outcome::Count(n)
                }
            },
            MCmd::ShClearSet(tkn, e) => match self.access(*tkn, now) {
                None => no(*tkn),
                Some(s) => {
                    let n = s.keys.len() as u64;
                    s.clear();
                    s.keys = e.iter().cloned().collect();
                    if n > 0 || !e.is_empty() {
                        s.ver += 1;
                    }
                    Outcome::Count(n)
                }
            },
        }
    }

    /// The sweep: every due session expires now.
    fn sweep(&mut self, now: u64) -> usize {
        let due_tkns: Vec<Token> = self
            .sessions
            .iter()
            .filter(|(_, s)| due(s, now))
            .map(|(t, _)| *t)
            .collect();
        for t in &due_tkns {
            self.access(Some(*t), now);
        }
        due_tkns.len()
    }
}

/// A command with owned strings, convertible to the engine's `Command`.
#[derive(Debug, Clone)]
enum MCmd {
    KvSet(Vec<(String, String)>),
    KvAdd(Vec<(String, String)>),
    KvGet(Vec<String>),
    KvRmv(Vec<String>),
    KvContains(Vec<String>),
    KvCount,
    KvKeys,
    KvClear,
    KvClearSet(Vec<(String, String)>),
    ShNew {
        expiry: Option<Expiry>,
        name: Option<String>,
        shared: bool,
        owner: Option<String>,
    },
    ShOwnerList(String),
    ShOwnerEnd(String),
    ShOpen(String),
    ShEnd(Option<Token>),
    ShEndAll,
    ShExists(Vec<Token>),
    ShInfo(Option<Token>),
    ShInfoAll,
    ShSet(Option<Token>, Vec<(String, String)>),
    ShAdd(Option<Token>, Vec<(String, String)>),
    ShGet(Option<Token>, Vec<String>),
    ShRmv(Option<Token>, Vec<String>),
    ShContains(Option<Token>, Vec<String>),
    ShCount(Option<Token>),
    ShKeys(Option<Token>),
    ShClear(Option<Token>),
    ShClearSet(Option<Token>, Vec<(String, String)>),
    ShWriteTtl(
        Option<Token>,
        Vec<(String, String)>,
        Vec<(String, u64)>,
        bool,
    ),
    ShKeyTtl(Option<Token>, Vec<(String, Option<u64>)>),
    ShKeyRemaining(Option<Token>, Vec<String>),
    Stats,
}

impl MCmd {
    /// The `tkn` of a command that names one session (and so takes `ifVer`/`withVer`).
    fn named_session(&self) -> Option<Option<Token>> {
        match self {
            MCmd::ShEnd(t)
            | MCmd::ShInfo(t)
            | MCmd::ShSet(t, _)
            | MCmd::ShAdd(t, _)
            | MCmd::ShGet(t, _)
            | MCmd::ShRmv(t, _)
            | MCmd::ShContains(t, _)
            | MCmd::ShCount(t)
            | MCmd::ShKeys(t)
            | MCmd::ShClear(t)
            | MCmd::ShClearSet(t, _)
            | MCmd::ShWriteTtl(t, ..)
            | MCmd::ShKeyTtl(t, _)
            | MCmd::ShKeyRemaining(t, _) => Some(*t),
            _ => None,
        }
    }
}

fn e(v: &[(String, String)]) -> Vec<(Cow<'_, str>, Value)> {
    v.iter()
        .map(|(k, j)| (Cow::Borrowed(k.as_str()), Value::from_json_unchecked(j)))
        .collect()
}

fn k(v: &[String]) -> Vec<Cow<'_, str>> {
    v.iter().map(|s| Cow::Borrowed(s.as_str())).collect()
}

fn to_command(c: &MCmd) -> Command<'_> {
    match c {
        MCmd::KvSet(v) => Command::KvSet(e(v)),
        MCmd::KvAdd(v) => Command::KvAdd(e(v)),
        MCmd::KvGet(v) => Command::KvGet(k(v)),
        MCmd::KvRmv(v) => Command::KvRmv(k(v)),
        MCmd::KvContains(v) => Command::KvContains(k(v)),
        MCmd::KvCount => Command::KvCount,
        MCmd::KvKeys => Command::KvKeys,
        MCmd::KvClear => Command::KvClear,
        MCmd::KvClearSet(v) => Command::KvClearSet(e(v)),
        MCmd::ShNew {
            expiry,
            name,
            shared,
            owner,
        } => match owner {
            None => Command::ShNew {
                expiry: *expiry,
                name: name.as_deref().map(Cow::Borrowed),
                shared: *shared,
            },
            Some(owner) => Command::ShNewOwned(Box::new(OwnedNew {
                expiry: *expiry,
                name: name.as_deref().map(Cow::Borrowed),
                shared: *shared,
                owner: owner.as_str().into(),
            })),
        },
        MCmd::ShOwnerList(o) => Command::ShOwnerList {
            owner: Cow::Borrowed(o),
        },
        MCmd::ShOwnerEnd(o) => Command::ShOwnerEnd {
            owner: Cow::Borrowed(o),
        },
        MCmd::ShOpen(n) => Command::ShOpen {
            name: Cow::Borrowed(n),
        },
        MCmd::ShEnd(t) => Command::ShEnd { tkn: *t },
        MCmd::ShEndAll => Command::ShEndAll,
        MCmd::ShExists(t) => Command::ShExists { tkns: t.clone() },
        MCmd::ShInfo(t) => Command::ShInfo { tkn: *t },
        MCmd::ShInfoAll => Command::ShInfoAll,
        MCmd::ShSet(t, v) => Command::ShSet {
            tkn: *t,
            keys: e(v),
        },
        MCmd::ShAdd(t, v) => Command::ShAdd {
            tkn: *t,
            keys: e(v),
        },
        MCmd::ShGet(t, v) => Command::ShGet {
            tkn: *t,
            keys: k(v),
        },
        MCmd::ShRmv(t, v) => Command::ShRmv {
            tkn: *t,
            keys: k(v),
        },
        MCmd::ShContains(t, v) => Command::ShContains {
            tkn: *t,
            keys: k(v),
        },
        MCmd::ShCount(t) => Command::ShCount { tkn: *t },
        MCmd::ShKeys(t) => Command::ShKeys { tkn: *t },
        MCmd::ShClear(t) => Command::ShClear { tkn: *t },
        MCmd::ShClearSet(t, v) => Command::ShClearSet {
            tkn: *t,
            keys: e(v),
        },
        MCmd::ShWriteTtl(t, v, ttl, add) => {
            Command::ShWriteWithTtl(Box::new(sessiondb_core::TtlWrite {
                tkn: *t,
                keys: e(v),
                ttl: ttl
                    .iter()
                    .map(|(k, s)| (Cow::Borrowed(k.as_str()), Some(*s)))
                    .collect(),
                add: *add,
            }))
        }
        MCmd::ShKeyTtl(t, ttl) => Command::ShKeyTtl {
            tkn: *t,
            keys: ttl
                .iter()
                .map(|(k, s)| (Cow::Borrowed(k.as_str()), *s))
                .collect(),
        },
        MCmd::ShKeyRemaining(t, v) => Command::ShKeyRemaining {
            tkn: *t,
            keys: k(v),
        },
        MCmd::Stats => Command::Stats,
    }
}

/// Turns a generated op into a concrete command, picking tokens from `pool` (index `len` is "no
/// token").
fn concretize(op: &Op, pool: &[Token]) -> Option<MCmd> {
    let tok = |i: u8| {
        let i = i as usize % (pool.len() + 1);
        pool.get(i).copied()
    };
    let e = |v: &[(u8, u8)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, j)| (KEYS[*k as usize].to_string(), j.to_string()))
            .collect()
    };
    let k = |v: &[u8]| -> Vec<String> { v.iter().map(|i| KEYS[*i as usize].to_string()).collect() };
    Some(match op {
        Op::KvSet(v) => MCmd::KvSet(e(v)),
        Op::KvAdd(v) => MCmd::KvAdd(e(v)),
        Op::KvGet(v) => MCmd::KvGet(k(v)),
        Op::KvRmv(v) => MCmd::KvRmv(k(v)),
        Op::KvContains(v) => MCmd::KvContains(k(v)),
        Op::KvCount => MCmd::KvCount,
        Op::KvKeys => MCmd::KvKeys,
        Op::KvClear => MCmd::KvClear,
        Op::KvClearSet(v) => MCmd::KvClearSet(e(v)),
        Op::ShNew {
            expiry,
            name,
            shared,
            owner,
        } => {
            let name = name.map(|i| NAMES[i as usize].to_string());
            // proto guarantees a non-empty name for shared sessions.
            let shared = *shared && name.as_deref().is_some_and(|n| !n.is_empty());
            MCmd::ShNew {
                expiry: expiry.map(|(d, del, sa, g)| Expiry {
                    duration_secs: u64::from(d),
                    delete_session: del,
                    extend_on_set_add: sa,
                    extend_on_get: g,
                }),
                name,
                shared,
                owner: owner.map(|i| OWNERS[i as usize].to_string()),
            }
        }
        Op::ShOwnerList(i) => MCmd::ShOwnerList(OWNERS[*i as usize].to_string()),
        Op::ShOwnerEnd(i) => MCmd::ShOwnerEnd(OWNERS[*i as usize].to_string()),
        Op::ShOpen(i) => MCmd::ShOpen(NAMES[*i as usize].to_string()),
        Op::ShEnd(t) => MCmd::ShEnd(tok(*t)),
        Op::ShEndAll => MCmd::ShEndAll,
        Op::ShExists(v) => MCmd::ShExists(v.iter().filter_map(|t| tok(*t)).collect()),
        Op::ShInfo(t) => MCmd::ShInfo(tok(*t)),
        Op::ShInfoAll => MCmd::ShInfoAll,
        Op::ShSet(t, v) => MCmd::ShSet(tok(*t), e(v)),
        Op::ShAdd(t, v) => MCmd::ShAdd(tok(*t), e(v)),
        Op::ShGet(t, v) => MCmd::ShGet(tok(*t), k(v)),
        Op::ShRmv(t, v) => MCmd::ShRmv(tok(*t), k(v)),
        Op::ShContains(t, v) => MCmd::ShContains(tok(*t), k(v)),
        Op::ShCount(t) => MCmd::ShCount(tok(*t)),
        Op::ShKeys(t) => MCmd::ShKeys(tok(*t)),
        Op::ShClear(t) => MCmd::ShClear(tok(*t)),
        Op::ShClearSet(t, v) => MCmd::ShClearSet(tok(*t), e(v)),
        Op::ShWriteTtl(t, v, ttl, add) => {
            let entries = e(v);
            // proto guarantees every `ttl` key is one of the entries.
            let ttl = ttl
                .iter()
                .filter_map(|&(i, secs)| {
                    let (k, _) = entries.get(i as usize % entries.len().max(1))?;
                    Some((k.clone(), u64::from(secs) + 1))
                })
                .collect();
            MCmd::ShWriteTtl(tok(*t), entries, ttl, *add)
        }
        Op::ShKeyTtl(t, ttl) => MCmd::ShKeyTtl(
            tok(*t),
            ttl.iter()
                .map(|&(k, secs)| (KEYS[k as usize].to_string(), secs.map(|s| u64::from(s) + 1)))
                .collect(),
        ),
        Op::ShKeyRemaining(t, v) => MCmd::ShKeyRemaining(tok(*t), k(v)),
        Op::Stats => MCmd::Stats,
        Op::Sweep => return None,
    })
}

/// Runs `cmd` on `store` under `check`, with a get's values copied out as [`Store::execute`]
/// returns them; the outcome and the version reported.
fn execute(store: &Store, cmd: &MCmd, now: u64, check: VersionCheck) -> (Outcome, Option<u64>) {
    let mut found: Vec<(usize, Value)> = Vec::new();
    let mut sink = |i: usize, json: &str| found.push((i, Value::from_json_unchecked(json)));
    let (out, ver) = store.execute_checked(to_command(cmd), now, &mut sink, check);
    let out = match out {
        Outcome::ValuesSent(_) => Outcome::Values(found),
        other => other,
    };
    (out, ver.map(u64::from))
}

/// Key lists in any order (§7.2).
fn normalize(o: Outcome) -> Outcome {
    match o {
        Outcome::KeyList(mut l) => {
            l.sort();
            Outcome::KeyList(l)
        }
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        steps in prop::collection::vec(
            (-600i64..2_500, op(), prop::option::of(0u8..6), any::<bool>()),
            1..80,
        )
    ) {
        let store = Store::new(StoreConfig { shards: 4, ..StoreConfig::default() });
        let mut model = Model::default();
        // Tokens to pick from: ones that never name a session, then every token created.
        let mut pool: Vec<Token> = vec![0, 12345, shared_token("s1")];
        let mut now: u64 = 1_700_000_000_000;
        for (step, (advance, op, if_ver, with_ver)) in steps.iter().enumerate() {
            // Mostly forward, sometimes back: deadlines follow the wall clock (§9.2).
            now = now.saturating_add_signed(*advance);
            let Some(cmd) = concretize(op, &pool) else {
                let swept = store.sweep_expired(now);
                prop_assert_eq!(swept, model.sweep(now), "sweep at step {}", step);
                continue;
            };
            let check = VersionCheck::new(if_ver.map(u64::from), *with_ver);
            let check = if cmd.named_session().is_some() { check } else { VersionCheck::NONE };
            let (got, got_ver) = execute(&store, &cmd, now, check);
            let new_tkn = match (&cmd, &got) {
                (MCmd::ShNew { shared: false, .. }, Outcome::Created { tkn }) => {
                    prop_assert!(*tkn != 0 && !model.sessions.contains_key(tkn));
                    Some(*tkn)
                }
                _ => None,
            };
            let (want, want_ver) = model.run_checked(&cmd, now, new_tkn, check);
            if let Outcome::Created { tkn } = want {
                if !pool.contains(&tkn) {
                    pool.push(tkn);
                }
            }
            prop_assert_eq!(normalize(got), normalize(want), "step {}: {:?}", step, cmd);
            prop_assert_eq!(got_ver, want_ver, "version at step {}: {:?}", step, cmd);
        }
        // The owner index holds exactly the owners of sessions held (due ones included).
        let owners: std::collections::BTreeSet<&String> =
            model.sessions.values().filter_map(|s| s.owner.as_ref()).collect();
        prop_assert_eq!(store.owner_count(), owners.len());
        let (sessions, keys) = model.totals(now);
        prop_assert_eq!(store.execute(Command::ShInfoAll, now), Outcome::InfoAll { sessions, keys });
    }
}
