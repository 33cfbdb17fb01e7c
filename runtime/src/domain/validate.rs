//! Request bodies checked against the contract's limits.
//!
//! Each parser takes the already-decoded JSON value and returns either a typed draft or a
//! [`FieldError`] naming the field, so the HTTP layer can answer 422 with `error.field`.

use serde_json::{Map, Value};

/// Longest note title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest note content, in characters (Unicode scalar values). Chosen so that a full list
/// page stays under Lambda's 6 MB response limit whatever users store: 100 notes of 10,000
/// characters at the worst 4 bytes each in the response (a 4-byte UTF-8 character; `"` or `\`
/// escaped twice, in the body and in Lambda's payload) come to about 4.5 MB with their other
/// fields. That is about 1,500 to 2,500 words, a long note.
pub const MAX_CONTENT_CHARS: usize = 10_000;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 60;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_URL_CHARS: usize = 2048;

/// A request field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field at fault, as the request names it (`displayName`), or `body` for the whole body.
    pub field: &'static str,
    /// What is wrong with it, for people.
    pub message: String,
}

impl FieldError {
    /// The error `message` about `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A new note: `POST /me/notes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteDraft {
    /// The title; `None` when the body gives none (absent or `null`).
    pub title: Option<String>,
    /// The text of the note.
    pub content: String,
}

/// A partial update: `PATCH /me/notes/{id}`. `title: Some(None)` clears the title.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoteEdit {
    /// The new title: `None` leaves it, `Some(None)` clears it.
    pub title: Option<Option<String>>,
    /// The new text, if it changes.
    pub content: Option<String>,
}

/// A partial profile update: `PATCH /me`. `Some(None)` clears an optional field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileEdit {
    /// The new display name, if it changes (it cannot be cleared).
    pub display_name: Option<String>,
    /// The new email address: `None` leaves it, `Some(None)` clears it.
    pub email: Option<Option<String>>,
    /// The new avatar URL: `None` leaves it, `Some(None)` clears it.
    pub avatar_url: Option<Option<String>>,
}

fn object(body: &Value) -> Result<&Map<String, Value>, FieldError> {
    body.as_object()
        .ok_or_else(|| FieldError::new("body", "the request body must be a JSON object"))
}

/// `Ok(None)` when absent, `Ok(Some(None))` when null, else the string.
fn optional_string(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Option<String>>, FieldError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(FieldError::new(field, format!("{field} must be a string"))),
    }
}

