//! What the deployer's integration tests share beyond `noteapp-test-support`: SDK clients on
//! moto for the staging account's region.

use noteapp_test_support::moto::MotoServer;

/// The region of the staging environment file, where moto's default account lives.
pub const REGION: &str = "ap-northeast-1";

/// The identity of these tests: a person deploying staging with its deploy policy for
/// `repository`, in moto's account.
pub const DEPLOYER: &str = "deployer";

/// A strict kit (a refused call panics) holding [`DEPLOYER`] to the staging deploy policy for
/// `repository`: the checker every ECR, CloudFormation and Logs call of these tests must pass.
pub fn kit(repository: &str) -> noteapp_test_support::kit::Kit {
    let kit = noteapp_test_support::kit::Kit::strict("123456789012", REGION);
    let scope = noteapp::policy::Scope {
        region: REGION.into(),
        account: "123456789012".into(),
        stack: "noteapp-staging".into(),
        repository: repository.into(),
    };
    kit.identity(
        DEPLOYER,
        "arn:aws:sts::123456789012:assumed-role/noteapp-operators/alice",
        vec![noteapp::policy::deploy_policy(&scope)],
    );
    kit
}

/// The checker of [`DEPLOYER`] for `repository`.
pub fn policy_checker(repository: &str) -> noteapp_test_support::kit::Checker {
    kit(repository).checker(DEPLOYER)
}

/// An ECR client on `moto` for the staging region whose every call must be one the staging
/// deploy policy for `repository` allows.
pub fn checked_ecr_client(moto: &MotoServer, repository: &str) -> aws_sdk_ecr::Client {
    let config = ecr_client(moto)
        .config()
        .to_builder()
        .interceptor(policy_checker(repository))
        .build();
    aws_sdk_ecr::Client::from_conf(config)
}

/// An ECR client on `moto` for the staging region.
pub fn ecr_client(moto: &MotoServer) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&noteapp_runtime::aws_http::loopback_config(
        moto.endpoint(),
        REGION,
    ))
}

/// An STS client on `url` with static test credentials.
pub fn sts_client(url: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&noteapp_runtime::aws_http::loopback_config(
        url,
        "eu-west-1",
    ))
}

/// A CloudFormation client on `moto` for the staging region.
pub fn cloudformation_client(moto: &MotoServer) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&noteapp_runtime::aws_http::loopback_config(
        moto.endpoint(),
        REGION,
    ))
}

/// The repository's staging environment file.
pub fn staging() -> noteapp::config::EnvironmentConfig {
    noteapp::config::load(&noteapp_test_support::workspace(), "staging").expect("staging parses")
}

/// Puts a distinct one-layer image into `repository` on moto's ECR under `tag`; its digest.
pub async fn put_test_image(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    n: u32,
    tag: &str,
) -> String {
    let manifest = noteapp_test_support::moto::test_manifest(n);
    let put = ecr
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest)
        .image_tag(tag)
        .send()
        .await
        .unwrap();
    put.image()
        .unwrap()
        .image_id()
        .unwrap()
        .image_digest()
        .unwrap()
        .to_owned()
}

/// A CloudWatch Logs client on `moto` for the staging region.
pub fn logs_client(moto: &MotoServer) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&noteapp_runtime::aws_http::loopback_config(
        moto.endpoint(),
        REGION,
    ))
}

/// A repository root whose staging environment file names `stack` (and is otherwise the
/// repository's own), so tests on one emulator keep to their own resources.
pub fn root_with_stack(stack: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("a temporary root");
    let workspace = noteapp_test_support::workspace();
    let staging = std::fs::read_to_string(workspace.join("environments/staging.yaml"))
        .expect("the staging file")
        .replace(
            "stack_name: noteapp-staging",
            &format!("stack_name: {stack}"),
        );
    std::fs::create_dir_all(root.path().join("environments")).unwrap();
    std::fs::write(root.path().join("environments/staging.yaml"), staging).unwrap();
    root
}
