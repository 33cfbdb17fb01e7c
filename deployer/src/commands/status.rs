//! `noteapp status ENV [--json]`: where the environment's stack stands — its status and reason,
//! when it was created and last updated, and every failure of its most recent operation, read
//! from the stack events back to the event that started that operation, and how many broadcasts
//! failed for good (after Lambda's retries) and wait in the stack's on-failure queue, the
//! live release (the first of the history in the stack's template, `release`), each function's
//! `live` version with the traffic's weights (a canary shows both versions), and the stack's
//! alarms with their states. It exits 0 whatever the stack's state; the state is the answer.

use aws_sdk_cloudformation::Client;

use crate::aws::live::{AlarmStatus, LiveAlias, LiveCalls};
use crate::aws::stack::StackEvent;
use crate::aws::{Clients, sqs, stack};
use crate::commands::args::StackArgs;
use crate::error::Error;
use crate::flow::traffic::Traffic;
use crate::output;
use crate::progress::Progress;
use crate::release::{self, Release};
use crate::template;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The stack output naming the queue of broadcasts that failed after Lambda's retries.
pub const FAILURES_OUTPUT: &str = "BroadcastFailuresQueueUrl";

/// Events read back at most (one page) when looking for the last operation's failures.
const EVENT_PAGES: usize = 1;

/// `noteapp status ENV [--json]`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The environment whose stack is read.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `noteapp status`.
pub async fn run(args: StatusArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    progress.clear();
    let (clients, config) = (clients?, &loaded.config);
    let mut report = status(&clients.cloudformation, config.name(), &config.stack_name).await?;
    count_failed_broadcasts(&clients, &config.region, &mut report).await?;
    read_live(&clients, &config.region, &config.stack_name, &mut report).await?;
    output::emit(&report, args.json)
}

/// Each function's `live` alias (versions, weights), where the traffic stands (a canary
/// shifting or returned, aliases moved back by a rollback) and the stack's alarms by state,
/// asked of Lambda and CloudWatch in `region`; left unset without a stack or credentials to
/// sign with.
pub async fn read_live(
    clients: &Clients,
    region: &str,
    stack: &str,
    report: &mut StatusReport,
) -> Result<(), Error> {
    let calls = match report.exists {
        true => LiveCalls::of(clients, region)?,
        false => None,
    };
    if let Some(calls) = calls {
        let aliases = calls.aliases(stack).await?;
        report.live = aliases.iter().map(LiveAlias::of).collect();
        let stack_release = report.parameters.get(template::RELEASE_ID);
        report.traffic = Some(Traffic::read(&aliases, stack_release.map(String::as_str)));
        report.alarms = calls.alarm_states(stack).await?;
    }
    Ok(())
}

/// How many failed broadcasts wait in the stack's on-failure queue (its URL is an output), asked
/// of SQS in `region`; left unset for a stack without that output or without credentials to
/// sign with.
pub async fn count_failed_broadcasts(
    clients: &Clients,
    region: &str,
    report: &mut StatusReport,
) -> Result<(), Error> {
    if let (Some(url), Some(signer)) = (report.outputs.get(FAILURES_OUTPUT), &clients.signer) {
        let http = clients.https()?;
        let endpoint = clients.endpoint("SQS", "sqs", region);
        report.failed_broadcasts = Some(sqs::queue_depth(http, signer, &endpoint, url).await?);
    }
    Ok(())
}

