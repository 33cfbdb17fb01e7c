//! `iam-coverage [DIR]`: what a test run asked of IAM, from the kit's coverage log
//! (`<target>/iam-coverage/*.tsv`, see `kit::coverage`): the distinct (identity, action) pairs
//! the tests exercised, each policy statement no request relied on (which either gets a test or
//! goes), and the refusals. `--check` exits 1 when a statement went unexercised.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    args.retain(|a| a != "--check");
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(noteapp_test_support::kit::coverage::directory);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "iam-coverage: no coverage log in {} (run the tests first)",
            dir.display()
        );
        std::process::exit(2);
    };
    // (policy shape, statement) → the identities holding it; those some request relied on.
    let mut declared: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut used = BTreeSet::new();
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut denied = BTreeSet::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["statement", identity, policy, statement] => {
                    let key = (policy.to_string(), statement.to_string());
                    declared
                        .entry(key)
                        .or_default()
                        .insert(identity.to_string());
                }
                ["allowed", identity, action, policy, statement] => {
                    *pairs
                        .entry((identity.to_string(), action.to_string()))
                        .or_default() += 1;
                    used.insert((policy.to_string(), statement.to_string()));
                }
                ["denied", identity, action, resource] => {
                    denied.insert(format!("{identity} {action} {resource}"));
                }
                _ => {}
            }
        }
    }
    let identities: BTreeSet<&str> = pairs.keys().map(|(i, _)| i.as_str()).collect();
    println!(
        "{} distinct (identity, action) pairs exercised, by {} identities:",
        pairs.len(),
        identities.len()
    );
    for identity in &identities {
        let actions: Vec<&str> = pairs
            .keys()
            .filter(|(i, _)| i == identity)
            .map(|(_, a)| a.as_str())
            .collect();
        println!("  {identity} ({}): {}", actions.len(), actions.join(", "));
    }
    let unused: Vec<_> = declared
        .iter()
        .filter(|(key, _)| !used.contains(*key))
        .collect();
    println!(
        "{} of {} policy statements no test exercised:",
        unused.len(),
        declared.len()
    );
    for ((policy, statement), holders) in &unused {
        let holders: Vec<&str> = holders.iter().map(String::as_str).collect();
        println!(
            "  {statement} (policy {policy}, held by {})",
            holders.join(", ")
        );
    }
    println!(
        "{} distinct refusals (each one a test that means it):",
        denied.len()
    );
    for refusal in &denied {
        println!("  {refusal}");
    }
    if check && !unused.is_empty() {
        std::process::exit(1);
    }
}
