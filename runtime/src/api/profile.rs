//! The caller's profile (`/me`) and the sign-in bridge (`/auth/*`).
//!
//! Every route here acts on the caller's own profile, keyed by the verified token's uid; no
//! request field can name another user. Each write counts against one limit: a profile being
//! created against the source address's (`new_profiles_per_ip`), an existing one being signed
//! in against the user's (`sign_ins`), an update against `profile_changes`. A `GET /me` of an
//! existing profile writes nothing and counts against nothing.

use http::{Response, StatusCode};
use serde_json::json;

use super::{ApiError, Ctx, success};
use crate::auth::Identity;
use crate::domain::limits::Action;
use crate::domain::{ProfileEdit, UserProfile, now, parse_profile_edit};
use crate::store::EnsuredUser;

type Answer = Result<Response<String>, ApiError>;

/// The profile a user gets on first contact, from what the token says.
fn initial_profile(me: &Identity) -> UserProfile {
    let at = now();
    UserProfile {
        uid: me.uid.clone(),
        display_name: me.display_name(),
        email: me.email.clone(),
        avatar_url: me.picture.clone(),
        is_anonymous: me.is_anonymous,
        created_at: at.clone(),
        updated_at: at,
    }
}

/// `GET /me`: regular users; created with defaults on first read.
pub(super) async fn get(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.regular_user().await?;
    let profile = match ctx.app.store.get_user(&me.uid).await? {
        Some(profile) => profile,
        None => create_profile(ctx, &me).await?.profile,
    };
    success(StatusCode::OK, profile.view())
}

/// Creates the caller's profile from the token (or returns the one a concurrent request just
/// made), counted against the source address's limit on new profiles.
async fn create_profile(ctx: &Ctx<'_>, me: &Identity) -> Result<EnsuredUser, ApiError> {
    ctx.limit_new_profile().await?;
    Ok(ctx.app.store.ensure_user(&initial_profile(me)).await?)
}

/// The caller's profile, created if missing (counted per source address) or counted as a
/// sign-in (per user) if it exists.
async fn sign_in(ctx: &Ctx<'_>, me: &Identity) -> Result<EnsuredUser, ApiError> {
    match ctx.app.store.get_user(&me.uid).await? {
        Some(profile) => {
            ctx.limit(Action::SignIn, me).await?;
            Ok(EnsuredUser {
                profile,
                created: false,
            })
        }
        None => create_profile(ctx, me).await,
    }
}

/// `PATCH /me`: `displayName`, `email`, `avatarUrl`.
pub(super) async fn update(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.regular_user().await?;
    let edit = parse_profile_edit(&ctx.json(false)?)?;
    ctx.limit(Action::ProfileChange, &me).await?;
    let profile = ctx
        .app
        .store
        .update_user(&initial_profile(&me), &edit, None, &now())
        .await?;
    success(StatusCode::OK, profile.view())
}

fn auth_result(profile: &UserProfile, me: &Identity, created: bool, was_promoted: bool) -> Answer {
    success(
        StatusCode::OK,
        json!({
            "user": profile.view(),
            "isAnonymous": me.is_anonymous,
            "created": created,
            "wasPromoted": was_promoted,
        }),
    )
}

/// Makes the caller's stored profile agree with a regular sign-in: not anonymous, and the
/// token's email. Returns the profile, whether it was created, and whether it was anonymous.
async fn sign_in_regular(
    ctx: &Ctx<'_>,
    me: &Identity,
) -> Result<(UserProfile, bool, bool), ApiError> {
    let store = &ctx.app.store;
    let ensured = sign_in(ctx, me).await?;
    if ensured.created {
        return Ok((ensured.profile, true, false));
    }
    let existing = ensured.profile;
    let stale_email = me.email.is_some() && existing.email != me.email;
    if !existing.is_anonymous && !stale_email {
        return Ok((existing, false, false));
    }
    let edit = ProfileEdit {
        email: me.email.clone().map(Some),
        ..ProfileEdit::default()
    };
    let profile = store
        .update_user(&initial_profile(me), &edit, Some(false), &now())
        .await?;
    Ok((profile, false, existing.is_anonymous))
}

/// `GET /auth/login`: regular users; creates or refreshes the profile.
pub(super) async fn login(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.regular_user().await?;
    let (profile, created, was_promoted) = sign_in_regular(ctx, &me).await?;
    auth_result(&profile, &me, created, was_promoted)
}

/// `POST /auth/anonymous-login`: any signed-in user; creates the profile if missing.
pub(super) async fn anonymous_login(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.identity().await?;
    let ensured = sign_in(ctx, &me).await?;
    auth_result(&ensured.profile, &me, ensured.created, false)
}

/// `POST /auth/anonymous-promote`: a regular user marks their own profile non-anonymous.
///
/// The body may name the anonymous account the user came from (`anonymous_firebase_uuid`); it
/// must be a string if present, and it is never used to touch another profile.
pub(super) async fn promote(ctx: &Ctx<'_>) -> Answer {
    let me = ctx.regular_user().await?;
    let body = ctx.json(true)?;
    let Some(fields) = body.as_object() else {
        return Err(crate::domain::FieldError::new(
            "body",
            "the request body must be a JSON object",
        )
        .into());
    };
    if let Some(value) = fields.get("anonymous_firebase_uuid")
        && !value.is_string()
        && !value.is_null()
    {
        return Err(crate::domain::FieldError::new(
            "anonymous_firebase_uuid",
            "anonymous_firebase_uuid must be a string",
        )
        .into());
    }
    let (profile, created, was_anonymous) = sign_in_regular(ctx, &me).await?;
    auth_result(&profile, &me, created, created || was_anonymous)
}
