//! Rate limits as pure values: what each kind of write may do per user (or per source address,
//! or per note), the fixed windows they are counted in, and what a refused request is told.
//!
//! A limit is a [`Rate`]: at most `max` actions per fixed window of `window_secs`, windows
//! starting at multiples of the window length since the Unix epoch (so every instance agrees on
//! where a window starts without talking to the others). The counter of a window is shared
//! through the control table ([`crate::store::ControlStore`]); this module only does the
//! arithmetic: which window `now` is in, whether a count is over the limit, whether it is the
//! first refusal of its window (the one that is logged), and how long until the next window
//! (`Retry-After`). A fixed window lets up to twice `max` through across a boundary (the end of
//! one window and the start of the next); that is the price of one counter per window.
//!
//! [`RateLimits`] is every limit of an environment, with the defaults documented in
//! [`RateLimits::DEFAULT`]. It is written as `key=rate` pairs (`comments=20/min,…`, the
//! environment files' `rate_limits:` keys and `noteapp local --rate-limits`), parsed by one
//! function here for the deployer, the deployed functions and `noteapp local` alike.

use std::fmt;

/// At most `max` per fixed window of `window_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Actions allowed per window (at least 1).
    pub max: u32,
    /// The window's length in seconds (at least 1).
    pub window_secs: u32,
}

/// The window units a rate may be written in, longest first.
const UNITS: [(&str, u32); 4] = [("day", 86_400), ("hour", 3_600), ("min", 60), ("s", 1)];

impl Rate {
    /// `max` per `window_secs`.
    pub const fn new(max: u32, window_secs: u32) -> Self {
        Self { max, window_secs }
    }

    /// `N/s`, `N/min`, `N/hour`, `N/day`, or `N/Ks` (`5/10s`, `K` seconds); `N` ≥ 1.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a rate: write N/s, N/min, N/hour, N/day or N/Ks (N at least 1, \
                 e.g. \"20/min\" or \"5/10s\")"
            )
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let max: u32 = count.trim().parse().map_err(|_| bad())?;
        let unit = unit.trim();
        let window_secs = match UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, secs)) => *secs,
            None => unit
                .strip_suffix('s')
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(bad)?,
        };
        if max == 0 || window_secs == 0 || window_secs > 86_400 {
            return Err(bad());
        }
        Ok(Self { max, window_secs })
    }

    /// The window holding `now` (epoch seconds).
    pub fn window(&self, now: i64) -> Window {
        let length = i64::from(self.window_secs.max(1));
        let start = now.div_euclid(length) * length;
        Window {
            start,
            end: start + length,
        }
    }

    /// What a request that made the window's count `count` (itself included) is told.
    pub fn verdict(&self, count: u64, window: Window, now: i64) -> Verdict {
        let max = u64::from(self.max);
        if count <= max {
            return Verdict::Allowed;
        }
        Verdict::Refused {
            retry_after_secs: window.retry_after(now),
            first: count == max + 1,
        }
    }

    /// "20 a minute", for messages people read.
    pub fn describe(&self) -> String {
        let per = match self.window_secs {
            1 => "a second".to_owned(),
            60 => "a minute".to_owned(),
            3_600 => "an hour".to_owned(),
            86_400 => "a day".to_owned(),
            secs => format!("every {secs} seconds"),
        };
        format!("{} {per}", self.max)
    }
}

impl fmt::Display for Rate {
    /// The canonical text [`Rate::parse`] reads back: `20/min`, `5/10s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match UNITS.iter().find(|(_, secs)| *secs == self.window_secs) {
            Some((unit, _)) => write!(f, "{}/{unit}", self.max),
            None => write!(f, "{}/{}s", self.max, self.window_secs),
        }
    }
}

/// One fixed window: `[start, end)` in epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its first second.
    pub start: i64,
    /// The first second of the next window.
    pub end: i64,
}

impl Window {
    /// Whole seconds until the next window, at least 1: the `Retry-After` of a refusal.
    pub fn retry_after(&self, now: i64) -> u32 {
        u32::try_from((self.end - now).max(1)).unwrap_or(u32::MAX)
    }
}

