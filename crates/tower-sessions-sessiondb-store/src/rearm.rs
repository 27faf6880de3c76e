//! Keeping the session's deadline on the record's expiry date.
//!
//! sessiondb fixes a session's expiry settings when it is created and has no command to change
//! them; the only way to move a deadline is `SH_SET` on a session created with `extendOnSetAdd`,
//! which re-arms it to now + its duration. tower-sessions, for its part, hands the store a new
//! expiry date at every save: now + a constant for `Expiry::OnInactivity` and
//! `Expiry::OnSessionEnd`, a fixed date for `Expiry::AtDateTime`, and anything after
//! `Session::set_expiry`.
//!
//! So a record's session is created *extending* (each save re-arms it to now + the same
//! duration, which is exactly right for the two common expiries), and every save checks, from the
//! `SH_INFO` sent just before its `SH_SET`, where that `SH_SET` leaves the deadline. When that is
//! more than [`TOLERANCE_SECS`] away from the record's expiry date the session is recreated with
//! settings that will hold it there: *fixed* (not extending) when the date stood still, extending
//! with the new duration when it moved. Each kind of expiry thus settles after at most two saves,
//! and the deadline never strays from the record's date by more than the tolerance.

/// How far (in seconds) the session's deadline may lie from the record's expiry date. Durations
/// are whole seconds and `remaining` is rounded down, so 1 s is the rounding alone; the second
/// allows for the time the requests take.
pub(crate) const TOLERANCE_SECS: u64 = 2;

/// A live session's expiry settings, as `SH_INFO` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Armed {
    /// Seconds from (re)arming to the deadline.
    pub(crate) duration: u64,
    /// Whether `SH_SET` re-arms the deadline (`extendOnSetAdd`).
    pub(crate) extends: bool,
    /// Whole seconds left before the deadline, before the save's `SH_SET`.
    pub(crate) remaining: u64,
}

/// What a save must do after its `SH_SET`, to leave the deadline at the record's expiry date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The deadline is where it should be.
    Keep,
    /// Replace the session by one expiring in the record's time left, re-armed by each save or
    /// not.
    Recreate {
        /// Whether the new session is created with `extendOnSetAdd`.
        extend: bool,
    },
}

/// The plan for a session armed as `armed` (`None`: it never expires) whose record must expire
/// in `target` seconds.
pub(crate) fn plan(armed: Option<Armed>, target: u64) -> Plan {
    let near = |secs: u64| secs.abs_diff(target) <= TOLERANCE_SECS;
    match armed {
        None => Plan::Recreate { extend: true },
        Some(a) if a.extends && near(a.duration) => Plan::Keep,
        // The date did not move with the save: from now on it must stay fixed.
        Some(a) if a.extends => Plan::Recreate {
            extend: !near(a.remaining),
        },
        Some(a) if near(a.remaining) => Plan::Keep,
        Some(_) => Plan::Recreate { extend: true },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extending(duration: u64, remaining: u64) -> Option<Armed> {
        Some(Armed {
            duration,
            extends: true,
            remaining,
        })
    }

    fn fixed(duration: u64, remaining: u64) -> Option<Armed> {
        Some(Armed {
            duration,
            extends: false,
            remaining,
        })
    }

    #[test]
    fn on_inactivity_keeps_the_extending_session() {
        // Created for one hour, saved ten minutes later with a new hour.
        assert_eq!(plan(extending(3600, 3000), 3600), Plan::Keep);
        assert_eq!(plan(extending(3600, 3599), 3599), Plan::Keep);
    }

    #[test]
    fn a_fixed_date_turns_the_session_fixed_once() {
        // AtDateTime: created extending for one hour; ten minutes later 50 minutes are left.
        assert_eq!(
            plan(extending(3600, 2999), 3000),
            Plan::Recreate { extend: false }
        );
        // The recreated session keeps its deadline at every later save.
        assert_eq!(plan(fixed(3000, 1999), 2000), Plan::Keep);
    }

    #[test]
    fn a_new_inactivity_duration_recreates_an_extending_session() {
        assert_eq!(
            plan(extending(3600, 3500), 60),
            Plan::Recreate { extend: true }
        );
        assert_eq!(plan(extending(60, 59), 60), Plan::Keep);
    }

    #[test]
    fn a_moving_date_on_a_fixed_session_makes_it_extend() {
        assert_eq!(
            plan(fixed(3000, 100), 3600),
            Plan::Recreate { extend: true }
        );
    }

    #[test]
    fn a_session_that_never_expires_is_recreated() {
        assert_eq!(plan(None, 60), Plan::Recreate { extend: true });
    }

    #[test]
    fn small_differences_stay_within_the_tolerance() {
        assert_eq!(plan(extending(60, 10), 62), Plan::Keep);
        assert_eq!(plan(extending(60, 10), 63), Plan::Recreate { extend: true });
        assert_eq!(plan(fixed(60, 10), 8), Plan::Keep);
    }
}
