//! `noteapp outputs ENV [--json]`: the stack outputs (Function URL, WebSocket URL, table names…),
//! as aligned `key  value` lines for people or one flat JSON object for CI
//! (`noteapp outputs staging --json | jq -r .WebSocketURL`).

use aws_sdk_cloudformation::Client;

use crate::aws::stack;
use crate::commands::args::StackArgs;
use crate::error::Error;
use crate::output;
use crate::output::write_map;
use crate::progress::Progress;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// `noteapp outputs ENV [--json]`.
#[derive(Debug, clap::Args)]
pub struct OutputsArgs {
    /// The environment whose stack's outputs are printed.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print one JSON object, output key → value.
    #[arg(long)]
    pub json: bool,
}

/// Runs `noteapp outputs`.
pub async fn run(args: OutputsArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    progress.clear();
    let (clients, config) = (clients?, &loaded.config);
    let report = outputs(&clients.cloudformation, config.name(), &config.stack_name).await?;
    output::emit(&report, args.json)
}

/// The outputs of the environment's stack; an error naming the deploy command when it is absent.
pub async fn outputs(
    client: &Client,
    environment: &str,
    stack_name: &str,
) -> Result<OutputsReport, Error> {
    match stack::describe_stack(client, stack_name).await? {
        Some(info) => Ok(OutputsReport(info.outputs)),
        None => Err(Error::StackState(format!(
            "stack {stack_name} does not exist, so it has no outputs: deploy it with `noteapp \
             deploy {environment} --image-uri URI`"
        ))),
    }
}

/// `noteapp outputs`: the stack outputs, a flat map in JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct OutputsReport(pub BTreeMap<String, String>);

impl fmt::Display for OutputsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_map(f, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{RuleMode, mock};

    use super::*;
    use crate::aws::replay;

    #[tokio::test]
    async fn outputs_are_one_flat_json_object() {
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe]);
        let report = outputs(&client, "staging", "noteapp-staging")
            .await
            .unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["WebSocketURL"],
            "wss://k2x9q7w1ab.execute-api.eu-west-1.amazonaws.com/staging"
        );
        assert_eq!(json["NotesTableName"], "noteapp-staging-notes");
        assert!(
            report.to_string().contains("FunctionUrlEndpoint  https://"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn outputs_of_a_missing_stack_name_the_deploy_command() {
        let describe = mock!(Client::describe_stacks).then_http_response(replay::stack_missing);
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe]);
        let err = outputs(&client, "staging", "noteapp-staging")
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
        assert!(err.to_string().contains("noteapp deploy staging"), "{err}");
    }
}
