//! Ctrl-C, for every command that can be interrupted: one future that resolves when it is
//! pressed, so a flow can stop cleanly (an unexecuted change set deleted, a started operation
//! left to CloudFormation) instead of being killed.

/// Resolves once Ctrl-C is pressed (never, if the signal cannot be watched).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
