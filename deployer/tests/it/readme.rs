//! The README's "Who needs what" table against the policies as rendered: every statement of the
//! deploy policy, the bootstrap policy and each function's role is in it, by its Sid. And its
//! tree against the checkout's folders.

/// The README's text from the first `start` to the next `end` after it.
fn readme_section(start: &str, end: &str) -> String {
    let readme = std::fs::read_to_string(noteapp_test_support::workspace().join("README.md"))
        .expect("README.md");
    readme
        .split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .unwrap_or_else(|| panic!("README has {start}"))
        .to_owned()
}

fn sids(policy: &serde_json::Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["Sid"]
                .as_str()
                .expect("every statement has a Sid")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_who_needs_what_table_names_every_statement_of_every_identity() {
    let root = noteapp_test_support::workspace();
    let table = readme_section("**Who needs what.**", "**3. The first deploy.**");
    let scope = noteapp::policy::Scope {
        region: "eu-west-1".into(),
        account: "123456789012".into(),
        stack: "noteapp-staging".into(),
        repository: "noteapp".into(),
    };
    let mut statements = sids(&noteapp::policy::deploy_policy(&scope));
    statements.extend(sids(&noteapp::policy::bootstrap_policy(&scope)));
    let template = std::fs::read_to_string(root.join("templates/noteapp.yaml")).unwrap();
    statements.extend(
        template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- Sid: "))
            .map(str::to_owned),
    );
    assert!(statements.len() > 30, "{statements:?}");
    let missing: Vec<&String> = statements
        .iter()
        .filter(|sid| !table.contains(&format!("`{sid}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's Who needs what table lacks: {missing:?}"
    );
}

#[test]
fn the_readme_tree_lists_every_folder_of_the_checkout_and_no_other() {
    let root = noteapp_test_support::workspace();
    let section = readme_section("## The tree", "\n## ");
    let listed: std::collections::BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once("/`"))
        .map(|(folder, _)| folder.to_owned())
        .collect();
    let files = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .output()
        .expect("git");
    assert!(files.status.success());
    let folders: std::collections::BTreeSet<String> = String::from_utf8_lossy(&files.stdout)
        .lines()
        .filter_map(|f| std::path::Path::new(f).parent())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let missing: Vec<_> = folders.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&folders).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README's tree: add {missing:?}, remove {stale:?}"
    );
}
