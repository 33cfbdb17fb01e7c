//! What the deployer's integration tests share beyond `noteapp-test-support`: SDK clients on
//! moto for the staging account's region.

#![allow(dead_code)]

use noteapp_test_support::moto::MotoServer;

/// The region of the staging environment file, where moto's default account lives.
pub const REGION: &str = "ap-northeast-1";

/// An ECR client on `moto` for the staging region.
pub fn ecr_client(moto: &MotoServer) -> aws_sdk_ecr::Client {
    use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_ecr::Config::builder()
        .http_client(noteapp_runtime::aws_http::sdk_http_client(
            noteapp_runtime::aws_http::Roots::Nothing,
        ))
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(moto.endpoint())
        .build();
    aws_sdk_ecr::Client::from_conf(config)
}

/// An STS client on `url` with static test credentials.
pub fn sts_client(url: &str) -> aws_sdk_sts::Client {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_sts::Config::builder()
        .http_client(noteapp_runtime::aws_http::sdk_http_client(
            noteapp_runtime::aws_http::Roots::Nothing,
        ))
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}
