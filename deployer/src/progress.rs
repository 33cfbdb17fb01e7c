//! What a running command tells the person at the terminal, all on stderr: lines that stay
//! (the diff, stack events, warnings) and one transient status ("waiting for change set…"), drawn
//! as an `indicatif` spinner on a terminal and as plain lines, each status once, when stderr is a
//! pipe or a CI log. It also asks the questions a deploy or destroy needs answered on stdin, and
//! knows when nobody can answer them. Tests capture the same lines in memory.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;

/// The stderr display of one command.
pub struct Progress {
    sink: Sink,
    last_status: Mutex<Option<String>>,
}

enum Sink {
    /// A terminal: a spinner, created on the first status and cleared before a question.
    Terminal(Mutex<Option<ProgressBar>>),
    /// A pipe or log file: plain lines.
    Plain,
    /// Tests: the lines, in order.
    Captured(Arc<Mutex<Vec<String>>>),
}

/// The lines a captured [`Progress`] received.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    /// Every line received so far, in order, joined with newlines.
    pub fn text(&self) -> String {
        self.0.lock().expect("lines").join("\n")
    }
}

impl Progress {
    /// A spinner when stderr is a terminal, plain lines otherwise.
    pub fn stderr() -> Self {
        let sink = if std::io::stderr().is_terminal() {
            Sink::Terminal(Mutex::new(None))
        } else {
            Sink::Plain
        };
        Self {
            sink,
            last_status: Mutex::new(None),
        }
    }

    /// A display that keeps its lines for a test to read.
    pub fn captured() -> (Self, Captured) {
        let lines = Captured::default();
        let sink = Sink::Captured(lines.0.clone());
        (
            Self {
                sink,
                last_status: Mutex::new(None),
            },
            lines,
        )
    }

    /// A line that stays (every line of a multi-line text).
    pub fn line(&self, text: impl std::fmt::Display) {
        let text = text.to_string();
        for line in text.trim_end_matches('\n').split('\n') {
            match &self.sink {
                Sink::Terminal(bar) => match &*bar.lock().expect("bar") {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                },
                Sink::Plain => eprintln!("{line}"),
                Sink::Captured(lines) => lines.lock().expect("lines").push(line.to_owned()),
            }
        }
    }

    /// The one transient status; in plain mode printed once per distinct status.
    pub fn status(&self, text: impl Into<String>) {
        let text = text.into();
        let mut last = self.last_status.lock().expect("status");
        if last.as_deref() == Some(&text) {
            return;
        }
        *last = Some(text.clone());
        drop(last);
        match &self.sink {
            Sink::Terminal(bar) => {
                let mut bar = bar.lock().expect("bar");
                let bar = bar.get_or_insert_with(|| {
                    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(text);
            }
            Sink::Plain => eprintln!("{text}"),
            Sink::Captured(lines) => lines.lock().expect("lines").push(text),
        }
    }

    /// Removes the spinner (before a question, and when the command ends).
    pub fn clear(&self) {
        if let Sink::Terminal(bar) = &self.sink
            && let Some(bar) = bar.lock().expect("bar").take()
        {
            bar.finish_and_clear();
        }
        *self.last_status.lock().expect("status") = None;
    }
}

/// Who answers the questions a command asks.
pub enum Prompt {
    /// A person at the terminal, on stdin.
    Terminal,
    /// Nobody: stdin is not a terminal (CI, a pipe).
    Closed,
    /// Tests: the answers, in order.
    Scripted(Mutex<VecDeque<String>>),
}

impl Prompt {
    /// A person when stdin is a terminal, nobody otherwise.
    pub fn stdin() -> Self {
        if std::io::stdin().is_terminal() {
            Prompt::Terminal
        } else {
            Prompt::Closed
        }
    }

    /// Answers given in advance, in order (tests).
    pub fn answers(answers: &[&str]) -> Self {
        Prompt::Scripted(Mutex::new(
            answers.iter().map(|a| (*a).to_owned()).collect(),
        ))
    }

    /// Asks `question` on stderr and reads one line; `None` when nobody can answer.
    pub async fn ask(&self, progress: &Progress, question: &str) -> Result<Option<String>, Error> {
        match self {
            Prompt::Closed => Ok(None),
            Prompt::Scripted(answers) => {
                progress.line(question);
                Ok(answers.lock().expect("answers").pop_front())
            }
            Prompt::Terminal => {
                progress.clear();
                eprint!("{question} ");
                let _ = std::io::stderr().flush();
                // A detached thread, not `spawn_blocking`: after Ctrl-C at the question the
                // runtime must not wait on a read that only Enter ends.
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    let mut line = String::new();
                    let read = std::io::stdin().lock().read_line(&mut line);
                    let _ = tx.send(read.map(|n| (n > 0).then_some(line)));
                });
                let line = rx.await.map_err(std::io::Error::other)??;
                Ok(line.map(|l| l.trim().to_owned()))
            }
        }
    }
}
