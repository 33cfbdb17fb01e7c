//! How results are printed. Every command's result is a report type beside the code that makes
//! it (a flow's report in its flow, a command's in its command), `Serialize` for `--json` and
//! `Display` for people, printed once on stdout by [`emit`] when the command ends (progress went
//! to stderr meanwhile).
//!
//! JSON shapes (stable; fields are only ever added):
//! - `deploy`: `{"environment", "stack_name", "result": "created"|"updated"|"unchanged"|"failed",
//!   "change_set": string|null, "changes": [Change], "stack_status": string|null,
//!   "outputs": {key: value}, "failures": [Event], "imported_tables": [table name],
//!   "release": Release|null, "smoke": Smoke|null, "rollback": {"to", "release", "result",
//!   "stack_status", "smoke_passed", "error"}|null}`
//! - `history`: `{"environment", "stack_name", "live": number|null, "releases": [Release and
//!   "live": bool, "image_present": bool|null]}`, newest first
//! - `smoke`: Smoke, that is `{"passed", "millis", "checks": [{"name": "healthz"|"websocket"|
//!   "broadcast", "url", "passed", "status": number|null, "detail", "millis"}]}`
//! - `diff`: `{"environment", "stack_name", "action": "create"|"update"|"none", "changes": [Change],
//!   "blocked": [logical id]}`
//! - `outputs`: `{key: value}`, the stack outputs as one flat object (`jq -r .WebSocketURL`).
//! - `status`: `{"environment", "stack_name", "exists", "status": string|null,
//!   "status_reason": string|null, "created": string|null, "last_updated": string|null,
//!   "recent_failures": [Event], "failed_broadcasts": number|null}`
//! - `destroy`: `{"environment", "stack_name", "result": "deleted"|"absent",
//!   "retained_tables": [table name]}`
//! - `ci bootstrap`: `{"role_arn", "subject", "provider", "deploy": <deploy>}`
//! - `drift`: `{"environment", "stack_name", "status": "IN_SYNC"|"DRIFTED", "resources":
//!   [{"logical_id", "physical_id": string|null, "resource_type", "drift": "MODIFIED"|"DELETED",
//!   "differences": [{"path", "expected", "actual", "kind": "ADD"|"REMOVE"|"NOT_EQUAL"}]}]}`
//!
//! where `Release` is `{"sequence", "commit": string|null, "dirty", "image_uri", "image_digest",
//! "template_sha256", "parameters": {key: value}, "time", "deployed_by", "result",
//! "rollback_of"?: number}`, `Change` is `{"action", "logical_id", "physical_id": string|null, "resource_type",
//! "replacement": "True"|"False"|"Conditional"|null, "properties": [name]}` and `Event` is
//! `{"timestamp", "logical_id", "resource_type", "status", "reason": string|null}`; times are
//! RFC 3339 UTC.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

use serde::Serialize;

use crate::error::Error;

/// Prints a result on stdout, as JSON or as text; a closed pipe is not an error.
pub fn emit<T: Serialize + fmt::Display>(result: &T, json: bool) -> Result<(), Error> {
    let text = if json {
        serde_json::to_string_pretty(result).map_err(std::io::Error::other)? + "\n"
    } else {
        result.to_string()
    };
    write_stdout(&text)
}

/// Writes `text` on stdout as it is; a closed pipe (`noteapp … | head`) is not an error.
pub fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes `map` as aligned `key  value` lines, indented by two spaces.
pub fn write_map(f: &mut fmt::Formatter<'_>, map: &BTreeMap<String, String>) -> fmt::Result {
    let width = map.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in map {
        writeln!(f, "  {key:width$}  {value}")?;
    }
    Ok(())
}

/// `--color`: whether noteapp's own output (the log lines on stderr, `noteapp logs`) is coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set (no-color.org).
    #[default]
    Auto,
    /// Always colour, even into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Sets the process's colour choice once, from `--color` (later calls are ignored).
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Whether output to a stream that `is_terminal` (or not) is coloured under the process's
/// `--color` and the environment's `NO_COLOR`.
pub fn colour_on(is_terminal: bool) -> bool {
    let no_color = std::env::var("NO_COLOR").ok();
    colour(
        COLOR.get().copied().unwrap_or_default(),
        is_terminal,
        no_color.as_deref(),
    )
}

/// The colour rule: `always` and `never` say it; `auto` colours a terminal when `NO_COLOR` is
/// unset or empty.
pub fn colour(choice: ColorChoice, is_terminal: bool, no_color: Option<&str>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color_unless_told() {
        let auto = ColorChoice::Auto;
        assert!(colour(auto, true, None));
        assert!(colour(auto, true, Some("")));
        assert!(!colour(auto, true, Some("1")));
        assert!(!colour(auto, false, None));
        assert!(colour(ColorChoice::Always, false, Some("1")));
        assert!(!colour(ColorChoice::Never, true, None));
    }
}