/// Whether a counted action goes ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Allowed,
    /// Over it: nothing is written; retry after the window ends.
    Refused {
        /// Seconds until the next window.
        retry_after_secs: u32,
        /// The first refusal of this window (the only one logged).
        first: bool,
    },
}

/// What is being counted, and against whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A comment, on either route; per user.
    Comment,
    /// A new note; per user.
    NoteCreate,
    /// A note's update, publish, unpublish or delete; per user.
    NoteChange,
    /// A profile update (`PATCH /me`); per user.
    ProfileChange,
    /// A sign-in that refreshes an existing profile (`/auth/*`); per user.
    SignIn,
    /// A profile created (first sign-in, first `GET /me`); per source address.
    NewProfile,
    /// A WebSocket `$connect` with a token; per user.
    WsConnect,
    /// A WebSocket `$connect` without a token; per source address.
    WsConnectAnonymous,
    /// A public comment's live fan-out; per note.
    NoteFanout,
}

impl Action {
    /// The action's part of a window's key (`rl#<this>#<subject>#<window start>`).
    pub fn key(self) -> &'static str {
        match self {
            Action::Comment => "comment",
            Action::NoteCreate => "note-create",
            Action::NoteChange => "note-change",
            Action::ProfileChange => "profile",
            Action::SignIn => "sign-in",
            Action::NewProfile => "new-profile",
            Action::WsConnect => "ws-connect",
            Action::WsConnectAnonymous => "ws-connect-ip",
            Action::NoteFanout => "fanout",
        }
    }

    /// What a refused request is told it did too often (`too many {this}`).
    pub fn noun(self) -> &'static str {
        match self {
            Action::Comment => "comments",
            Action::NoteCreate => "new notes",
            Action::NoteChange => "note changes",
            Action::ProfileChange => "profile changes",
            Action::SignIn => "sign-ins",
            Action::NewProfile => "new accounts from this address",
            Action::WsConnect | Action::WsConnectAnonymous => "connection attempts",
            Action::NoteFanout => "live comments on this note",
        }
    }
}

/// Every limit of an environment. Anonymous accounts cost nothing to make, so their numbers are
/// tighter; how many a source address may make is bounded by `new_profiles_per_ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Comments of a regular user.
    pub comments: Rate,
    /// Comments of an anonymous user.
    pub comments_anonymous: Rate,
    /// New notes of a regular user.
    pub note_creates: Rate,
    /// New notes of an anonymous user.
    pub note_creates_anonymous: Rate,
    /// Updates, publishes, unpublishes and deletes of a regular user's notes.
    pub note_changes: Rate,
    /// The same, for an anonymous user.
    pub note_changes_anonymous: Rate,
    /// Profile updates (regular users only: anonymous ones have no `PATCH /me`).
    pub profile_changes: Rate,
    /// Sign-ins that refresh a regular user's existing profile.
    pub sign_ins: Rate,
    /// The same, for an anonymous user.
    pub sign_ins_anonymous: Rate,
    /// Profiles created per source address (generous: many people can share one).
    pub new_profiles_per_ip: Rate,
    /// WebSocket `$connect` attempts of a signed-in user.
    pub ws_connects: Rate,
    /// WebSocket `$connect` attempts without a token, per source address.
    pub ws_connects_per_ip: Rate,
    /// Open WebSocket connections of one signed-in user.
    pub ws_connections_per_user: u32,
    /// Live fan-outs of one public note's comments.
    pub fanouts_per_note: Rate,
}

/// A key of [`RateLimits`]: its name and how to read and set it.
struct Key {
    name: &'static str,
    get: fn(&RateLimits) -> Setting,
    set: fn(&mut RateLimits, Setting),
}

/// A value of one key: a rate, or a plain count (`ws_connections_per_user`).
#[derive(Clone, Copy)]
enum Setting {
    Rate(Rate),
    Count(u32),
}

macro_rules! keys {
    ($($field:ident: $kind:ident),* $(,)?) => {
        [$(Key {
            name: stringify!($field),
            get: |l| Setting::$kind(l.$field),
            set: |l, v| if let Setting::$kind(v) = v { l.$field = v },
        }),*]
    };
}

