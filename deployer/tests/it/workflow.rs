//! The shipped GitHub Actions workflow (`.github/workflows/deploy.yml`): it parses as YAML, asks
//! for the OIDC token (`id-token: write`), signs in with `aws-actions/configure-aws-credentials`
//! and a role, deploys staging from main and production through its GitHub Environment, and every
//! `noteapp …` command it runs (or tells the reader to run) is one the CLI accepts, flags and
//! all, as clap parses it.

use serde_norway::Value;

fn workflow() -> (String, Value) {
    let path = noteapp_test_support::workspace().join(".github/workflows/deploy.yml");
    let text = std::fs::read_to_string(&path).expect("the workflow is shipped");
    let yaml = serde_norway::from_str(&text).expect("the workflow is YAML");
    (text, yaml)
}

/// Every `noteapp …` command in `script`, as its words (to the end of the command).
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in script.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("noteapp ") {
            let before = rest[..at].chars().last();
            rest = &rest[at..];
            let end = rest.find(['|', ')', ';', '&', '#']).unwrap_or(rest.len());
            if before.is_none_or(|c| c.is_whitespace() || c == '(' || c == '/') {
                found.push(rest[..end].split_whitespace().map(str::to_owned).collect());
            }
            rest = &rest[end..];
        }
    }
    found
}

fn steps(job: &Value) -> &Vec<Value> {
    job["steps"].as_sequence().expect("a job has steps")
}

#[test]
fn the_workflow_asks_for_the_oidc_token_and_signs_in_with_a_role() {
    let (_, yaml) = workflow();
    assert_eq!(yaml["permissions"]["id-token"], Value::from("write"));
    let jobs = yaml["jobs"].as_mapping().unwrap();
    assert!(jobs.len() >= 2);
    for (name, job) in jobs {
        let sign_in: Vec<&Value> = steps(job)
            .iter()
            .filter(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            })
            .collect();
        assert_eq!(sign_in.len(), 1, "{name:?} signs in once");
        let role = sign_in[0]["with"]["role-to-assume"].as_str().unwrap_or("");
        assert!(role.contains("ROLE_ARN"), "{name:?}: {role}");
        assert!(
            sign_in[0]["with"].get("aws-access-key-id").is_none(),
            "no keys"
        );
        if let Some(own) = job.get("permissions") {
            assert_eq!(own["id-token"], Value::from("write"), "{name:?}");
        }
    }
}

#[test]
fn staging_deploys_from_main_and_production_waits_for_its_environment() {
    let (_, yaml) = workflow();
    assert_eq!(yaml["on"]["push"]["branches"][0], Value::from("main"));
    let staging = &yaml["jobs"]["staging"];
    let production = &yaml["jobs"]["production"];
    // The staging role trusts `ref:refs/heads/main`: a job naming an environment would carry
    // `environment:NAME` in its token instead and be refused.
    assert!(staging.get("environment").is_none());
    assert_eq!(production["environment"], Value::from("production"));
    assert_eq!(production["needs"], Value::from("staging"));
    let runs = |job: &Value| -> Vec<Vec<String>> {
        steps(job)
            .iter()
            .filter_map(|s| s["run"].as_str())
            .flat_map(commands)
            .collect()
    };
    let staging = runs(staging);
    let production = runs(production);
    assert!(
        staging.contains(&words("noteapp deploy staging --yes --rollback-on-failure")),
        "{staging:?}"
    );
    assert!(
        staging.contains(&words("noteapp status staging")),
        "{staging:?}"
    );
    assert!(
        staging.contains(&words("noteapp smoke staging")),
        "{staging:?}"
    );
    assert!(
        production.contains(&words(
            "noteapp deploy production --yes --rollback-on-failure --image-from \"$IMAGE\""
        )),
        "{production:?}"
    );
    assert!(production.contains(&words("noteapp smoke production")));
}