/// Refuses control characters other than `\n`, `\r` and `\t` in `field`: they show as nothing
/// (or break layouts) and each costs six bytes as a JSON escape.
pub fn check_text(field: &'static str, text: &str) -> Result<(), FieldError> {
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(FieldError::new(
            field,
            format!(
                "{field} must not contain control characters (found U+{:04X})",
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

fn check_title(title: &str) -> Result<(), FieldError> {
    check_text("title", title)?;
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(FieldError::new(
            "title",
            format!("title must be at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(())
}

fn required_content(value: Option<Option<String>>) -> Result<String, FieldError> {
    match value {
        Some(Some(content)) if !content.trim().is_empty() => {
            check_text("content", &content)?;
            if content.chars().count() > MAX_CONTENT_CHARS {
                return Err(FieldError::new(
                    "content",
                    format!("content must be at most {MAX_CONTENT_CHARS} characters"),
                ));
            }
            Ok(content)
        }
        _ => Err(FieldError::new("content", "content is required")),
    }
}

/// Validates the body of `POST /me/notes`.
pub fn parse_note_draft(body: &Value) -> Result<NoteDraft, FieldError> {
    let map = object(body)?;
    let title = optional_string(map, "title")?.flatten();
    if let Some(title) = &title {
        check_title(title)?;
    }
    let content = required_content(optional_string(map, "content")?)?;
    Ok(NoteDraft { title, content })
}

/// Validates the body of `PATCH /me/notes/{id}`; omitted fields are kept.
pub fn parse_note_edit(body: &Value) -> Result<NoteEdit, FieldError> {
    let map = object(body)?;
    let title = optional_string(map, "title")?;
    if let Some(Some(title)) = &title {
        check_title(title)?;
    }
    let content = match optional_string(map, "content")? {
        None => None,
        present => Some(required_content(present)?),
    };
    Ok(NoteEdit { title, content })
}

/// Validates a comment body (`{content}`, 1..=1000 characters, not blank).
pub fn parse_comment_content(body: &Value) -> Result<String, FieldError> {
    let map = object(body)?;
    let content = match map.get("content") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return Err(FieldError::new("content", "content is required")),
        Some(_) => return Err(FieldError::new("content", "content must be a string")),
    };
    if content.trim().is_empty() {
        return Err(FieldError::new("content", "content must not be blank"));
    }
    check_text("content", content)?;
    if content.chars().count() > MAX_COMMENT_CHARS {
        return Err(FieldError::new(
            "content",
            format!("content must be at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(content.clone())
}

/// Validates the body of `PATCH /me`.
pub fn parse_profile_edit(body: &Value) -> Result<ProfileEdit, FieldError> {
    let map = object(body)?;
    let display_name = match optional_string(map, "displayName")? {
        None => None,
        Some(Some(name)) if !name.trim().is_empty() => {
            check_text("displayName", &name)?;
            if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
                return Err(FieldError::new(
                    "displayName",
                    format!("displayName must be at most {MAX_DISPLAY_NAME_CHARS} characters"),
                ));
            }
            Some(name)
        }
        Some(_) => {
            return Err(FieldError::new(
                "displayName",
                "displayName must not be blank",
            ));
        }
    };
    let email = optional_string(map, "email")?;
    if let Some(Some(email)) = &email {
        let (local, domain) = email.split_once('@').unwrap_or(("", ""));
        if local.is_empty()
            || domain.is_empty()
            || email.chars().count() > MAX_EMAIL_CHARS
            || email.chars().any(char::is_whitespace)
        {
            return Err(FieldError::new("email", "email must be an email address"));
        }
    }
    let avatar_url = optional_string(map, "avatarUrl")?;
    if let Some(Some(url)) = &avatar_url {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.chars().count() > MAX_URL_CHARS || url.chars().any(char::is_whitespace)
        {
            return Err(FieldError::new(
                "avatarUrl",
                "avatarUrl must be an http(s) URL",
            ));
        }
    }
    Ok(ProfileEdit {
        display_name,
        email,
        avatar_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draft_requires_content_and_bounds_title() {
        assert_eq!(
            parse_note_draft(&json!({"title": "t"}))
                .unwrap_err()
                .message,
            "content is required"
        );
        assert_eq!(
            parse_note_draft(&json!({"content": "   "}))
                .unwrap_err()
                .field,
            "content"
        );
        let long = "é".repeat(121);
        assert_eq!(
            parse_note_draft(&json!({"title": long, "content": "c"}))
                .unwrap_err()
                .field,
            "title"
        );
        let ok = "é".repeat(120);
        assert!(parse_note_draft(&json!({"title": ok, "content": "c"})).is_ok());
        assert_eq!(
            parse_note_draft(&json!({"content": 5}))
                .unwrap_err()
                .message,
            "content must be a string"
        );
        assert_eq!(parse_note_draft(&json!([1])).unwrap_err().field, "body");
    }

    #[test]
    fn edit_keeps_omitted_fields_and_can_clear_the_title() {
        assert_eq!(parse_note_edit(&json!({})).unwrap(), NoteEdit::default());
        assert_eq!(
            parse_note_edit(&json!({"title": null})).unwrap().title,
            Some(None)
        );
        assert!(parse_note_edit(&json!({"content": null})).is_err());
    }

    #[test]
    fn comments_are_one_to_a_thousand_characters() {
        assert!(parse_comment_content(&json!({"content": ""})).is_err());
        assert!(parse_comment_content(&json!({"content": "x".repeat(1001)})).is_err());
        assert!(parse_comment_content(&json!({"content": "x".repeat(1000)})).is_ok());
        assert!(parse_comment_content(&json!({"content": ["x"]})).is_err());
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field_but_newlines_and_tabs_are_not() {
        let bad = "a\u{1}b";
        assert_eq!(
            parse_note_draft(&json!({"content": bad}))
                .unwrap_err()
                .field,
            "content"
        );
        assert_eq!(
            parse_note_draft(&json!({"title": bad, "content": "c"}))
                .unwrap_err()
                .field,
            "title"
        );
        assert_eq!(
            parse_note_edit(&json!({"content": bad})).unwrap_err().field,
            "content"
        );
        assert_eq!(
            parse_comment_content(&json!({"content": bad}))
                .unwrap_err()
                .field,
            "content"
        );
        assert_eq!(
            parse_profile_edit(&json!({"displayName": bad}))
                .unwrap_err()
                .field,
            "displayName"
        );
        for c in ['\u{0}', '\u{7f}', '\u{85}', '\u{1b}'] {
            assert!(check_text("content", &format!("x{c}")).is_err(), "{c:?}");
        }
        assert!(parse_note_draft(&json!({"content": "line\r\nnext\tcol"})).is_ok());
        let message = parse_comment_content(&json!({"content": bad}))
            .unwrap_err()
            .message;
        assert!(message.contains("U+0001"), "{message}");
    }

    #[test]
    fn note_content_has_a_maximum() {
        let max = "é".repeat(MAX_CONTENT_CHARS);
        assert!(parse_note_draft(&json!({"content": max})).is_ok());
        let over = "é".repeat(MAX_CONTENT_CHARS + 1);
        assert_eq!(
            parse_note_draft(&json!({"content": over}))
                .unwrap_err()
                .field,
            "content"
        );
        assert_eq!(
            parse_note_edit(&json!({"content": "x".repeat(MAX_CONTENT_CHARS + 1)}))
                .unwrap_err()
                .field,
            "content"
        );
    }

    #[test]
    fn profile_edit_checks_each_field() {
        assert_eq!(
            parse_profile_edit(&json!({"displayName": "x".repeat(61)}))
                .unwrap_err()
                .field,
            "displayName"
        );
        assert_eq!(
            parse_profile_edit(&json!({"email": "nope"}))
                .unwrap_err()
                .field,
            "email"
        );
        assert_eq!(
            parse_profile_edit(&json!({"avatarUrl": "javascript:alert(1)"}))
                .unwrap_err()
                .field,
            "avatarUrl"
        );
        let edit = parse_profile_edit(&json!({"email": null, "displayName": "Ann"})).unwrap();
        assert_eq!(edit.email, Some(None));
        assert_eq!(edit.display_name.as_deref(), Some("Ann"));
    }
}
