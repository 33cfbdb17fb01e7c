//! The image pipeline's AWS half against real peers: ECR on `moto_server`, a Docker engine,
//! and a registry on loopback whose password file matches moto's ECR token
//! (`scripts/docker.sh`).

use crate::common;

use aws_sdk_ecr::types::ImageIdentifier;
use common::REGION;
use noteapp::aws::ecr::is_digest;
use noteapp::aws::ecr::{self, LIFECYCLE_POLICY, RegistryLogin};
use noteapp::config::Architecture;
use noteapp::image::engine::Engine;
use noteapp::image::ship::adopt;
use noteapp::image::{Destination, Source, ensure_image};
use noteapp::progress::Progress;
use noteapp_test_support::docker::{RemoveImages, peers};
use noteapp_test_support::{unique, workspace};

fn puller(stack: &str) -> ecr::LambdaPuller {
    ecr::LambdaPuller {
        stack: stack.into(),
        region: REGION.into(),
        account: "123456789012".into(),
    }
}

/// The statements of `repository`'s policy.
async fn repository_policy(ecr: &aws_sdk_ecr::Client, repository: &str) -> Vec<serde_json::Value> {
    let policy = ecr
        .get_repository_policy()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy_text().unwrap()).unwrap();
    policy["Statement"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_ecr_repository_is_created_once_with_scanning_and_its_lifecycle_policy() {
    let Some(peers) = peers("the_ecr_repository_is_created_once") else {
        return;
    };
    let ecr = common::checked_ecr_client(&peers.moto, "noteapp");
    let staging = puller("noteapp-staging");
    let first = ecr::ensure_repository(&ecr, "noteapp", Some(&staging))
        .await
        .unwrap();
    assert!(
        first.created && first.policy_changed && first.pull_policy_changed,
        "{first:?}"
    );
    assert_eq!(
        first.uri,
        "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp"
    );
    let second = ecr::ensure_repository(&ecr, "noteapp", Some(&staging))
        .await
        .unwrap();
    assert!(!second.changed(), "a second run changed {second:?}");
    let statements = repository_policy(&ecr, "noteapp").await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert_eq!(
        statements[0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );
    assert_eq!(
        statements[0]["Condition"]["StringLike"]["aws:sourceArn"],
        "arn:aws:lambda:ap-northeast-1:123456789012:function:noteapp-staging-*"
    );
    let actions = statements[0]["Action"].to_string();
    assert!(
        actions.contains("ecr:BatchGetImage") && actions.contains("ecr:GetDownloadUrlForLayer")
    );

    // Another stack in the account, and a statement somebody added by hand: all kept.
    ecr.set_repository_policy()
        .repository_name("noteapp")
        .policy_text(serde_json::json!({"Version": "2012-10-17", "Statement": [
            statements[0].clone(),
            {"Sid": "CiPull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:BatchGetImage"},
        ]}).to_string())
        .send()
        .await
        .unwrap();
    let production = ecr::ensure_repository(&ecr, "noteapp", Some(&puller("noteapp-production")))
        .await
        .unwrap();
    assert!(production.pull_policy_changed && !production.created);
    let sids: Vec<String> = repository_policy(&ecr, "noteapp")
        .await
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sids,
        [
            "NoteappLambdaPullNoteappStaging",
            "CiPull",
            "NoteappLambdaPullNoteappProduction"
        ]
    );

    let described = ecr
        .describe_repositories()
        .repository_names("noteapp")
        .send()
        .await
        .unwrap();
    let repository = &described.repositories()[0];
    assert!(
        repository
            .image_scanning_configuration()
            .unwrap()
            .scan_on_push()
    );
    let policy = ecr
        .get_lifecycle_policy()
        .repository_name("noteapp")
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::from_str::<serde_json::Value>(LIFECYCLE_POLICY).unwrap()
    );

    // A repository made by hand without scanning or policy is brought in line, once.
    common::ecr_client(&peers.moto)
        .create_repository()
        .repository_name("by-hand")
        .send()
        .await
        .unwrap();
    let ecr = common::checked_ecr_client(&peers.moto, "by-hand");
    let fixed = ecr::ensure_repository(&ecr, "by-hand", None).await.unwrap();
    assert!(!fixed.created && fixed.scanning_changed && fixed.policy_changed);
    assert!(
        !ecr::ensure_repository(&ecr, "by-hand", None)
            .await
            .unwrap()
            .changed()
    );
}