#[test]
fn production_promotes_the_image_staging_ran_and_both_builds_are_cached() {
    let (_, yaml) = workflow();
    let (staging, production) = (&yaml["jobs"]["staging"], &yaml["jobs"]["production"]);
    // Staging reports the image of its live release, pinned by digest…
    let image = steps(staging)
        .iter()
        .find(|s| s["id"] == "image")
        .expect("a step reporting the image");
    let script = image["run"].as_str().unwrap();
    assert!(
        script.contains("noteapp history staging --json")
            && script.contains(".releases[0].image_uri")
            && script.contains("$GITHUB_OUTPUT"),
        "{script}"
    );
    assert_eq!(
        staging["outputs"]["image"],
        Value::from("${{ steps.image.outputs.image }}")
    );
    // …and production deploys exactly it: it never builds the Lambda image.
    let deploy = steps(production)
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("noteapp deploy production"))
        })
        .unwrap();
    assert_eq!(
        deploy["env"]["IMAGE"],
        Value::from("${{ needs.staging.outputs.image }}")
    );
    for step in steps(production) {
        let run = step["run"].as_str().unwrap_or_default();
        assert!(!run.contains("noteapp image"), "{run}");
        assert!(
            !run.contains("noteapp deploy production") || run.contains("--image-from"),
            "{run}"
        );
    }
    // Each job restores and saves cargo's registry, git checkouts and target.
    for (name, job) in [("staging", staging), ("production", production)] {
        let cache = steps(job)
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/cache@"))
            })
            .unwrap_or_else(|| panic!("{name} caches its cargo build"));
        let paths = cache["with"]["path"].as_str().unwrap();
        for path in [
            "~/.cargo/registry/index",
            "~/.cargo/registry/cache",
            "~/.cargo/git/db",
            "target",
        ] {
            assert!(
                paths.lines().any(|l| l.trim() == path),
                "{name}: {path} in {paths}"
            );
        }
        let key = cache["with"]["key"].as_str().unwrap();
        assert!(key.contains("hashFiles('Cargo.lock')"), "{name}: {key}");
        let position = |prefix: &str| {
            steps(job).iter().position(|s| {
                s["uses"].as_str().is_some_and(|u| u.starts_with(prefix))
                    || s["name"].as_str() == Some(prefix)
            })
        };
        assert!(
            position("actions/cache@") < position("Build the CLI"),
            "{name}: the cache is restored before the build"
        );
    }
}

fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn every_noteapp_command_in_the_workflow_exists_in_the_cli() {
    let (text, _) = workflow();
    let found = commands(&text);
    // Two deploys, a status and a smoke check each, and the two bootstraps in the comments.
    assert!(found.len() >= 8, "{found:?}");
    assert!(
        found
            .iter()
            .any(|c| c.starts_with(&words("noteapp ci bootstrap production"))),
        "{found:?}"
    );
    for command in found {
        let command: Vec<String> = command
            .into_iter()
            .map(|w| w.replace("OWNER/REPO", "octo-org/noteapp"))
            .collect();
        if let Err(e) = noteapp::cli::command().try_get_matches_from(&command) {
            panic!("`{}` is not a noteapp command: {e}", command.join(" "));
        }
    }
}

#[test]
fn a_command_the_cli_lacks_is_caught() {
    for wrong in [
        "noteapp smoke-test staging",
        "noteapp deploy staging --yes-please",
    ] {
        assert!(
            noteapp::cli::command()
                .try_get_matches_from(words(wrong))
                .is_err(),
            "{wrong}"
        );
    }
    assert_eq!(
        commands("url=$(noteapp outputs staging --json | jq -r .X) && noteapp status staging"),
        [
            words("noteapp outputs staging --json"),
            words("noteapp status staging")
        ]
    );
}

#[test]
fn a_bootstrap_dry_run_prints_the_template_and_calls_nothing() {
    let unreachable = format!("http://127.0.0.1:{}", noteapp_test_support::free_port());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_noteapp"))
        .args([
            "ci",
            "bootstrap",
            "production",
            "--github",
            "octo-org/noteapp",
            "--environment",
            "production",
            "--dry-run",
            "--root",
        ])
        .arg(noteapp_test_support::workspace())
        .env("AWS_ENDPOINT_URL", &unreachable)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let template: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let trust = &template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"];
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"],
        "repo:octo-org/noteapp:environment:production"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is changed"));
}
