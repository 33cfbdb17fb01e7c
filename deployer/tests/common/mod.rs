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

/// A CloudFormation client on `moto` for the staging region.
pub fn cloudformation_client(moto: &MotoServer) -> aws_sdk_cloudformation::Client {
    use aws_sdk_cloudformation::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_cloudformation::Config::builder()
        .http_client(noteapp_runtime::aws_http::sdk_http_client(
            noteapp_runtime::aws_http::Roots::Nothing,
        ))
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(moto.endpoint())
        .build();
    aws_sdk_cloudformation::Client::from_conf(config)
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
    // moto derives a digest from the layers: each image gets its own layer.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:{n:064x}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{n},"digest":"sha256:{:064x}"}}]}}"#,
        n + 100
    );
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
