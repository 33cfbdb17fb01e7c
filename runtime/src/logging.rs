//! Logging setup: JSON lines in Lambda (with the request id from the runtime's span), plain text
//! for people running `noteapp local`.
//!
//! `LOG_LEVEL` sets the level of this workspace's own code only. Every other crate is capped at
//! `info` whatever it says, because below that they write what must never reach a log:
//! `lambda_runtime` writes each raw invocation event at `trace` (an `Authorization` header, a
//! `$connect` URL's `?token=`, a body with an email), the AWS SDK each signed request with its
//! headers and body, and hyper, h2 and reqwest what crosses the wire. Our own code never logs a
//! token, a header value, a query string, a claim or a request body, at any level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::LogLevel;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, with the current span (the request id in Lambda): the
    /// functions' format, which CloudWatch and `noteapp logs` read.
    Json,
    /// Plain lines for people (`noteapp`, `bootstrap local`); `ansi` colours the levels.
    Text {
        /// Whether to colour (the caller decides: a terminal, `NO_COLOR`, `--color`).
        ansi: bool,
    },
}

impl LogFormat {
    /// Text, coloured when stderr is a terminal and `NO_COLOR` is unset or empty.
    pub fn text_for_stderr() -> Self {
        let no_color = std::env::var("NO_COLOR").is_ok_and(|v| !v.is_empty());
        LogFormat::Text {
            ansi: std::io::stderr().is_terminal() && !no_color,
        }
    }
}

/// The targets whose events this workspace writes (`noteapp` also covers `noteapp_runtime`:
/// directives match target prefixes); only these follow `LOG_LEVEL` below `info`.
const OWN_TARGETS: [&str; 2] = ["noteapp", "bootstrap"];

/// Chatty even at `info`: kept at `warn`.
const QUIET_TARGETS: [&str; 3] = ["aws_smithy_runtime", "aws_config", "hyper"];

/// The filter directives for `level`: our targets at `level`, every other crate at `level` or
/// `info`, whichever is less verbose (and the quiet ones at `warn` at most).
pub fn directives(level: LogLevel) -> String {
    let capped = |cap: LogLevel| std::cmp::min(level, cap).as_str();
    let mut out = vec![capped(LogLevel::Info).to_owned()];
    out.extend(OWN_TARGETS.iter().map(|t| format!("{t}={level}")));
    out.extend(
        QUIET_TARGETS
            .iter()
            .map(|t| format!("{t}={}", capped(LogLevel::Warn))),
    );
    out.join(",")
}

/// Installs the global subscriber at `level`; later calls are ignored.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = EnvFilter::try_new(directives(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text { ansi } => builder.with_target(false).with_ansi(ansi).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What reaches the log at `level` when each target writes at `trace` and at `info`.
    fn written(level: LogLevel) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_new(directives(level)).unwrap())
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", "raw-event");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "signed-request");
            tracing::trace!(target: "aws_sigv4::http_request::sign", "canonical-request");
            tracing::debug!(target: "h2::codec", "frame");
            tracing::info!(target: "lambda_runtime::runtime", "runtime-info");
            tracing::trace!(target: "noteapp_runtime::ws::fanout", "own-trace");
            tracing::trace!(target: "bootstrap", "bootstrap-trace");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn other_crates_never_log_below_info_whatever_the_level() {
        let trace = written(LogLevel::Trace);
        for hidden in ["raw-event", "signed-request", "canonical-request", "frame"] {
            assert!(!trace.contains(hidden), "{hidden} was written: {trace}");
        }
        for shown in ["runtime-info", "own-trace", "bootstrap-trace"] {
            assert!(trace.contains(shown), "{shown} was not written: {trace}");
        }
        let warn = written(LogLevel::Warn);
        assert!(warn.is_empty(), "{warn}");
    }

    #[test]
    fn the_quiet_crates_stay_at_warn_or_less() {
        assert_eq!(
            directives(LogLevel::Error),
            "error,noteapp=error,bootstrap=error,aws_smithy_runtime=error,aws_config=error,hyper=error"
        );
        assert_eq!(
            directives(LogLevel::Trace),
            "info,noteapp=trace,bootstrap=trace,aws_smithy_runtime=warn,aws_config=warn,hyper=warn"
        );
    }
}
