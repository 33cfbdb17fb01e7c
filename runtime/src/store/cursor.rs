//! List cursors: the position of a page's last item in one named list, opaque to clients
//! (URL-safe base64), the same for both stores so a client cannot tell them apart.
//!
//! A cursor says which list it belongs to (the public feed, one owner's notebook, one note's
//! comments) and a position in it: a timestamp in the one text form the stores use and an item
//! id. [`Position::decode`] accepts a cursor only for the list it is sent to and only when its
//! position is one an item of that list can have, so no cursor can move a key range onto a
//! counter, a gate or any other item of another kind.

use base64::Engine as _;
use uuid::Uuid;

use super::StoreError;
use crate::domain::format_time;

/// The list a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List<'a> {
    /// Public notes, newest published first.
    PublicFeed,
    /// One user's notes, newest created first.
    Owner(&'a str),
    /// One note's comments, oldest first (the public and the owner's route list the same).
    Comments(Uuid),
}

impl List<'_> {
    /// The list's name inside its cursors. An owner is named by a hash of the uid: short, and
    /// enough to tell one user's notebook from another's.
    fn tag(&self) -> String {
        match self {
            List::PublicFeed => "feed".to_owned(),
            List::Owner(uid) => format!("owner.{:016x}", fnv1a(uid.as_bytes())),
            List::Comments(note) => format!("comments.{}", note.simple()),
        }
    }

    /// Whether the list runs from the newest item to the oldest.
    pub fn newest_first(&self) -> bool {
        !matches!(self, List::Comments(_))
    }
}

/// FNV-1a, 64 bits: a stable hash with no dependency, for list names only (not security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A position in a list: the sort key (a timestamp) and the id of the item there. Lists run
/// in this order (newest first for notes, oldest first for comments).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The item's sort key: its timestamp in the list's order.
    pub at: String,
    /// The item's id, which orders items with the same timestamp.
    pub id: String,
}

impl Position {
    /// The position of the item `id` at `at`.
    pub fn new(at: impl Into<String>, id: impl ToString) -> Self {
        Self {
            at: at.into(),
            id: id.to_string(),
        }
    }

    /// The cursor clients get for this position of `list`.
    pub fn encode(&self, list: List<'_>) -> String {
        let text = format!("{}|{}|{}", list.tag(), self.at, self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// The position `cursor` names in `list`; [`StoreError::InvalidCursor`] for anything this
    /// API did not give for that list: another list's cursor, a position no item of the list
    /// can have (a time not in the stores' form, an id that is not a UUID), or garbage.
    pub fn decode(cursor: &str, list: List<'_>) -> Result<Self, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let mut parts = text.splitn(3, '|');
        let (Some(tag), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StoreError::InvalidCursor);
        };
        if tag != list.tag() || !is_timestamp(at) {
            return Err(StoreError::InvalidCursor);
        }
        let id = Uuid::parse_str(id).map_err(|_| StoreError::InvalidCursor)?;
        // Only the hyphenated lowercase form the stores write.
        if id.to_string() != text.rsplit('|').next().unwrap_or_default() {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Self::new(at, id))
    }

    /// The id, as a UUID (always one: [`Position::decode`] checks it).
    pub fn uuid(&self) -> Uuid {
        Uuid::parse_str(&self.id).unwrap_or_default()
    }

    /// Whether an item at `self` comes after `cursor` in `list`'s order.
    pub fn follows(&self, cursor: &Position, list: List<'_>) -> bool {
        if list.newest_first() {
            self < cursor
        } else {
            self > cursor
        }
    }
}

/// Whether `at` is a [`Timestamp`](crate::domain::Timestamp) exactly as the stores write one.
fn is_timestamp(at: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.fZ")
        .is_ok_and(|t| format_time(t.and_utc()) == *at)
}

/// The lowest and highest text any [`Timestamp`](crate::domain::Timestamp) sorts between (every one starts with a
/// digit): the bounds of every list's key range, so no key of another kind (they start with
/// `#`) can ever fall inside one.
pub const TIMESTAMP_FLOOR: &str = "0";
/// See [`TIMESTAMP_FLOOR`].
pub const TIMESTAMP_CEILING: &str = "9~";

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-01-01T00:00:00.000000Z";

    fn raw(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn cursors_round_trip_in_their_own_list() {
        let note = Uuid::new_v4();
        let p = Position::new(AT, Uuid::new_v4());
        for list in [List::PublicFeed, List::Owner("alice"), List::Comments(note)] {
            assert_eq!(Position::decode(&p.encode(list), list).unwrap(), p);
        }
    }

    #[test]
    fn a_cursor_of_another_list_is_refused() {
        let p = Position::new(AT, Uuid::new_v4());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let lists = [
            List::PublicFeed,
            List::Owner("alice"),
            List::Owner("bob"),
            List::Comments(a),
            List::Comments(b),
        ];
        for from in lists {
            for to in lists.iter().copied().filter(|to| *to != from) {
                assert!(
                    matches!(
                        Position::decode(&p.encode(from), to),
                        Err(StoreError::InvalidCursor)
                    ),
                    "{from:?} → {to:?}"
                );
            }
        }
    }

    #[test]
    fn positions_no_item_can_have_and_garbage_are_refused() {
        let id = Uuid::new_v4();
        let feed = List::PublicFeed;
        for bad in [
            String::new(),
            "!!".into(),
            raw("feed|t|x"),
            raw(&format!("{AT}|{id}")),
            raw(&format!("feed|#note|{id}")),
            raw(&format!("feed|\u{0}\u{ffff}|{id}")),
            raw(&format!("feed|2026-01-01T00:00:00Z|{id}")),
            raw(&format!("feed|2026-01-01 00:00:00.000000Z|{id}")),
            raw(&format!("feed|2026-13-01T00:00:00.000000Z|{id}")),
            raw(&format!("feed|{AT}x|{id}")),
            raw(&format!("feed|{AT}|{}", id.simple())),
            raw(&format!("feed|{AT}|{}", id.to_string().to_uppercase())),
            raw(&format!("feed|{AT}|{id}|")),
        ] {
            assert!(
                matches!(Position::decode(&bad, feed), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }

    fn in_timestamp_range(at: &str) -> bool {
        (TIMESTAMP_FLOOR..=TIMESTAMP_CEILING).contains(&at)
    }

    #[test]
    fn every_timestamp_lies_inside_the_key_range_bounds() {
        for at in [
            "0000-01-01T00:00:00.000000Z",
            AT,
            "9999-12-31T23:59:59.999999Z",
        ] {
            assert!(is_timestamp(at), "{at}");
            assert!(in_timestamp_range(at), "{at}");
        }
        for other in ["#note", "#count#public#0", "#deleting", "\u{0}", "~"] {
            assert!(!in_timestamp_range(other), "{other}");
        }
    }

    #[test]
    fn order_follows_the_lists_direction() {
        let early = Position::new("2026-01-01T00:00:00.000000Z", Uuid::nil());
        let late = Position::new("2026-01-02T00:00:00.000000Z", Uuid::nil());
        assert!(early.follows(&late, List::PublicFeed));
        assert!(late.follows(&early, List::Comments(Uuid::nil())));
    }
}
