//! When the credential chain gives nothing usable: a short answer a person can act on.
//!
//! The SDK's standard chain is compiled in whole (environment keys, shared profiles with
//! `source_profile`/`role_arn`, `credential_process`, IAM Identity Center in both the
//! `sso-session` and the legacy form, `aws login` sessions, web identity, container and
//! instance credentials). Its failures surface on the first call as a dispatch failure whose
//! causes hold a `CredentialsError`, sometimes with an instance-metadata response dumped inside.
//! [`explain`] turns that into at most a few lines naming the profile and region, what was
//! tried, and the command that fixes it; the SDK's whole chain of causes is logged at debug
//! level, so `-v` shows it.

use aws_credential_types::provider::error::CredentialsError;

use crate::error::Error;

/// The profile the chain reads: `AWS_PROFILE`, else `default`.
pub fn profile_in_use() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// The `CredentialsError` among `error`'s causes, if credentials are what failed.
pub fn credentials_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialsError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

/// Every cause's message, outermost first.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        out.push(current.to_string());
        cause = current.source();
    }
    out
}

/// What went wrong with the credentials, in the words the fix is given in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No provider of the chain had anything.
    NothingFound,
    /// An IAM Identity Center session that ended (or was never started on this machine).
    SsoSession {
        /// `true`: the session expired; `false`: this machine has none (no `aws sso login` yet).
        expired: bool,
    },
    /// An `aws login` session that ended or is missing.
    LoginSession,
    /// Anything else: the innermost cause that reads as a sentence.
    Other(String),
}

/// Classifies the causes of a credentials failure.
pub fn classify(error: &CredentialsError) -> Problem {
    if matches!(error, CredentialsError::CredentialsNotLoaded(_)) {
        return Problem::NothingFound;
    }
    let text = chain_text(error);
    let all = text.join(": ").to_ascii_lowercase();
    let sso = all.contains("sso");
    if sso && (all.contains("expired") || all.contains("unauthorized")) {
        return Problem::SsoSession { expired: true };
    }
    if sso && all.contains("failed to read") {
        return Problem::SsoSession { expired: false };
    }
    if all.contains("login") && (all.contains("expired") || all.contains("failed to read")) {
        return Problem::LoginSession;
    }
    // The innermost cause that is a plain sentence: the SDK's generic wrappers ("an error
    // occurred while loading credentials") and raw response dumps are left out.
    let detail = text
        .iter()
        .rev()
        .find(|t| !t.contains("HttpResponse") && !t.contains("headers") && t.len() < 400)
        .cloned()
        .unwrap_or_else(|| "the credential provider failed".to_owned());
    Problem::Other(detail.lines().next().unwrap_or_default().to_owned())
}

/// The error for a credentials failure `error`, for `profile` in `region` (at most five lines).
pub fn explain(error: &CredentialsError, profile: &str, region: Option<&str>) -> Error {
    tracing::debug!(
        error = %aws_smithy_types::error::display::DisplayErrorContext(error),
        "the credential chain failed"
    );
    let region = region
        .map(|r| format!(" in region {r}"))
        .unwrap_or_default();
    let message = match classify(error) {
        Problem::NothingFound => format!(
            "no AWS credentials for profile `{profile}`{region}\n\
             tried: environment variables (AWS_ACCESS_KEY_ID), profile `{profile}` in ~/.aws/config \
             and ~/.aws/credentials (keys, assume-role, credential_process, IAM Identity Center, \
             aws login), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), container and instance credentials\n\
             sign in with `aws sso login --profile {profile}` or `aws login`, or choose a profile \
             that has credentials with AWS_PROFILE=NAME (run with -v to see each provider's answer)"
        ),
        Problem::SsoSession { expired: true } => format!(
            "the IAM Identity Center (SSO) session of profile `{profile}`{region} has expired\n\
             sign in again with `aws sso login --profile {profile}`"
        ),
        Problem::SsoSession { expired: false } => format!(
            "profile `{profile}`{region} signs in through IAM Identity Center (SSO), but this \
             machine has no session for it\nsign in with `aws sso login --profile {profile}`"
        ),
        Problem::LoginSession => format!(
            "the `aws login` session of profile `{profile}`{region} has ended or is missing\n\
             sign in again with `aws login --profile {profile}`"
        ),
        Problem::Other(detail) => format!(
            "the AWS credentials of profile `{profile}`{region} cannot be loaded: {detail}\n\
             fix the profile (`aws configure list --profile {profile}`), or choose another with \
             AWS_PROFILE=NAME (run with -v for the SDK's details)"
        ),
    };
    Error::Credentials(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_found_names_the_profile_what_was_tried_and_how_to_sign_in() {
        let error = CredentialsError::not_loaded("no providers in chain provided credentials");
        let text = explain(&error, "ci", Some("eu-west-1")).to_string();
        assert!(text.lines().count() <= 5, "{text}");
        assert!(text.contains("profile `ci` in region eu-west-1"), "{text}");
        assert!(
            text.contains("tried:") && text.contains("web identity"),
            "{text}"
        );
        assert!(text.contains("aws sso login --profile ci"), "{text}");
        assert!(text.contains("AWS_PROFILE="), "{text}");
    }

    #[test]
    fn an_expired_sso_token_says_so() {
        let error =
            CredentialsError::provider_error("the SSO token has expired and cannot be refreshed");
        assert_eq!(classify(&error), Problem::SsoSession { expired: true });
        let text = explain(&error, "dev", None).to_string();
        assert!(text.contains("has expired"), "{text}");
        assert!(text.contains("aws sso login --profile dev"), "{text}");
    }

    #[test]
    fn a_response_dump_stays_out_of_the_message() {
        let error = CredentialsError::provider_error(
            "error response from IMDS (code: 403). HttpResponse { status: 403, headers: {..} }",
        );
        let text = explain(&error, "default", None).to_string();
        assert!(!text.contains("HttpResponse"), "{text}");
        assert!(text.lines().count() <= 5, "{text}");
    }
}
