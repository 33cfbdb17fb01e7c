//! `/notes` (public notes, anyone) and `/me/notes` (the caller's own notes).

use http::{Response, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{ApiError, Ctx, NotesPage, note_id, success};
use crate::auth::Identity;
use crate::domain::limits::Action;
use crate::domain::{Note, Pagination, now, parse_note_draft, parse_note_edit};
use crate::store::NoteChange;

type Answer = Result<Response<String>, ApiError>;

/// `GET /notes?page=&limit=&sort=latest`.
pub(super) async fn list_public(ctx: &Ctx<'_>) -> Answer {
    if let Some(sort) = ctx.query.get("sort")
        && sort != "latest"
    {
        return Err(crate::domain::FieldError::new("sort", "sort must be \"latest\"").into());
    }
    let request = ctx.page()?;
    let page = ctx.app.store.list_public_notes(&request).await?;
    let pagination = Pagination::of(&request, &page);
    let notes: Vec<_> = page
        .items
        .into_iter()
        .filter_map(Note::into_public_view)
        .collect();
    success(StatusCode::OK, NotesPage { notes, pagination })
}

/// `GET /notes/{id}`: a public note, else 404.
pub(super) async fn get_public(ctx: &Ctx<'_>, id: Uuid) -> Answer {
    let note = ctx.app.store.get_note(id).await?;
    match note.as_ref().and_then(Note::public_view) {
        Some(view) => success(StatusCode::OK, view),
        None => Err(ApiError::not_found()),
    }
}

/// `GET /me/notes`.
pub(super) async fn list_mine(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.identity().await?;
    let request = ctx.page()?;
    let page = ctx.app.store.list_owner_notes(&me.uid, &request).await?;
    let notes: Vec<_> = page.items.iter().map(Note::private_view).collect();
    let pagination = Pagination::of(&request, &page);
    success(StatusCode::OK, NotesPage { notes, pagination })
}

/// The author fields a note carries: the profile's, else the token's.
pub(super) async fn author_of(
    ctx: &Ctx<'_>,
    me: &Identity,
) -> Result<(String, Option<String>), ApiError> {
    Ok(match ctx.app.store.get_user(&me.uid).await? {
        Some(profile) => (profile.display_name, profile.avatar_url),
        None => (me.display_name(), me.picture.clone()),
    })
}

/// `POST /me/notes`: new notes are private.
pub(super) async fn create(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.identity().await?;
    let draft = parse_note_draft(&ctx.json(false)?)?;
    ctx.limit(Action::NoteCreate, &me).await?;
    let (author_name, author_avatar_url) = author_of(ctx, &me).await?;
    let at = now();
    let note = Note {
        id: Uuid::new_v4(),
        owner_uid: me.uid,
        title: draft.title,
        content: draft.content,
        author_name,
        author_avatar_url,
        created_at: at.clone(),
        updated_at: at,
        published_at: None,
    };
    ctx.app.store.create_note(&note).await?;
    success(StatusCode::CREATED, note.private_view())
}

/// The caller's note `raw_id`, or 404 (for a missing note and for someone else's alike).
pub(super) async fn owned_note(
    ctx: &Ctx<'_>,
    me: &Identity,
    raw_id: &str,
) -> Result<Note, ApiError> {
    let id = note_id(raw_id)?;
    match ctx.app.store.get_note(id).await? {
        Some(note) if note.owner_uid == me.uid => Ok(note),
        _ => Err(ApiError::not_found()),
    }
}

/// `GET /me/notes/{id}`.
pub(super) async fn get_mine(ctx: &Ctx<'_>, raw_id: &str) -> Answer {
    let me = ctx.identity().await?;
    let note = owned_note(ctx, &me, raw_id).await?;
    success(StatusCode::OK, note.private_view())
}

/// `PATCH /me/notes/{id}`: omitted fields are kept.
pub(super) async fn update(ctx: &Ctx<'_>, raw_id: &str) -> Answer {
    let me = ctx.identity().await?;
    let id = note_id(raw_id)?;
    let edit = parse_note_edit(&ctx.json(false)?)?;
    ctx.limit(Action::NoteChange, &me).await?;
    let note = ctx
        .app
        .store
        .update_note(id, &me.uid, &NoteChange::Edit(edit), &now())
        .await?;
    success(StatusCode::OK, note.private_view())
}

/// `DELETE /me/notes/{id}`.
pub(super) async fn delete(ctx: &Ctx<'_>, raw_id: &str) -> Answer {
    let me = ctx.identity().await?;
    let id = note_id(raw_id)?;
    ctx.limit(Action::NoteChange, &me).await?;
    ctx.app.store.delete_note(id, &me.uid).await?;
    if let Some(events) = &ctx.app.events {
        events.note_deleted(id).await;
    }
    success(StatusCode::OK, json!({"id": id}))
}

/// `POST /me/notes/{id}/publish` and `/unpublish`.
pub(super) async fn publish(ctx: &Ctx<'_>, raw_id: &str, public: bool) -> Answer {
    let me = ctx.identity().await?;
    let id = note_id(raw_id)?;
    let change = if public {
        NoteChange::Publish
    } else {
        NoteChange::Unpublish
    };
    ctx.limit(Action::NoteChange, &me).await?;
    let note = ctx
        .app
        .store
        .update_note(id, &me.uid, &change, &now())
        .await?;
    success(StatusCode::OK, note.private_view())
}
