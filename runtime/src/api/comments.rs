//! Comments: `/notes/{id}/comments` on public notes, `/me/notes/{id}/comments` on the caller's own.
//!
//! A comment is stored only if its note passes the gate at the moment of the write (public, or
//! owned by the caller), then handed to the real-time sink with the recipients that may see it.

use http::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::notes::author_of;
use super::{ApiError, Ctx, Recipients, comments_success, note_id};
use crate::domain::limits::Action;
use crate::domain::{Comment, PageRequest, now, parse_comment_content};
use crate::store::CommentGate;

type Answer = Result<Response<String>, ApiError>;

/// `{comments, count, postId, nextCursor?}` for one page of a note's comments.
async fn list_data(
    ctx: &Ctx<'_>,
    id: Uuid,
    request: &PageRequest,
    gate: &CommentGate,
) -> Result<Value, ApiError> {
    let page = ctx.app.store.list_comments(id, request, gate).await?;
    let comments: Vec<_> = page.items.iter().map(Comment::view).collect();
    let mut data = json!({"comments": comments, "count": page.total, "postId": id});
    if request.cursor.is_some() {
        data["nextCursor"] = json!(page.next_cursor);
    }
    Ok(data)
}

async fn list(ctx: &Ctx<'_>, id: Uuid, gate: &CommentGate) -> Answer {
    let data = list_data(ctx, id, &ctx.page()?, gate).await?;
    comments_success(StatusCode::OK, data)
}

/// `GET /notes/{id}/comments`: 404 unless the note is public.
pub(super) async fn list_public(ctx: &Ctx<'_>, id: Uuid) -> Answer {
    list(ctx, id, &CommentGate::Public).await
}

/// `GET /me/notes/{id}/comments`: the owner only.
pub(super) async fn list_mine(ctx: &Ctx<'_>, raw_id: &str) -> Answer {
    let me = ctx.identity().await?;
    let id = note_id(raw_id)?;
    list(ctx, id, &CommentGate::Owner(me.uid)).await
}

async fn create(ctx: &Ctx<'_>, raw_id: &str, mine: bool) -> Answer {
    let me = ctx.identity().await?;
    let id = note_id(raw_id)?;
    let content = parse_comment_content(&ctx.json(false)?)?;
    let gate = if mine {
        CommentGate::Owner(me.uid.clone())
    } else {
        CommentGate::Public
    };
    ctx.limit(Action::Comment, &me).await?;
    let (username, _) = author_of(ctx, &me).await?;
    let at = now();
    let comment = Comment {
        id: Uuid::new_v4(),
        note_id: id,
        author_uid: me.uid.clone(),
        username,
        content,
        created_at: at.clone(),
        updated_at: at,
    };
    ctx.app.store.add_comment(&comment, &gate).await?;
    let view = comment.view();
    if let Some(events) = &ctx.app.events {
        // A comment on a public note is for everyone, on a private one for its owner alone,
        // decided on the note as it is after the write (a note made private meanwhile keeps
        // its comments private).
        let recipients = match (&gate, ctx.app.store.note_visibility(id).await) {
            (_, Ok(Some(v))) if v.public => Recipients::Everyone,
            (_, Ok(Some(v))) => Recipients::Owner(v.owner),
            (CommentGate::Owner(uid), _) => Recipients::Owner(uid.clone()),
            (CommentGate::Public, _) => Recipients::Everyone,
        };
        // The first page as a plain list request would return it: clients that replace their
        // list with it end with exactly one copy of the comment, whatever else they did.
        let list_gate = match &recipients {
            Recipients::Everyone => CommentGate::Public,
            Recipients::Owner(uid) => CommentGate::Owner(uid.clone()),
        };
        match list_data(ctx, id, &PageRequest::parse(None, None)?, &list_gate).await {
            Ok(list) => events.comment_created(&view, recipients, list).await,
            Err(e) => tracing::warn!(
                status = e.status.as_u16(),
                "comment stored but its list could not be read for real time"
            ),
        }
    }
    comments_success(StatusCode::CREATED, view)
}

/// `POST /notes/{id}/comments`: any signed-in user, on a public note.
pub(super) async fn create_public(ctx: &Ctx<'_>, raw_id: &str) -> Answer {
    create(ctx, raw_id, false).await
}

/// `POST /me/notes/{id}/comments`: the owner, on their own note (public or private).
pub(super) async fn create_mine(ctx: &Ctx<'_>, raw_id: &str) -> Answer {
    create(ctx, raw_id, true).await
}
