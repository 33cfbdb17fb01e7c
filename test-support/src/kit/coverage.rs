//! The coverage log: every identity a test registers, with its policies' statements, and every
//! decision, appended as lines to one file per test process under `<target>/iam-coverage/`
//! (beside the test binary's own directory, or `$NOTEAPP_IAM_COVERAGE`), so that `iam-coverage`
//! can report over a whole run: the distinct (identity, action) pairs exercised, and each
//! statement no request relied on.
//!
//! Lines are tab-separated: `statement IDENTITY POLICY STATEMENT` when an identity is
//! registered (POLICY: the policy's shape, a hash of its statements' labels; STATEMENT: its Sid or `#index`), and
//! `allowed IDENTITY ACTION POLICY STATEMENT` for each statement that alone
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
    // target/debug/deps/<test binary> or target/debug/<binary> → target/iam-coverage
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let mut profile = exe.parent()?;
            if profile.file_name().is_some_and(|n| n == "deps") {
                profile = profile.parent()?;
            }
            Some(profile.parent()?.join("iam-coverage"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("noteapp-iam-coverage"))
}

fn append(lines: &[String]) {
    // The kit's own tests register toy identities: they are not the project's.
    if cfg!(test) {
        return;
    }
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

/// The policy's shape: a hash of its statements' labels, the same for one policy rendered for
/// other names (the deploy policy of staging and of production, the deployer's and the CI
/// role's), so a statement counts as exercised whichever of them a test used.
fn shape(policy: &Value) -> String {
    let labels: Vec<String> = (0..statements(policy).len())
        .map(|i| label(policy, i))
        .collect();
    let text = if labels.iter().all(|l| l.starts_with('#')) {
        policy.to_string()
    } else {
        labels.join(",")
    };
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash >> 32)
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
    for policy in &identity.policies {
        let shape = shape(policy);
        for index in 0..statements(policy).len() {
            lines.push(format!(
                "statement\t{}\t{shape}\t{}\n",
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
    for policy in policies {
        let p = shape(policy);
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
