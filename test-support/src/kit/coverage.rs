//! The coverage log: every identity a test registers, with its policies' statements, and every
//! decision, appended as lines to one file per test process under `<target>/iam-coverage/`
//! (beside the test binary's own directory, or `$NOTEAPP_IAM_COVERAGE`), so that `iam-coverage`
//! can report over a whole run: the distinct (identity, action) pairs exercised, and each
//! statement no request relied on.
//!
//! Lines are tab-separated: `statement IDENTITY POLICY STATEMENT` when an identity is
//! registered, and `allowed IDENTITY ACTION POLICY STATEMENT` for each statement that alone
//! allows a decided request (so a statement shadowed by an earlier one still counts), or
//! `denied IDENTITY ACTION RESOURCE` for a refusal.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Call, Identity};
use crate::iam::{self, Evaluation, Request};

/// The directory the log goes to.
pub fn directory() -> PathBuf {
    if let Some(dir) = std::env::var_os("NOTEAPP_IAM_COVERAGE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // target/debug/deps/<binary> → target/iam-coverage
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("iam-coverage")))
        .unwrap_or_else(|| std::env::temp_dir().join("noteapp-iam-coverage"))
}

fn append(lines: &[String]) {
    let dir = directory();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join(format!("{}.tsv", std::process::id()));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(lines.concat().as_bytes());
    }
}

/// The label of statement `index` of `policy`: its Sid, else its position.
fn label(policy: &Value, index: usize) -> String {
    policy["Statement"][index]["Sid"]
        .as_str()
        .map_or_else(|| format!("#{index}"), str::to_owned)
}

fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Records `identity`'s statements.
pub(super) fn declare(identity: &Identity) {
    let mut lines = Vec::new();
    for (p, policy) in identity.policies.iter().enumerate() {
        for index in 0..statements(policy).len() {
            lines.push(format!(
                "statement\t{}\t{p}\t{}\n",
                identity.name,
                label(policy, index)
            ));
        }
    }
    append(&lines);
}

/// Records the decision of `call`: the statements that alone allow it, or the refusal.
pub(super) fn decided(
    identity: &Identity,
    call: &Call,
    evaluation: &Evaluation,
    policies: &[&Value],
    request: &Request,
) {
    if !evaluation.is_allowed() {
        append(&[format!(
            "denied\t{}\t{}\t{}\n",
            identity.name, call.action, call.resource
        )]);
        return;
    }
    let mut lines = Vec::new();
    for (p, policy) in policies.iter().enumerate() {
        for (index, statement) in statements(policy).into_iter().enumerate() {
            if statement["Effect"] != "Allow" {
                continue;
            }
            let alone = json!({"Version": "2012-10-17", "Statement": [statement]});
            if iam::evaluate(&[&alone], None, request).is_ok_and(|e| e.is_allowed()) {
                lines.push(format!(
                    "allowed\t{}\t{}\t{p}\t{}\n",
                    identity.name,
                    call.action,
                    label(policy, index)
                ));
            }
        }
    }
    if lines.is_empty() {
        // Allowed by a resource policy alone.
        lines.push(format!(
            "allowed\t{}\t{}\tresource\t-\n",
            identity.name, call.action
        ));
    }
    append(&lines);
}
