//! `noteapp logs ENV [--function F] [--since 10m|1h|ISO] [--follow] [--filter TEXT]
//! [--request-id ID] [--json]`: the functions' logs, every group interleaved by time.
//!
//! The runtime writes JSON lines (`tracing`'s format: time, level, fields with the message, the
//! Lambda invoke span with its request id); they are rendered for people as time, function,
//! level, request id, message, then the other fields. Lambda's platform lines (`START`, `END`,
//! `REPORT` with the duration and memory, `INIT_START`) are kept, their request id in the same
//! column. `--json` prints one object per event instead. `--filter` and `--request-id` are exact,
//! case-sensitive text matches: the first is sent as a quoted term of a CloudWatch filter pattern
//! to narrow what the service returns, and both are checked here again. `--follow` then streams
//! new events through a Live Tail session, or polls FilterLogEvents where Live Tail is not
//! available (an endpoint without it, a policy that does not allow it). Colour only when stdout is
//! a terminal and `NO_COLOR` is unset or empty.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::aws::logs::{self, FUNCTIONS, LogEvent, Seen, Source, Tail};
use crate::commands::args::EnvArgs;
use crate::error::Error;
use crate::progress::Progress;

/// `noteapp logs ENV [--function F]… [--since WHEN] [--follow] [--filter TEXT] [--request-id ID]
/// [--json]`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The environment whose functions' logs are read.
    #[command(flatten)]
    pub env: EnvArgs,
    /// Only this function's logs (repeatable; default: every function).
    #[arg(long, value_name = "FUNCTION", value_parser = clap::builder::PossibleValuesParser::new(FUNCTIONS))]
    pub function: Vec<String>,
    /// Start this far back (30s, 10m, 1h, 2d) or at this time (2026-11-05T09:00:00Z).
    #[arg(long, value_name = "WHEN", default_value = "10m")]
    pub since: String,
    /// Keep printing new events as they are written, until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// Only events containing TEXT (exact, case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Only the events of one invocation.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// One JSON object per event on stdout, for machines.
    #[arg(long)]
    pub json: bool,
    /// Seconds between two polls when following without Live Tail.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub poll_interval: f64,
}

/// What to show, resolved from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The log groups read: those of `--function`, else every function's.
    pub sources: Vec<Source>,
    /// Milliseconds since the epoch.
    pub start: i64,
    /// `--filter`: only events whose line contains this text.
    pub filter: Option<String>,
    /// `--request-id`: only events whose line contains this id.
    pub request_id: Option<String>,
}

impl Query {
    /// The filter pattern sent to CloudWatch: one quoted term, the text or else the request id.
    pub fn pattern(&self) -> Option<String> {
        let term = self.filter.as_ref().or(self.request_id.as_ref())?;
        Some(format!("\"{}\"", term.replace('"', "\\\"")))
    }

    /// Whether `event` passes `--filter` and `--request-id` (checked here too: a service whose
    /// patterns differ must not widen the answer).
    pub fn keeps(&self, event: &LogEvent) -> bool {
        let has = |text: &Option<String>| text.as_ref().is_none_or(|t| event.message.contains(t));
        has(&self.filter) && has(&self.request_id)
    }
}

/// `--since`: a duration back from `now` (`45s`, `10m`, `1h`, `2d`) or an RFC 3339 time (a time
/// without an offset is UTC); milliseconds since the epoch.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<i64, Error> {
    let text = text.trim();
    let unit = text.chars().last().unwrap_or(' ');
    let number = &text[..text.len().saturating_sub(unit.len_utf8())];
    let seconds = match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86400),
        _ => None,
    };
    if let (Some(per), Ok(n)) = (seconds, number.parse::<i64>()) {
        return Ok((now - chrono::Duration::seconds(n.saturating_mul(per))).timestamp_millis());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(Error::Usage(format!(
        "--since {text}: give a duration back from now (30s, 10m, 1h, 2d) or a time \
         (2026-11-05T09:00:00Z)"
    )))
}

