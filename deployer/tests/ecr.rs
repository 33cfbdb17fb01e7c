//! The image pipeline's AWS half against real peers: ECR on `moto_server`, a Docker engine,
//! and a registry on loopback whose password file matches moto's ECR token
//! (`scripts/docker.sh`).

mod common;

use aws_sdk_ecr::types::ImageIdentifier;
use common::ecr_client;
use noteapp::aws::ecr::{self, LIFECYCLE_POLICY, RegistryLogin};
use noteapp::config::Architecture;
use noteapp::image::engine::Engine;
use noteapp::image::{Destination, Source, ensure_image, is_digest};
use noteapp::progress::Progress;
use noteapp_test_support::docker::{RemoveImages, peers};
use noteapp_test_support::{unique, workspace};

#[tokio::test]
async fn the_ecr_repository_is_created_once_with_scanning_and_its_lifecycle_policy() {
    let Some(peers) = peers("the_ecr_repository_is_created_once") else {
        return;
    };
    let ecr = ecr_client(&peers.moto);
    let first = ecr::ensure_repository(&ecr, "noteapp").await.unwrap();
    assert!(first.created && first.policy_changed, "{first:?}");
    assert_eq!(
        first.uri,
        "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp"
    );
    let second = ecr::ensure_repository(&ecr, "noteapp").await.unwrap();
    assert!(!second.changed(), "a second run changed {second:?}");

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
    ecr.create_repository()
        .repository_name("by-hand")
        .send()
        .await
        .unwrap();
    let fixed = ecr::ensure_repository(&ecr, "by-hand").await.unwrap();
    assert!(!fixed.created && fixed.scanning_changed && fixed.policy_changed);
    assert!(
        !ecr::ensure_repository(&ecr, "by-hand")
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
    let ecr = ecr_client(&peers.moto);
    ecr::ensure_repository(&ecr, "noteapp").await.unwrap();
    let mut digests = Vec::new();
    for n in 0..3 {
        // moto derives a digest from the layers: each image gets its own layer.
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:{n:064x}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{n},"digest":"sha256:{:064x}"}}]}}"#,
            n + 100
        );
        let put = ecr
            .put_image()
            .repository_name("noteapp")
            .image_manifest(manifest)
            .image_tag(format!("build-{n}"))
            .send()
            .await
            .unwrap();
        digests.push(
            put.image()
                .unwrap()
                .image_id()
                .unwrap()
                .image_digest()
                .unwrap()
                .to_owned(),
        );
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
    let ecr = ecr_client(&peers.moto);
    let root = workspace();
    let repository = unique("noteapp-pipeline");
    let _cleanup = RemoveImages(repository.clone());
    let source = Source {
        root: &root,
        environment: "staging",
        architecture: Architecture::X86_64,
        base: "scratch",
    };
    let destination = Destination {
        ecr: &ecr,
        repository: &repository,
        registry_override: Some(&peers.registry),
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