/// The stack's status, the failures of its last operation (oldest first) and its live release.
pub async fn status(
    client: &Client,
    environment: &str,
    stack_name: &str,
) -> Result<StatusReport, Error> {
    let mut report = StatusReport {
        environment: environment.to_owned(),
        stack_name: stack_name.to_owned(),
        exists: false,
        status: None,
        status_reason: None,
        created: None,
        last_updated: None,
        recent_failures: Vec::new(),
        failed_broadcasts: None,
        live_release: None,
        live: Vec::new(),
        traffic: None,
        pending_release: None,
        alarms: Vec::new(),
        outputs: Default::default(),
        parameters: Default::default(),
    };
    let Some(info) = stack::describe_stack(client, stack_name).await? else {
        return Ok(report);
    };
    let events = stack::events_since(client, &info.id, |_| false, EVENT_PAGES).await?;
    for event in events {
        if event.is_failure() {
            report.recent_failures.push(event.clone());
        }
        if event.is_stack_event() && event.reason.as_deref() == Some("User Initiated") {
            break;
        }
    }
    report.recent_failures.reverse();
    let template = stack::template(client, stack_name)
        .await?
        .unwrap_or_default();
    report.live_release = release::read(&template).live().cloned();
    report.pending_release = release::pending(&template);
    report.exists = true;
    report.status = Some(info.status);
    report.status_reason = info.reason;
    report.created = info.created;
    report.last_updated = info.last_updated;
    report.outputs = info.outputs;
    report.parameters = info.parameters;
    Ok(report)
}

/// `noteapp status`: where the stack stands and what failed last.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The environment's name (`staging`).
    pub environment: String,
    /// The environment's stack (`noteapp-staging`).
    pub stack_name: String,
    /// Whether the stack exists; without it, what would be read from it stays empty.
    pub exists: bool,
    /// The stack's status (`UPDATE_COMPLETE`, `UPDATE_ROLLBACK_FAILED`…); `None` without a
    /// stack.
    pub status: Option<String>,
    /// CloudFormation's reason for the status, when it gives one.
    pub status_reason: Option<String>,
    /// When the stack was created (RFC 3339, UTC).
    pub created: Option<String>,
    /// When the stack was last updated (RFC 3339, UTC); `None` if never.
    pub last_updated: Option<String>,
    /// The failed events of the stack's most recent operation, oldest first: every `*_FAILED`
    /// event back to the one that started it, read from the newest page of events (empty:
    /// none).
    pub recent_failures: Vec<StackEvent>,
    /// Broadcasts that failed after Lambda's retries, waiting in the on-failure queue.
    pub failed_broadcasts: Option<u64>,
    /// The release the stack runs: the first of its template's history (`None`: none recorded).
    pub live_release: Option<Release>,
    /// Each function's `live` alias: its version and the traffic's weights.
    pub live: Vec<LiveAlias>,
    /// Where the traffic stands: steady, a canary shifting or returned to the last good
    /// release, aliases moved back by a rollback.
    pub traffic: Option<Traffic>,
    /// A canary's release, shifting or stopped half-way: recorded once it is finished.
    pub pending_release: Option<Release>,
    /// The stack's alarms and their states.
    pub alarms: Vec<AlarmStatus>,
    /// The stack's outputs by key (not in the JSON).
    #[serde(skip)]
    pub outputs: BTreeMap<String, String>,
    /// The stack's parameters.
    #[serde(skip)]
    pub parameters: BTreeMap<String, String>,
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = &self.stack_name;
        let Some(status) = &self.status else {
            return writeln!(
                f,
                "stack {stack} does not exist ({} is not deployed)",
                self.environment
            );
        };
        writeln!(f, "stack {stack}: {status}")?;
        if let Some(reason) = &self.status_reason {
            writeln!(f, "  reason: {reason}")?;
        }
        if let Some(t) = &self.created {
            writeln!(f, "  created: {t}")?;
        }
        if let Some(t) = &self.last_updated {
            writeln!(f, "  last updated: {t}")?;
        }
        match &self.live_release {
            Some(r) => {
                writeln!(
                    f,
                    "  live release: {}, {} at {} by {}",
                    r.sequence, r.result, r.time, r.deployed_by
                )?;
                let commit = r
                    .commit
                    .as_deref()
                    .unwrap_or("none (not deployed from git)");
                let dirty = if r.dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                };
                writeln!(f, "    commit: {commit}{dirty}")?;
                writeln!(f, "    image: {}", r.image_digest)?;
            }
            None => writeln!(
                f,
                "  live release: none recorded (`noteapp deploy {}` records one)",
                self.environment
            )?,
        }
        match (self.failed_broadcasts, self.outputs.get(FAILURES_OUTPUT)) {
            (Some(0), _) => writeln!(f, "  failed broadcasts: none")?,
            (Some(n), Some(url)) => writeln!(
                f,
                "  failed broadcasts: {n} waiting in {url} (read them with `aws sqs receive-message --queue-url {url}`)"
            )?,
            _ => {}
        }
        if !self.live.is_empty() {
            writeln!(f, "live versions:")?;
            for alias in &self.live {
                writeln!(f, "  {:<14}{}", alias.function, traffic(alias))?;
            }
        }
        if let Some(advice) = self
            .traffic
            .as_ref()
            .and_then(|t| t.advice(&self.environment))
        {
            writeln!(f, "release in progress: {advice}")?;
        }
        if let Some(pending) = &self.pending_release {
            writeln!(
                f,
                "  canary release {}: {} ({}), not recorded until it is finished",
                pending.sequence,
                pending.image_digest,
                pending.commit.as_deref().unwrap_or("no commit")
            )?;
        }
        if !self.alarms.is_empty() {
            let count = |state: &str| self.alarms.iter().filter(|a| a.state == state).count();
            writeln!(
                f,
                "alarms: {} OK, {} in ALARM, {} with insufficient data",
                count("OK"),
                count("ALARM"),
                count("INSUFFICIENT_DATA")
            )?;
            for alarm in self.alarms.iter().filter(|a| a.state == "ALARM") {
                writeln!(f, "  ALARM {}: {}", alarm.name, alarm.reason)?;
            }
        }
        if !self.recent_failures.is_empty() {
            writeln!(f, "failures in the last operation:")?;
            for e in &self.recent_failures {
                let reason = e.reason.as_deref().unwrap_or("no reason given");
                writeln!(
                    f,
                    "  {} {} ({}) {}: {reason}",
                    e.timestamp, e.logical_id, e.resource_type, e.status
                )?;
            }
        }
        Ok(())
    }
}