#[tokio::test]
async fn deployed_tags_follow_what_the_stack_runs_and_ran_before() {
    let Some(peers) = peers("deployed_tags_follow_what_the_stack_runs") else {
        return;
    };
    let ecr = common::checked_ecr_client(&peers.moto, "noteapp");
    ecr::ensure_repository(&ecr, "noteapp", None).await.unwrap();
    let mut digests = Vec::new();
    for n in 0..3 {
        digests.push(common::put_test_image(&ecr, "noteapp", n, &format!("build-{n}")).await);
    }
    let tags_of = |digest: String| {
        let ecr = ecr.clone();
        async move {
            let id = ImageIdentifier::builder().image_digest(digest).build();
            let found = ecr
                .describe_images()
                .repository_name("noteapp")
                .image_ids(id)
                .send()
                .await
                .unwrap();
            let mut tags = found.image_details()[0].image_tags().to_vec();
            tags.sort();
            tags
        }
    };
    // First deploy: no stack yet, nothing previous.
    ecr::protect_deployed(&ecr, "noteapp", "staging", None, &digests[0])
        .await
        .unwrap();
    // Second deploy: the stack runs digest 0 and is about to run digest 1; then digest 2.
    ecr::protect_deployed(&ecr, "noteapp", "staging", Some(&digests[0]), &digests[1])
        .await
        .unwrap();
    ecr::protect_deployed(&ecr, "noteapp", "staging", Some(&digests[1]), &digests[2])
        .await
        .unwrap();
    // Re-running a deploy changes nothing.
    ecr::protect_deployed(&ecr, "noteapp", "staging", Some(&digests[1]), &digests[2])
        .await
        .unwrap();
    assert_eq!(tags_of(digests[0].clone()).await, ["build-0"]);
    assert_eq!(
        tags_of(digests[1].clone()).await,
        ["build-1", "deployed-staging-previous"]
    );
    assert_eq!(
        tags_of(digests[2].clone()).await,
        ["build-2", "deployed-staging-current"]
    );
}