const KEYS: [Key; 14] = keys!(
    comments: Rate,
    comments_anonymous: Rate,
    note_creates: Rate,
    note_creates_anonymous: Rate,
    note_changes: Rate,
    note_changes_anonymous: Rate,
    profile_changes: Rate,
    sign_ins: Rate,
    sign_ins_anonymous: Rate,
    new_profiles_per_ip: Rate,
    ws_connects: Rate,
    ws_connects_per_ip: Rate,
    ws_connections_per_user: Count,
    fanouts_per_note: Rate,
);

impl RateLimits {
    /// The defaults, the one owner of each: a person typing never meets them; a script is
    /// stopped after a few seconds' worth.
    pub const DEFAULT: RateLimits = RateLimits {
        comments: Rate::new(20, 60),
        comments_anonymous: Rate::new(10, 60),
        note_creates: Rate::new(20, 60),
        note_creates_anonymous: Rate::new(5, 60),
        note_changes: Rate::new(120, 60),
        note_changes_anonymous: Rate::new(60, 60),
        profile_changes: Rate::new(20, 60),
        sign_ins: Rate::new(30, 60),
        sign_ins_anonymous: Rate::new(30, 60),
        new_profiles_per_ip: Rate::new(100, 3_600),
        ws_connects: Rate::new(30, 60),
        ws_connects_per_ip: Rate::new(120, 60),
        ws_connections_per_user: 10,
        fanouts_per_note: Rate::new(2, 1),
    };

    /// Every key, in the order they are written.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        KEYS.iter().map(|k| k.name)
    }

    /// The rate `action` is held to, for an anonymous user or not.
    pub fn rate(&self, action: Action, anonymous: bool) -> Rate {
        match (action, anonymous) {
            (Action::Comment, false) => self.comments,
            (Action::Comment, true) => self.comments_anonymous,
            (Action::NoteCreate, false) => self.note_creates,
            (Action::NoteCreate, true) => self.note_creates_anonymous,
            (Action::NoteChange, false) => self.note_changes,
            (Action::NoteChange, true) => self.note_changes_anonymous,
            (Action::ProfileChange, _) => self.profile_changes,
            (Action::SignIn, false) => self.sign_ins,
            (Action::SignIn, true) => self.sign_ins_anonymous,
            (Action::NewProfile, _) => self.new_profiles_per_ip,
            (Action::WsConnect, _) => self.ws_connects,
            (Action::WsConnectAnonymous, _) => self.ws_connects_per_ip,
            (Action::NoteFanout, _) => self.fanouts_per_note,
        }
    }

    /// These limits with the `key=value` pairs of `text` (comma-separated) applied: a rate as
    /// [`Rate::parse`] reads it, `ws_connections_per_user` a whole number ≥ 1. Unknown keys and
    /// bad values are errors naming them.
    pub fn with(mut self, text: &str) -> Result<Self, String> {
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            self = self.with_key(name.trim(), value.trim())?;
        }
        Ok(self)
    }

    /// These limits with `name` set to `value` (as written in an environment file).
    pub fn with_key(mut self, name: &str, value: &str) -> Result<Self, String> {
        let key = KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
            let known: Vec<&str> = Self::keys().collect();
            format!(
                "unknown rate limit {name:?}: use one of {}",
                known.join(", ")
            )
        })?;
        let setting = match (key.get)(&self) {
            Setting::Rate(_) => {
                Setting::Rate(Rate::parse(value).map_err(|e| format!("{name}: {e}"))?)
            }
            Setting::Count(_) => match value.parse::<u32>() {
                Ok(n) if n >= 1 => Setting::Count(n),
                _ => {
                    return Err(format!(
                        "{name}: {value:?} is not a whole number of at least 1"
                    ));
                }
            },
        };
        (key.set)(&mut self, setting);
        Ok(self)
    }

    /// Every key with its value, in the order of [`RateLimits::keys`].
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .map(|k| {
                let value = match (k.get)(self) {
                    Setting::Rate(rate) => rate.to_string(),
                    Setting::Count(n) => n.to_string(),
                };
                (k.name, value)
            })
            .collect()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for RateLimits {
    /// Every key, `key=value` comma-separated: what [`RateLimits::with`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self
            .entries()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&pairs.join(","))
    }
}

