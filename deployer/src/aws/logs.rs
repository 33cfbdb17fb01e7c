//! CloudWatch Logs for `noteapp logs`: the log groups of the stack's functions, their events
//! over a time range (FilterLogEvents, every page), new events as they are written — pushed by a
//! Live Tail session (StartLiveTail) or, where Live Tail is not available, polled.
//!
//! The group names follow from the stack name alone (`/aws/lambda/<stack>-<function>`, as the
//! template names them), so reading them needs no stack call and works while the stack updates.
//! Events of all groups are merged by time. A group that does not exist (yet) has no events.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream;
use noteapp_runtime::aws_http::Partition;
use noteapp_runtime::functions::Function;

use crate::aws::{aws_error, reason};
use crate::error::Error;

/// Every function of the stack, as `--function` and the template name them.
pub const FUNCTIONS: [&str; Function::ALL.len()] = {
    let mut names = [""; Function::ALL.len()];
    let mut i = 0;
    while i < Function::ALL.len() {
        names[i] = Function::ALL[i].name();
        i += 1;
    }
    names
};

/// How far back each poll looks again, for events that arrive after later ones did.
pub const POLL_LOOKBACK: Duration = Duration::from_secs(30);

/// One function's log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The function's name in the stack, as `--function` takes it (`api`).
    pub function: String,
    /// `/aws/lambda/<stack>-<function>`.
    pub log_group: String,
    /// The group's ARN (without `:*`), how Live Tail names it.
    pub arn: String,
}

/// The log groups of `functions` (all of them when empty) of `stack`.
pub fn sources(stack: &str, region: &str, account: &str, functions: &[String]) -> Vec<Source> {
    let partition = Partition::of(region).name;
    FUNCTIONS
        .iter()
        .filter(|f| functions.is_empty() || functions.iter().any(|g| g == *f))
        .map(|function| {
            let log_group = format!("/aws/lambda/{stack}-{function}");
            Source {
                function: (*function).to_owned(),
                arn: format!("arn:{partition}:logs:{region}:{account}:log-group:{log_group}"),
                log_group,
            }
        })
        .collect()
}

/// One log event of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The function it came from, as `--function` names it.
    pub function: String,
    /// The function's log group.
    pub log_group: String,
    /// The stream within the group (one per function instance).
    pub log_stream: String,
    /// Milliseconds since the Unix epoch, as written.
    pub timestamp: i64,
    /// The line as written, untouched.
    pub message: String,
    /// FilterLogEvents' id (Live Tail gives none).
    pub event_id: Option<String>,
}

/// Sorts events of several groups into one timeline (stable: a group's own order is kept).
pub fn interleave(events: &mut [LogEvent]) {
    events.sort_by_key(|e| e.timestamp);
}

/// The events of `source` from `start` (ms) on, every page; `None` when the group does not
/// exist.
pub async fn filter(
    client: &Client,
    source: &Source,
    start: i64,
    pattern: Option<&str>,
) -> Result<Option<Vec<LogEvent>>, Error> {
    let mut events = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let answer = client
            .filter_log_events()
            .log_group_name(&source.log_group)
            .start_time(start)
            .set_filter_pattern(pattern.map(str::to_owned))
            .set_next_token(next.take())
            .send()
            .await;
        let page = match answer {
            Ok(page) => page,
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => {
                return Err(aws_error(
                    format!("failed to read the log events of {}", source.log_group),
                    &e,
                ));
            }
        };
        events.extend(page.events().iter().map(|e| LogEvent {
            function: source.function.clone(),
            log_group: source.log_group.clone(),
            log_stream: e.log_stream_name().unwrap_or_default().to_owned(),
            timestamp: e.timestamp().unwrap_or_default(),
            message: e.message().unwrap_or_default().to_owned(),
            event_id: e.event_id().map(str::to_owned),
        }));
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(Some(events)),
        }
    }
}

/// The events of every source from `start` on, merged by time; an error when none of the
/// groups exists (nothing was deployed under this stack name).
pub async fn history(
    client: &Client,
    sources: &[Source],
    start: i64,
    pattern: Option<&str>,
) -> Result<Vec<LogEvent>, Error> {
    let answers = futures_util::future::join_all(
        sources
            .iter()
            .map(|source| filter(client, source, start, pattern)),
    )
    .await;
    let mut events = Vec::new();
    let mut found = false;
    for answer in answers {
        if let Some(group) = answer? {
            found = true;
            events.extend(group);
        }
    }
    if !found && !sources.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.log_group.as_str()).collect();
        return Err(Error::StackState(format!(
            "no log group of this stack exists ({}): is the environment deployed, and has the \
             function run yet?",
            names.join(", ")
        )));
    }
    interleave(&mut events);
    Ok(events)
}

