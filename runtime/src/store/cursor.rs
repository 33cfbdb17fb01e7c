//! List cursors: the position of a page's last item, opaque to clients (URL-safe base64), the
//! same for both stores so a client cannot tell them apart.

use base64::Engine as _;
use uuid::Uuid;

use super::StoreError;

/// A position in a list: the sort key (a timestamp) and the id of the item there. Lists run
/// in this order (newest first for notes, oldest first for comments).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub at: String,
    pub id: String,
}

impl Position {
    pub fn new(at: impl Into<String>, id: impl ToString) -> Self {
        Self {
            at: at.into(),
            id: id.to_string(),
        }
    }

    /// The cursor clients get.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at, self.id))
    }

    /// The position a cursor names; [`StoreError::InvalidCursor`] for anything this API did
    /// not give.
    pub fn decode(cursor: &str) -> Result<Self, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let (at, id) = text.split_once('|').ok_or(StoreError::InvalidCursor)?;
        let id = Uuid::parse_str(id).map_err(|_| StoreError::InvalidCursor)?;
        if at.is_empty() || at.starts_with('#') {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Self::new(at, id))
    }

    /// The id, as a UUID (always one: [`Position::decode`] checks it).
    pub fn uuid(&self) -> Uuid {
        Uuid::parse_str(&self.id).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let p = Position::new("2026-01-01T00:00:00.000000Z", Uuid::new_v4());
        assert_eq!(Position::decode(&p.encode()).unwrap(), p);
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for bad in [
            String::new(),
            "!!".into(),
            engine.encode("t|x"),
            engine.encode(format!("#note|{}", Uuid::nil())),
        ] {
            assert!(
                matches!(Position::decode(&bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