/// The limits a setting names: `off` turns them off (local development only), anything else
/// is `key=value` pairs over the defaults.
pub fn parse_limits(text: &str) -> Result<Option<RateLimits>, String> {
    match text.trim() {
        "off" => Ok(None),
        text => RateLimits::DEFAULT.with(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_from_every_unit_and_print_back_the_same() {
        for (text, max, secs) in [
            ("20/min", 20, 60),
            ("2/s", 2, 1),
            ("100/hour", 100, 3600),
            ("1000/day", 1000, 86_400),
            ("5/10s", 5, 10),
        ] {
            let rate = Rate::parse(text).unwrap();
            assert_eq!(rate, Rate::new(max, secs), "{text}");
            assert_eq!(rate.to_string(), text);
        }
        assert_eq!(Rate::parse("3/60s").unwrap().to_string(), "3/min");
        for bad in [
            "", "20", "0/min", "20/week", "x/min", "5/0s", "-1/s", "5/99999s",
        ] {
            assert!(Rate::parse(bad).unwrap_err().contains("N/min"), "{bad}");
        }
    }

    #[test]
    fn windows_start_at_multiples_of_their_length_so_every_instance_agrees() {
        let rate = Rate::new(3, 60);
        assert_eq!(
            rate.window(120),
            Window {
                start: 120,
                end: 180
            }
        );
        assert_eq!(
            rate.window(179),
            Window {
                start: 120,
                end: 180
            }
        );
        assert_eq!(rate.window(180).start, 180);
        assert_eq!(Rate::new(1, 1).window(7), Window { start: 7, end: 8 });
    }

    #[test]
    fn the_count_past_max_is_refused_until_the_next_window_and_only_its_first_refusal_is_logged() {
        let rate = Rate::new(3, 60);
        let window = rate.window(130);
        for count in 1..=3 {
            assert_eq!(rate.verdict(count, window, 130), Verdict::Allowed);
        }
        assert_eq!(
            rate.verdict(4, window, 130),
            Verdict::Refused {
                retry_after_secs: 50,
                first: true
            }
        );
        assert_eq!(
            rate.verdict(9, window, 179),
            Verdict::Refused {
                retry_after_secs: 1,
                first: false
            }
        );
        // Never 0: a client told to retry at once would come straight back.
        assert_eq!(window.retry_after(180), 1);
    }

    #[test]
    fn limits_read_their_own_text_back_and_name_unknown_keys_and_bad_values() {
        let defaults = RateLimits::DEFAULT;
        assert_eq!(
            RateLimits::DEFAULT.with(&defaults.to_string()),
            Ok(defaults)
        );
        let changed = defaults
            .with("comments=3/10s, ws_connections_per_user=2")
            .unwrap();
        assert_eq!(changed.comments, Rate::new(3, 10));
        assert_eq!(changed.ws_connections_per_user, 2);
        assert_eq!(changed.comments_anonymous, defaults.comments_anonymous);
        let err = defaults.with("comment=1/s").unwrap_err();
        assert!(err.contains("comments_anonymous"), "{err}");
        assert!(
            defaults
                .with("comments=fast")
                .unwrap_err()
                .starts_with("comments:")
        );
        assert!(defaults.with("ws_connections_per_user=0").is_err());
        assert!(defaults.with("comments").is_err());
        assert_eq!(parse_limits("off"), Ok(None));
        assert_eq!(parse_limits(""), Ok(Some(defaults)));
        assert_eq!(RateLimits::keys().count(), defaults.entries().len());
    }

    #[test]
    fn anonymous_users_are_held_to_tighter_numbers_by_default() {
        let l = RateLimits::DEFAULT;
        for action in [Action::Comment, Action::NoteCreate, Action::NoteChange] {
            assert!(
                l.rate(action, true).max < l.rate(action, false).max,
                "{action:?}"
            );
        }
        assert_eq!(Rate::new(20, 60).describe(), "20 a minute");
        assert_eq!(Rate::new(5, 10).describe(), "5 every 10 seconds");
    }
}