/// The events shown recently, so that a poll looking back again, or a Live Tail session's first
/// update, shows each once; and the newest time shown, where following carries on from.
#[derive(Debug, Default)]
pub struct Seen {
    /// FilterLogEvents' ids.
    ids: HashSet<String>,
    /// The same events by stream, time and text: how Live Tail's id-less events are recognised.
    lines: HashSet<String>,
    order: VecDeque<(i64, String, String)>,
    /// The newest event time seen (ms).
    pub newest: i64,
}

fn line_key(event: &LogEvent) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        event.log_group, event.log_stream, event.timestamp, event.message
    )
}

impl Seen {
    /// Nothing seen yet; following starts at `start` (ms).
    pub fn starting_at(start: i64) -> Self {
        Self {
            newest: start,
            ..Self::default()
        }
    }

    /// Whether `event` is new (and remembers it). An event with an id is new unless that id was
    /// seen; one without (Live Tail's) unless an event with an id had the same stream, time and
    /// text. Id-less events are not remembered: a session never repeats one.
    pub fn first_time(&mut self, event: &LogEvent) -> bool {
        self.newest = self.newest.max(event.timestamp);
        let Some(id) = &event.event_id else {
            return !self.lines.contains(&line_key(event));
        };
        if !self.ids.insert(id.clone()) {
            return false;
        }
        let line = line_key(event);
        self.lines.insert(line.clone());
        self.order.push_back((event.timestamp, id.clone(), line));
        true
    }

    /// Forgets events older than `before` (ms).
    pub fn forget_before(&mut self, before: i64) {
        while self.order.front().is_some_and(|(t, _, _)| *t < before) {
            let (_, id, line) = self.order.pop_front().expect("an entry");
            self.ids.remove(&id);
            self.lines.remove(&line);
        }
    }

    /// Where a poll or a catch-up reads from: [`POLL_LOOKBACK`] behind the newest event seen,
    /// never before `start`.
    fn read_from(&self, start: i64) -> i64 {
        let lookback = i64::try_from(POLL_LOOKBACK.as_millis()).unwrap_or(i64::MAX);
        self.newest.saturating_sub(lookback).max(start)
    }
}

/// The new events of every source from where `seen` says, merged by time (missing groups have
/// none).
async fn new_events(
    client: &Client,
    sources: &[Source],
    start: i64,
    pattern: Option<&str>,
    seen: &mut Seen,
) -> Result<Vec<LogEvent>, Error> {
    let from = seen.read_from(start);
    let answers = futures_util::future::join_all(
        sources
            .iter()
            .map(|source| filter(client, source, from, pattern)),
    )
    .await;
    let mut batch = Vec::new();
    for answer in answers {
        for event in answer?.unwrap_or_default() {
            if seen.first_time(&event) {
                batch.push(event);
            }
        }
    }
    seen.forget_before(from);
    interleave(&mut batch);
    Ok(batch)
}

