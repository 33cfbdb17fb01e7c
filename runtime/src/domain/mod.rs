//! The notes domain: pure types and rules, with no SDK and no I/O.
//!
//! Everything the API decides about notes, comments and profiles that does not need storage lives
//! here: the records as stored, the JSON models the front end reads, validation limits, timestamps
//! and offset pagination. The storage layer (`crate::store`) and the HTTP layer (`crate::api`)
//! both build on these types.

pub mod limits;
mod models;
mod validate;

pub use models::{
    AuthorView, Comment, CommentView, Note, PrivateNoteView, PublicNoteView, UserProfile,
    UserProfileView,
};
pub use validate::{
    FieldError, MAX_COMMENT_CHARS, MAX_CONTENT_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_TITLE_CHARS,
    NoteDraft, NoteEdit, ProfileEdit, check_text, parse_comment_content, parse_note_draft,
    parse_note_edit, parse_profile_edit,
};

use serde::Serialize;

/// A UTC timestamp in the one text form the API and the stores use:
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width, so text order is time order.
pub type Timestamp = String;

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    format_time(chrono::Utc::now())
}

/// Formats a UTC time as a [`Timestamp`].
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The display name given to a user who has none: stable per user, never empty.
pub fn default_display_name(uid: &str, anonymous: bool) -> String {
    let short: String = uid.chars().take(8).collect();
    if anonymous {
        format!("Guest {short}")
    } else {
        format!("User {short}")
    }
}

/// Default and maximum page sizes for every list route.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest `limit` a list accepts.
pub const MAX_LIMIT: u32 = 100;

/// A validated request for one page of a list: `page` ≥ 1, `limit` in 1..=100, and optionally
/// a `cursor`. With `cursor` present the answer carries `nextCursor`, the opaque position after
/// its last item: `cursor=` (empty) starts at the top, `cursor=<nextCursor>` reads the page after
/// that one at the same cost however deep it is (`page` then only numbers the answer). Without
/// it, pages are plain offsets, exactly as before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The page number, from 1.
    pub page: u32,
    /// Items per page, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// The position to read after (`Some("")`: the top of the list); `None` reads by offset.
    pub cursor: Option<String>,
}

/// The longest cursor a list accepts (they are a few dozen characters).
const MAX_CURSOR_CHARS: usize = 512;

impl PageRequest {
    /// Page `page` of `limit` items, without a cursor.
    pub fn at(page: u32, limit: u32) -> Self {
        Self {
            page,
            limit,
            cursor: None,
        }
    }

    /// The position this page starts after: a non-empty cursor.
    pub fn after(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|c| !c.is_empty())
    }

    /// Items to skip before this page starts (without a cursor).
    pub fn offset(&self) -> usize {
        (self.page as usize - 1) * self.limit as usize
    }

    /// Items up to the end of this page: what an offset read must reach.
    pub fn end(&self) -> usize {
        self.page as usize * self.limit as usize
    }

    /// Validates raw `page` and `limit` query values (absent means the default).
    pub fn parse(page: Option<&str>, limit: Option<&str>) -> Result<Self, FieldError> {
        Self::parse_with_cursor(page, limit, None)
    }

    /// As [`PageRequest::parse`], with a `cursor` query value.
    pub fn parse_with_cursor(
        page: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, FieldError> {
        let page = match page {
            None => 1,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(FieldError::new("page", "page must be an integer ≥ 1")),
            },
        };
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(FieldError::new(
                        "limit",
                        "limit must be an integer from 1 to 100",
                    ));
                }
            },
        };
        // Keep offsets far from overflow on any platform.
        if page > MAX_PAGE {
            return Err(FieldError::new("page", "page must be at most 1000000"));
        }
        let cursor = match cursor {
            None => None,
            Some(raw) if raw.len() <= MAX_CURSOR_CHARS => Some(raw.to_owned()),
            Some(_) => return Err(FieldError::new("cursor", "cursor is not one this API gave")),
        };
        Ok(Self {
            page,
            limit,
            cursor,
        })
    }
}

/// The deepest page number a list accepts. Page N reads at most N × limit keys (and nothing
/// past the list's end, whose length the counters know); a cursor reads any depth at the cost
/// of one page.
pub const MAX_PAGE: u32 = 1_000_000;

/// One page of a list together with the total number of items in the whole list, and the
/// cursor of the page after it (when there is one).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The page's items, in the list's order.
    pub items: Vec<T>,
    /// How many items the whole list holds.
    pub total: u64,
    /// The position after the last item, when a page follows it.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` out of `total`, with no cursor.
    pub fn new(items: Vec<T>, total: u64) -> Self {
        Self {
            items,
            total,
            next_cursor: None,
        }
    }
}

/// The `pagination` object of list responses.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// The page number the request asked for.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
    /// How many items the whole list holds.
    pub total: u64,
    /// Whether a page follows this one.
    pub has_next: bool,
    /// Whether a page comes before this one.
    pub has_prev: bool,
    /// Reads the next page at constant cost (`?cursor=`); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Pagination {
    /// The pagination object for `request` over a list of `total` items.
    pub fn new(request: &PageRequest, total: u64) -> Self {
        let end = u64::from(request.page) * u64::from(request.limit);
        Self {
            page: request.page,
            limit: request.limit,
            total,
            has_next: end < total,
            has_prev: request.page > 1 || request.after().is_some(),
            next_cursor: None,
        }
    }

    /// The pagination object for `page`, read for `request`.
    pub fn of<T>(request: &PageRequest, page: &Page<T>) -> Self {
        let mut pagination = Self::new(request, page.total);
        if request.cursor.is_some() {
            pagination.has_next = page.next_cursor.is_some();
            pagination.next_cursor = page.next_cursor.clone();
        }
        pagination
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_utc_with_z() {
        let t = now();
        assert_eq!(t.len(), 27, "{t}");
        assert!(t.ends_with('Z'));
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok());
    }

    #[test]
    fn page_request_applies_defaults_and_limits() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest::at(1, 20)
        );
        assert_eq!(
            PageRequest::parse(Some("0"), None).unwrap_err().field,
            "page"
        );
        assert_eq!(
            PageRequest::parse(None, Some("101")).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            PageRequest::parse(None, Some("0")).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            PageRequest::parse(Some("x"), None).unwrap_err().field,
            "page"
        );
        assert_eq!(
            PageRequest::parse(Some("3"), Some("100")).unwrap().offset(),
            200
        );
    }

    #[test]
    fn pagination_flags_follow_the_total() {
        let p = Pagination::new(&PageRequest::at(1, 20), 20);
        assert!(!p.has_next && !p.has_prev);
        let p = Pagination::new(&PageRequest::at(2, 20), 41);
        assert!(p.has_next && p.has_prev);
    }

    #[test]
    fn default_names_are_stable_and_short() {
        assert_eq!(default_display_name("abcdefghijk", false), "User abcdefgh");
        assert_eq!(default_display_name("ab", true), "Guest ab");
    }
}