/// `8`, or `8 (10%), 7 (90%): a canary until …`, or why there is none.
fn traffic(alias: &LiveAlias) -> String {
    let Some(version) = &alias.version else {
        return "no live alias (deployed before releases had one)".to_owned();
    };
    if alias.weights.len() <= 1 {
        return format!("version {version}");
    }
    let mut shares: Vec<(&String, &f64)> = alias.weights.iter().collect();
    shares.sort_by(|a, b| b.1.total_cmp(a.1));
    let shares: Vec<String> = shares
        .iter()
        .map(|(v, w)| format!("version {v} {:.0}%", *w * 100.0))
        .collect();
    let until = match noteapp_runtime::release_shift::AliasNote::parse(&alias.note) {
        Some(noteapp_runtime::release_shift::AliasNote::Shift(shift)) => format!(
            " (a canary of version {version}, until {})",
            noteapp_runtime::release_shift::format_time(shift.deadline)
        ),
        _ => format!(" (version {version} is the alias's own)"),
    };
    format!("{}{until}", shares.join(", "))
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{RuleMode, mock};

    use super::*;
    use crate::aws::replay;
    use crate::release::{self, Release};

    const TEMPLATE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../templates/noteapp.yaml"
    ));

    #[tokio::test]
    async fn status_of_a_failed_first_create_lists_its_failures_oldest_first() {
        let describe = mock!(Client::describe_stacks).then_http_response(|| {
            replay::stack_with_reason("ROLLBACK_COMPLETE", "The following resource(s) failed to create: [NotesTable, ApiFunction]. Rollback requested by user.")
        });
        let events = mock!(Client::describe_stack_events)
            .then_http_response(|| replay::events("create_rollback"));
        let template =
            mock!(Client::get_template).then_http_response(|| replay::template(TEMPLATE));
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe, &events, &template]);
        let report = status(&client, "staging", "noteapp-staging").await.unwrap();
        assert_eq!(report.status.as_deref(), Some("ROLLBACK_COMPLETE"));
        assert_eq!(report.live_release, None);
        let failed: Vec<_> = report
            .recent_failures
            .iter()
            .map(|e| e.logical_id.as_str())
            .collect();
        assert_eq!(failed, vec!["NotesTable", "ApiFunction"]);
        let text = report.to_string();
        assert!(
            text.contains("Table already exists: noteapp-staging-notes"),
            "{text}"
        );
        assert!(
            text.contains("last updated: 2026-11-03T16:41:55.203Z"),
            "{text}"
        );
        assert!(
            text.contains("live release: none recorded (`noteapp deploy staging` records one)"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn status_shows_the_live_release_from_the_stacks_template() {
        let release = |sequence: u64, result: &str| Release {
            sequence,
            commit: Some(format!("{sequence}e5d1c0ffee")),
            dirty: sequence == 4,
            image_uri: format!(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp@sha256:{sequence:0>64}"
            ),
            image_digest: format!("sha256:{sequence:0>64}"),
            template_sha256: release::sha256(TEMPLATE),
            parameters: [("LogLevel".to_owned(), "info".to_owned())].into(),
            time: format!("2026-11-0{sequence}T10:00:00Z"),
            deployed_by: "arn:aws:sts::123456789012:assumed-role/ci/run-7".into(),
            result: result.into(),
            rollback_of: None,
            versions: None,
        };
        let body = release::write(
            TEMPLATE,
            &release(4, "rolled back to 2"),
            &[release(3, "deployed"), release(2, "deployed")],
            5,
        );
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let events = mock!(Client::describe_stack_events)
            .then_http_response(|| replay::events("update_complete"));
        let template =
            mock!(Client::get_template).then_http_response(move || replay::template(&body));
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe, &events, &template]);
        let report = status(&client, "staging", "noteapp-staging").await.unwrap();
        assert_eq!(template.num_calls(), 1);
        assert_eq!(report.live_release, Some(release(4, "rolled back to 2")));

        let text = report.to_string();
        let digest = format!("sha256:{:0>64}", 4);
        for line in [
            "  live release: 4, rolled back to 2 at 2026-11-04T10:00:00Z by arn:aws:sts::123456789012:assumed-role/ci/run-7\n",
            "    commit: 4e5d1c0ffee (with uncommitted changes)\n",
            &format!("    image: {digest}\n"),
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }

        let json = serde_json::to_value(&report).unwrap();
        let live = &json["live_release"];
        assert_eq!(live["sequence"], 4);
        assert_eq!(live["commit"], "4e5d1c0ffee");
        assert_eq!(live["dirty"], true);
        assert_eq!(live["image_digest"], digest.as_str());
        assert_eq!(live["time"], "2026-11-04T10:00:00Z");
        assert_eq!(
            live["deployed_by"],
            "arn:aws:sts::123456789012:assumed-role/ci/run-7"
        );
        assert_eq!(live["result"], "rolled back to 2");
        assert_eq!(live["parameters"]["LogLevel"], "info");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_counts_the_broadcasts_waiting_in_the_failure_queue() {
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let events = mock!(Client::describe_stack_events)
            .then_http_response(|| replay::events("create_rollback"));
        let template =
            mock!(Client::get_template).then_http_response(|| replay::template(TEMPLATE));
        let client = replay::cloudformation(RuleMode::MatchAny, &[&describe, &events, &template]);
        let mut report = status(&client, "staging", "noteapp-staging").await.unwrap();
        let sqs = replay::sqs_queue(2).await;
        let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/noteapp-staging-BroadcastFailuresQueue-Q1";
        report.outputs.insert(FAILURES_OUTPUT.into(), queue.into());
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| replay::caller_identity("123456789012"));
        let clients = replay::clients(
            replay::cloudformation(RuleMode::MatchAny, &[]),
            replay::sts(&identity),
        )
        .with_signed_endpoint(replay::signer(replay::DEPLOYER), &sqs.url);
        count_failed_broadcasts(&clients, "eu-west-1", &mut report)
            .await
            .unwrap();
        assert_eq!(report.failed_broadcasts, Some(2));
        let text = report.to_string();
        assert!(
            text.contains(&format!("failed broadcasts: 2 waiting in {queue}")),
            "{text}"
        );
        assert_eq!(
            serde_json::to_value(&report).unwrap()["failed_broadcasts"],
            2
        );
    }

    #[tokio::test]
    async fn status_shows_each_live_version_the_weights_and_the_alarms_in_alarm() {
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let events = mock!(Client::describe_stack_events)
            .then_http_response(|| replay::events("update_complete"));
        let template =
            mock!(Client::get_template).then_http_response(|| replay::template(TEMPLATE));
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe, &events, &template]);
        let mut report = status(&client, "staging", "noteapp-staging").await.unwrap();
        report.live = vec![
            LiveAlias {
                function: "api".into(),
                version: Some("8".into()),
                weights: [("8".to_owned(), 0.1), ("7".to_owned(), 0.9)].into(),
                note: "noteapp shift release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7 deadline=2026-12-07T10:00:00Z".into(),
            },
            LiveAlias {
                function: "ws-connect".into(),
                version: Some("5".into()),
                weights: [("5".to_owned(), 1.0)].into(),
                note: "noteapp live release=12-3f9c2e1a0b4d-5e6f7a8b9c0d".into(),
            },
        ];
        report.alarms = vec![
            AlarmStatus {
                name: "noteapp-staging-api-5xx-rate".into(),
                state: "ALARM".into(),
                reason: "Threshold Crossed: 2 out of the last 3 datapoints".into(),
                composite: false,
            },
            AlarmStatus {
                name: "noteapp-staging-release-health".into(),
                state: "OK".into(),
                reason: "r".into(),
                composite: true,
            },
        ];
        let text = report.to_string();
        for line in [
            "live versions:\n",
            "  api           version 7 90%, version 8 10% (a canary of version 8, until 2026-12-07T10:00:00Z)\n",
            "  ws-connect    version 5\n",
            "alarms: 1 OK, 1 in ALARM, 0 with insufficient data\n",
            "  ALARM noteapp-staging-api-5xx-rate: Threshold Crossed: 2 out of the last 3 datapoints\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["live"][0]["weights"]["7"], 0.9);
        assert_eq!(json["alarms"][0]["state"], "ALARM");
    }

    #[tokio::test]
    async fn status_says_a_canary_is_shifting_and_how_to_finish_or_undo_it() {
        use crate::flow::traffic::{Part, Traffic};
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let events = mock!(Client::describe_stack_events)
            .then_http_response(|| replay::events("update_complete"));
        let live = crate::aws::replay::releases::recorded(3);
        let pending = crate::aws::replay::releases::recorded(4);
        let body = release::write_pending(TEMPLATE, std::slice::from_ref(&live), &pending);
        let template =
            mock!(Client::get_template).then_http_response(move || replay::template(&body));
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe, &events, &template]);
        let mut report = status(&client, "production", "noteapp-staging")
            .await
            .unwrap();
        assert_eq!(report.live_release.as_ref().map(|r| r.sequence), Some(3));
        assert_eq!(report.pending_release.as_ref().map(|r| r.sequence), Some(4));
        report.traffic = Some(Traffic::Shifting {
            release: Some("0-bbbbbbbbbbbb-cccccccccccc".into()),
            share: 10.0,
            deadline: Some("2026-12-07T10:20:00Z".into()),
            parts: vec![Part {
                function: "api".into(),
                version: "8".into(),
                good: Some("7".into()),
            }],
        });
        let text = report.to_string();
        for line in [
            "release in progress: release 0-bbbbbbbbbbbb-cccccccccccc is shifting (10% on the new versions until 2026-12-07T10:20:00Z: api 8 (good 7))",
            "`noteapp release finish production`",
            "`noteapp release undo production`",
            "  canary release 4: sha256:0000000000000000000000000000000000000000000000000000000000000004 (4aa1c0ffee), not recorded until it is finished",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["traffic"]["state"], "shifting");
        assert_eq!(json["pending_release"]["sequence"], 4);
    }

    #[tokio::test]
    async fn status_of_a_missing_stack_says_it_is_not_deployed() {
        let describe = mock!(Client::describe_stacks).then_http_response(replay::stack_missing);
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe]);
        let report = status(&client, "staging", "noteapp-staging").await.unwrap();
        assert!(!report.exists);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], serde_json::Value::Null);
        assert_eq!(json["live_release"], serde_json::Value::Null);
        assert!(
            report
                .to_string()
                .contains("does not exist (staging is not deployed)")
        );
    }
}