/// Polls every source (all at once) each `interval`, from where `seen` says (never before
/// `start`), handing each new batch (merged by time) to `show` until it returns false. Each poll
/// looks back [`POLL_LOOKBACK`] behind the newest event seen, for events ingested late; `seen`
/// keeps them from showing twice.
pub async fn poll(
    client: &Client,
    sources: &[Source],
    start: i64,
    pattern: Option<&str>,
    interval: Duration,
    seen: &mut Seen,
    show: &mut dyn FnMut(Vec<LogEvent>) -> bool,
) -> Result<(), Error> {
    loop {
        let batch = new_events(client, sources, start, pattern, seen).await?;
        if !batch.is_empty() && !show(batch) {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

/// How a Live Tail session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// `show` asked to stop.
    Stopped,
    /// The session ran its course (Live Tail ends a session after three hours) or timed out.
    Ended,
    /// Live Tail is not available here: the start was refused, or the stream broke before the
    /// session started. The reason, for the person.
    Unavailable(String),
}

/// Streams new events of `sources` through a Live Tail session, handing each update to `show`
/// until it returns false or the session ends. Once the session has started, the events written
/// since what `seen` holds (before the session could see them) are read with FilterLogEvents
/// first, so the history and the stream meet without a gap; an event both there and in the
/// stream's first updates shows once.
pub async fn live_tail(
    client: &Client,
    sources: &[Source],
    pattern: Option<&str>,
    start: i64,
    seen: &mut Seen,
    show: &mut dyn FnMut(Vec<LogEvent>) -> bool,
) -> Result<Tail, Error> {
    let answer = client
        .start_live_tail()
        .set_log_group_identifiers(Some(sources.iter().map(|s| s.arn.clone()).collect()))
        .set_log_event_filter_pattern(pattern.map(str::to_owned))
        .send()
        .await;
    let mut stream = match answer {
        Ok(answer) => answer.response_stream,
        Err(e) => return Ok(Tail::Unavailable(reason(&e))),
    };
    let source_of = |identifier: &str| {
        sources
            .iter()
            .find(|s| s.arn == identifier || s.log_group == identifier)
    };
    let mut started = false;
    loop {
        let event = match stream.recv().await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(Tail::Ended),
            Err(e) if !started => return Ok(Tail::Unavailable(reason(&e))),
            Err(e) if e.code() == Some("SessionTimeoutException") => return Ok(Tail::Ended),
            Err(e) => {
                return Err(aws_error(
                    "the Live Tail session of the log groups broke",
                    &e,
                ));
            }
        };
        match event {
            StartLiveTailResponseStream::SessionStart(_) => {
                started = true;
                let batch = new_events(client, sources, start, pattern, seen).await?;
                if !batch.is_empty() && !show(batch) {
                    return Ok(Tail::Stopped);
                }
            }
            StartLiveTailResponseStream::SessionUpdate(update) => {
                started = true;
                let mut batch: Vec<LogEvent> = update
                    .session_results()
                    .iter()
                    .filter_map(|e| {
                        let source = source_of(e.log_group_identifier().unwrap_or_default())?;
                        Some(LogEvent {
                            function: source.function.clone(),
                            log_group: source.log_group.clone(),
                            log_stream: e.log_stream_name().unwrap_or_default().to_owned(),
                            timestamp: e.timestamp().unwrap_or_default(),
                            message: e.message().unwrap_or_default().to_owned(),
                            event_id: None,
                        })
                    })
                    .filter(|e| seen.first_time(e))
                    .collect();
                interleave(&mut batch);
                if !batch.is_empty() && !show(batch) {
                    return Ok(Tail::Stopped);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_groups_are_named_as_the_template_names_them() {
        let all = sources("noteapp-staging", "eu-west-1", "123456789012", &[]);
        assert_eq!(all.len(), Function::ALL.len());
        assert_eq!(all[0].log_group, "/aws/lambda/noteapp-staging-api");
        assert_eq!(
            all[0].arn,
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/noteapp-staging-api"
        );
        let template = include_str!("../../../templates/noteapp.yaml");
        for source in &all {
            let name = source
                .log_group
                .replace("noteapp-staging", "${AWS::StackName}");
            assert!(
                template.contains(&format!("LogGroupName: !Sub {name}\n")),
                "{name}"
            );
        }
        let one = sources("s", "cn-north-1", "1", &["ws-default".to_owned()]);
        assert_eq!(one.len(), 1);
        assert!(one[0].arn.starts_with("arn:aws-cn:logs:cn-north-1:1:"));
    }

    #[test]
    fn an_event_polled_again_is_shown_once_until_forgotten() {
        let event = LogEvent {
            function: "api".into(),
            log_group: "g".into(),
            log_stream: "s".into(),
            timestamp: 1000,
            message: "m".into(),
            event_id: Some("1".into()),
        };
        let mut seen = Seen::default();
        assert!(seen.first_time(&event));
        assert!(!seen.first_time(&event));
        let streamed = LogEvent {
            event_id: None,
            ..event.clone()
        };
        assert!(!seen.first_time(&streamed), "the same line from Live Tail");
        let other = LogEvent {
            message: "n".into(),
            ..streamed.clone()
        };
        assert!(
            seen.first_time(&other) && seen.first_time(&other),
            "never remembered"
        );
        assert_eq!(seen.newest, 1000);
        seen.forget_before(1001);
        assert!(seen.first_time(&event));
    }
}