#[tokio::test]
async fn an_unchanged_image_is_reused_without_building_or_pushing() {
    let Some(peers) = peers("an_unchanged_image_is_reused") else {
        return;
    };
    let root = workspace();
    let repository = unique("noteapp-pipeline");
    let ecr = common::checked_ecr_client(&peers.moto, &repository);
    let _cleanup = RemoveImages(repository.clone());
    // The everyday build's bootstrap on a base with its libraries, as `--bootstrap` ships it.
    let bootstrap = noteapp_test_support::docker::debug_bootstrap();
    let base = noteapp_test_support::docker::host_libraries_image(&bootstrap);
    let source = Source {
        root: &root,
        environment: "staging",
        architecture: Architecture::X86_64,
        base: &base,
        bootstrap: Some(&bootstrap),
    };
    let destination = Destination {
        ecr: &ecr,
        repository: &repository,
        registry_override: Some(&peers.registry),
        puller: None,
    };
    let (progress, lines) = Progress::captured();

    let engine = Engine::default();
    let first = ensure_image(&source, &destination, &engine, &progress)
        .await
        .unwrap();
    assert!(!first.reused, "{first}");
    assert_eq!((engine.builds(), engine.pushes()), (1, 1));
    assert!(is_digest(&first.digest), "{first:?}");
    assert_eq!(
        first.uri,
        format!("{}/{repository}@{}", peers.registry, first.digest)
    );
    assert!(first.tag.starts_with("build-"));
    assert!(lines.text().contains("Step 1/"), "{}", lines.text());

    let engine = Engine::default();
    let second = ensure_image(&source, &destination, &engine, &progress)
        .await
        .unwrap();
    assert!(second.reused, "{second}");
    assert_eq!((engine.builds(), engine.pushes()), (0, 0));
    assert_eq!(second.uri, first.uri);
    assert!(!second.repository.changed());

    // The pushed image comes back by digest with the ECR credentials and carries its labels.
    let login = ecr::login(&ecr).await.unwrap();
    let login = RegistryLogin {
        registry: peers.registry.clone(),
        ..login
    };
    let docker = engine.docker().await.unwrap();
    let _ = docker
        .remove_image(
            &format!("{}:{}", first.name, first.tag),
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    engine
        .pull(&first.uri, Some(&login), &progress)
        .await
        .unwrap();
    let pulled = docker.inspect_image(&first.uri).await.unwrap();
    let config = pulled.config.unwrap();
    assert_eq!(
        config.entrypoint,
        Some(vec!["/var/runtime/bootstrap".to_owned()])
    );
    assert_eq!(config.cmd, Some(vec!["api".to_owned()]));
    let labels = config.labels.unwrap_or_default();
    assert!(
        labels.contains_key("org.opencontainers.image.revision"),
        "{labels:?}"
    );
}

#[tokio::test]
async fn an_image_uri_deploy_lets_the_stack_pull_protects_the_image_and_refuses_a_foreign_one() {
    let Some(moto) = noteapp_test_support::moto::MotoServer::start_or_skip("--image-uri adoption")
    else {
        return;
    };
    let ecr = common::checked_ecr_client(&moto, "ci-built");
    let cfn = common::cloudformation_client(&moto);
    let cfn = aws_sdk_cloudformation::Client::from_conf(
        cfn.config()
            .to_builder()
            .interceptor(common::policy_checker("ci-built"))
            .build(),
    );
    let config = common::staging();
    ecr.create_repository()
        .repository_name("ci-built")
        .send()
        .await
        .unwrap();
    let digest = common::put_test_image(&ecr, "ci-built", 7, "ci-123").await;
    let uri = format!("123456789012.dkr.ecr.{REGION}.amazonaws.com/ci-built@{digest}");
    let (progress, _) = Progress::captured();
    adopt(&ecr, &cfn, &config, &uri, &progress).await.unwrap();
    let statements = repository_policy(&ecr, "ci-built").await;
    assert_eq!(statements[0]["Sid"], "NoteappLambdaPullNoteappStaging");
    let found = ecr
        .describe_images()
        .repository_name("ci-built")
        .image_ids(ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await
        .unwrap();
    let mut tags = found.image_details()[0].image_tags().to_vec();
    tags.sort();
    assert_eq!(
        tags,
        ["ci-123", "deployed-staging-current"],
        "the lifecycle policy's protected tag"
    );

    let foreign = format!("999999999999.dkr.ecr.{REGION}.amazonaws.com/ci-built@{digest}");
    let unpinned = format!("123456789012.dkr.ecr.{REGION}.amazonaws.com/ci-built:ci-123");
    let elsewhere = format!("ghcr.io/someone/noteapp@{digest}");
    for uri in [foreign, unpinned, elsewhere] {
        let err = adopt(&ecr, &cfn, &config, &uri, &progress)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), noteapp::EXIT_USAGE, "{err}");
        assert!(
            err.to_string()
                .contains("Lambda runs an image function only from"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_base_images_digest_decides_the_content_tag_and_scratch_stays_constant() {
    let Some(_registry) =
        noteapp_test_support::docker::engine_and_registry("the base image digest")
    else {
        return;
    };
    let engine = Engine::default();
    let (progress, _) = Progress::captured();
    assert_eq!(
        engine.base_digest("scratch", &progress).await.unwrap(),
        "scratch"
    );
    let base = format!("{}:1", unique("noteapp-test-base"));
    let _cleanup = RemoveImages(base.split(':').next().unwrap().to_owned());
    let build = |content: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY file /file\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("file"), content).unwrap();
        let status = std::process::Command::new("docker")
            .args(["build", "-q", "-t", &base])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    build("one");
    let first = engine.base_digest(&base, &progress).await.unwrap();
    assert!(first.starts_with("sha256:"), "{first}");
    build("two");
    let second = engine.base_digest(&base, &progress).await.unwrap();
    assert_ne!(
        first, second,
        "an update of the base under the same name is another input"
    );
}