/// One event, understood: what a person reads and what `--json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// RFC 3339 UTC, milliseconds.
    pub timestamp: String,
    /// The function, as `--function` names it.
    pub function: String,
    /// Its log group.
    pub log_group: String,
    /// The stream the event was written to (one per execution environment).
    pub log_stream: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`; null for platform and plain lines.
    pub level: Option<String>,
    /// The invocation's request id: a runtime line's span's, or a platform line's `RequestId`;
    /// null otherwise.
    pub request_id: Option<String>,
    /// A runtime line's message, a platform line's word and details, or a plain line as written.
    pub message: String,
    /// The runtime line's other fields (its span's too), in order of name.
    pub fields: BTreeMap<String, Value>,
    /// `START`, `END`, `REPORT`, `INIT_START`… for Lambda's own lines; null otherwise.
    pub platform: Option<String>,
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads one event: a runtime JSON line, a Lambda platform line, or plain text.
pub fn parse(event: &LogEvent) -> Entry {
    let time = DateTime::<Utc>::from_timestamp_millis(event.timestamp).unwrap_or_default();
    let mut entry = Entry {
        timestamp: time.to_rfc3339_opts(SecondsFormat::Millis, true),
        function: event.function.clone(),
        log_group: event.log_group.clone(),
        log_stream: event.log_stream.clone(),
        level: None,
        request_id: None,
        message: event.message.trim_end().to_owned(),
        fields: BTreeMap::new(),
        platform: None,
    };
    let line = event.message.trim();
    if let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(line) {
        entry.level = object.remove("level").map(|l| text_of(&l).to_uppercase());
        if let Some(Value::Object(mut fields)) = object.remove("fields") {
            entry.message = fields
                .remove("message")
                .map(|m| text_of(&m))
                .unwrap_or_default();
            entry.fields.extend(fields);
        } else if let Some(message) = object.remove("message") {
            entry.message = text_of(&message);
        }
        if let Some(Value::Object(mut span)) = object.remove("span") {
            entry.request_id = span.remove("requestId").map(|r| text_of(&r));
            span.remove("name");
            span.remove("xrayTraceId");
            entry.fields.extend(span);
        }
        object.remove("timestamp");
        object.remove("target");
        object.remove("spans");
        entry.fields.extend(object);
        return entry;
    }
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    if matches!(
        word,
        "START" | "END" | "REPORT" | "INIT_START" | "INIT_REPORT" | "EXTENSION" | "TELEMETRY"
    ) {
        entry.platform = Some(word.to_owned());
        let mut rest = rest.trim();
        if let Some(after) = rest.strip_prefix("RequestId: ") {
            let (id, tail) = after
                .split_once(|c: char| c.is_whitespace())
                .unwrap_or((after, ""));
            entry.request_id = Some(id.to_owned());
            rest = tail.trim();
        }
        let details: Vec<&str> = rest
            .split('\t')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        entry.message = if details.is_empty() {
            word.to_owned()
        } else {
            format!("{word} {}", details.join(", "))
        };
    }
    entry
}

/// The ANSI colour of a level.
fn level_colour(level: &str) -> &'static str {
    match level {
        "ERROR" => "31",
        "WARN" => "33",
        "INFO" => "32",
        "DEBUG" => "34",
        _ => "2",
    }
}

/// One line for people: `time function level request-id message key=value…`.
pub fn render(entry: &Entry, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let time = entry
        .timestamp
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned();
    let level = entry.level.as_deref().unwrap_or("-");
    let mut line = format!(
        "{} {} {} {} {}",
        paint("2", &time),
        paint("36", &format!("{:<13}", entry.function)),
        paint(level_colour(level), &format!("{level:<5}")),
        entry.request_id.as_deref().unwrap_or("-"),
        entry.message,
    );
    for (key, value) in &entry.fields {
        line.push(' ');
        line.push_str(&paint("2", &format!("{key}=")));
        line.push_str(&text_of(value));
    }
    line
}

/// How events reach stdout; false once stdout is closed.
pub struct Printer {
    /// `--json`: one JSON object per event, else one line for people.
    pub json: bool,
    /// Colour the lines for people (`--color`, `NO_COLOR` and whether stdout is a terminal).
    pub colour: bool,
    /// What to show.
    pub query: Query,
}

impl Printer {
    /// The lines `events` print as (those the query keeps).
    pub fn lines(&self, events: &[LogEvent]) -> Vec<String> {
        events
            .iter()
            .filter(|e| self.query.keeps(e))
            .map(|e| {
                let entry = parse(e);
                if self.json {
                    serde_json::to_string(&entry).unwrap_or_default()
                } else {
                    render(&entry, self.colour)
                }
            })
            .collect()
    }

    /// Prints `events`; false when stdout is gone (a closed pipe ends the command quietly).
    pub fn print(&self, events: &[LogEvent]) -> bool {
        let mut out = std::io::stdout().lock();
        for line in self.lines(events) {
            if writeln!(out, "{line}").is_err() {
                return false;
            }
        }
        out.flush().is_ok()
    }
}

/// Runs `noteapp logs`: the events since `--since`, then, with `--follow`, new ones until Ctrl-C
/// or stdout closes.
pub async fn run(args: LogsArgs) -> Result<(), Error> {
    let loaded = args.env.load_deployable()?;
    let config = &loaded.config;
    let query = Query {
        sources: logs::sources(
            &config.stack_name,
            &config.region,
            &config.account_id,
            &args.function,
        ),
        start: parse_since(&args.since, Utc::now())?,
        filter: args.filter.clone(),
        request_id: args.request_id.clone(),
    };
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    progress.clear();
    let clients = clients?;
    let printer = Printer {
        json: args.json,
        colour: crate::output::colour_on(std::io::stdout().is_terminal()),
        query,
    };
    let interval = Duration::from_secs_f64(args.poll_interval.clamp(0.1, 600.0));
    let shown = show(&clients.logs, &printer, args.follow, interval, &progress);
    tokio::select! {
        result = shown => result,
        () = crate::interrupt::ctrl_c() => Ok(()),
    }
}

/// Prints the history, then (`follow`) new events until stdout closes.
pub async fn show(
    client: &Client,
    printer: &Printer,
    follow: bool,
    interval: Duration,
    progress: &Progress,
) -> Result<(), Error> {
    let query = &printer.query;
    let pattern = query.pattern();
    let history = logs::history(client, &query.sources, query.start, pattern.as_deref()).await?;
    if !printer.print(&history) || !follow {
        return Ok(());
    }
    let mut print = |batch: Vec<LogEvent>| printer.print(&batch);
    follow_events(client, query, &history, interval, progress, &mut print).await
}

/// Follows new events after `history`: Live Tail sessions one after another (each catching up
/// on what was written before it started), or polling once Live Tail turns out not to be
/// available.
pub async fn follow_events(
    client: &Client,
    query: &Query,
    history: &[LogEvent],
    interval: Duration,
    progress: &Progress,
    show: &mut dyn FnMut(Vec<LogEvent>) -> bool,
) -> Result<(), Error> {
    let pattern = query.pattern();
    let pattern = pattern.as_deref();
    let mut seen = Seen::starting_at(query.start);
    for event in history {
        seen.first_time(event);
    }
    let (sources, start) = (&query.sources, query.start);
    loop {
        match logs::live_tail(client, sources, pattern, start, &mut seen, show).await? {
            Tail::Stopped => return Ok(()),
            Tail::Ended => continue,
            Tail::Unavailable(reason) => {
                progress.line(format!(
                    "Live Tail is not available ({reason}); polling the log groups every {:.1} s",
                    interval.as_secs_f64()
                ));
                break;
            }
        }
    }
    logs::poll(client, sources, start, pattern, interval, &mut seen, show).await
}

#[cfg(test)]
mod tests;
