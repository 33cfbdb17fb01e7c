//! What keeps a deployed stack's data where it is, besides the deploy's own refusal to replace
//! or remove a table: a stack policy on every stack that denies `Update:Replace` and
//! `Update:Delete` on the tables (CloudFormation refuses such an update itself), and, for
//! production, termination protection (`destroy` lifts it only after its confirmation).
//!
//! A stack without tables (the CI stack) gets no stack policy.
//!
//! Cost: one GetStackPolicy per deploy, a SetStackPolicy only when it differs (and twice around
//! an `--allow-replacement` update), an UpdateTerminationProtection only when it is off.

use aws_sdk_cloudformation::Client;

use crate::aws::stack;
use crate::error::Error;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::template;

/// Whether two stack policy bodies say the same (as JSON, whatever the spacing).
fn same_policy(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Sets the stack's policy to `body` unless it already is; says whether it changed.
pub async fn ensure_policy(client: &Client, stack: &str, body: &str) -> Result<bool, Error> {
    let current = stack::stack_policy(client, stack).await?;
    if current.as_deref().is_some_and(|c| same_policy(c, body)) {
        return Ok(false);
    }
    stack::set_stack_policy(client, stack, body).await?;
    Ok(true)
}

/// Before an update runs: the table policy, or for an `--allow-replacement` update of a table,
/// a policy that lets it through (put back by [`after_operation`]).
pub async fn before_update(
    client: &Client,
    plan: &Plan,
    replacing: bool,
    progress: &Progress,
) -> Result<(), Error> {
    if plan.stateful_resources.is_empty() {
        return Ok(());
    }
    let body = if replacing {
        progress.line(format!(
            "lifting stack {}'s table policy for this update (--allow-replacement)",
            plan.stack_name
        ));
        template::open_stack_policy()
    } else {
        template::stack_policy(&plan.stateful_resources)
    };
    ensure_policy(client, &plan.stack_name, &body).await?;
    Ok(())
}

/// After an operation, whatever its result, on a stack that still exists: the table policy
/// (back) in place, and production's termination protection on.
pub async fn after_operation(
    client: &Client,
    plan: &Plan,
    info: &stack::StackInfo,
    progress: &Progress,
) -> Result<(), Error> {
    let policy = template::stack_policy(&plan.stateful_resources);
    if !plan.stateful_resources.is_empty() && ensure_policy(client, &info.id, &policy).await? {
        progress.line(format!(
            "stack policy of {}: replacing or deleting a table is denied",
            plan.stack_name
        ));
    }
    if plan.protected && !info.termination_protection {
        stack::set_termination_protection(client, &info.id, true).await?;
        progress.line(format!(
            "termination protection of {} is on (`noteapp destroy {}` lifts it after asking)",
            plan.stack_name, plan.environment
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_compare_as_json() {
        assert!(same_policy(r#"{"a": [1, 2]}"#, r#"{"a":[1,2]}"#));
        assert!(!same_policy(r#"{"a": [1, 2]}"#, r#"{"a":[2,1]}"#));
    }
}
