//! The CI stack's template: the trust conditions of both forms, the deploy policy inside it, and
//! cfn-lint's verdict on what `--dry-run` prints.

use super::*;

fn scope() -> Scope {
    Scope {
        region: "ap-northeast-1".into(),
        account: "123456789012".into(),
        stack: "noteapp-staging".into(),
        repository: "noteapp".into(),
    }
}

fn rendered(subject: &Subject) -> Value {
    serde_json::from_str(&template(&scope(), "octo-org/noteapp", subject)).unwrap()
}

fn conditions(template: &Value) -> &Value {
    let trust = &template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"];
    let statements = trust["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(statements[0]["Effect"], "Allow");
    let condition = &statements[0]["Condition"];
    assert_eq!(
        condition.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["StringEquals"],
        "exact matches only, no StringLike wildcard"
    );
    &condition["StringEquals"]
}

#[test]
fn the_branch_form_trusts_that_branch_of_that_repository_for_sts_only() {
    let template = rendered(&Subject::Branch("main".into()));
    let equals = conditions(&template);
    assert_eq!(
        equals["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        equals["token.actions.githubusercontent.com:sub"],
        "repo:octo-org/noteapp:ref:refs/heads/main"
    );
    assert_eq!(equals.as_object().unwrap().len(), 2);
}

#[test]
fn the_environment_form_trusts_jobs_of_that_github_environment() {
    let template = rendered(&Subject::Environment("production".into()));
    let equals = conditions(&template);
    assert_eq!(
        equals["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        equals["token.actions.githubusercontent.com:sub"],
        "repo:octo-org/noteapp:environment:production"
    );
}

#[test]
fn the_role_holds_the_deploy_policy_under_a_path_the_policy_cannot_touch() {
    let template = rendered(&Subject::Branch("main".into()));
    let role = &template["Resources"]["DeployRole"]["Properties"];
    assert_eq!(
        role["Policies"][0]["PolicyDocument"],
        deploy_policy(&scope())
    );
    assert_eq!(role["Path"], ROLE_PATH);
    assert_eq!(role["RoleName"], "noteapp-staging-deploy");
    // IAM's limit for a role's inline policies, whitespace aside.
    let size = role["Policies"][0]["PolicyDocument"].to_string().len();
    assert!(size < 10_240, "{size} characters");
    let federated = &role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Federated"];
    assert_eq!(federated["Fn::If"][0], "CreateProvider");
    assert_eq!(
        template["Outputs"][ROLE_OUTPUT]["Value"]["Fn::GetAtt"][0],
        "DeployRole"
    );
}

#[test]
fn repositories_are_owner_slash_repo() {
    assert!(check_repository("octo-org/noteapp").is_ok());
    assert!(check_repository("octo_org/note.app-2").is_ok());
    for bad in [
        "noteapp",
        "octo/",
        "/noteapp",
        "octo/note/app",
        "octo/note app",
    ] {
        assert!(check_repository(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_provider_the_stack_made_stays_and_the_accounts_own_is_reused() {
    let arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
    assert_eq!(provider_choice(None, None), "create");
    assert_eq!(provider_choice(None, Some(arn)), arn);
    assert_eq!(provider_choice(Some("create"), Some(arn)), "create");
    assert_eq!(provider_choice(Some(arn), Some(arn)), arn);
}

#[test]
fn the_dry_run_template_is_clean_under_cfn_lint() {
    let lint = noteapp_test_support::workspace().join(".venv/bin/cfn-lint");
    if !lint.is_file() {
        return noteapp_test_support::missing(
            "cfn-lint on the CI template",
            "no .venv/bin/cfn-lint",
        )
        .unwrap_or(());
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, subject) in [
        ("branch.json", Subject::Branch("main".into())),
        (
            "environment.json",
            Subject::Environment("production".into()),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, template(&scope(), "octo-org/noteapp", &subject)).unwrap();
        let out = std::process::Command::new(&lint)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cfn-lint {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
