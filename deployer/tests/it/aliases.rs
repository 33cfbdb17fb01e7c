//! The `live` aliases on moto's Lambda (image functions, published versions, aliases with
//! routing weights, which moto keeps as Lambda does), read and moved by the deployer as the
//! staging deploy policy's identity through the test kit's IAM guard: a canary found shifting,
//! returned to its good versions, the versions' descriptions checked. moto does not enforce an
//! `UpdateAlias` `RevisionId` (it neither refuses a stale one nor changes it): the conditional
//! moves are tested on the signed-services stand-in, which does.

use chrono::Utc;
use noteapp::aws::live::LiveCalls;
use noteapp::clock::Clock;
use noteapp::flow::canary::{restore, return_moves};
use noteapp::flow::traffic::Traffic;
use noteapp_runtime::aws_http::Signer;
use noteapp_runtime::functions::Function;
use noteapp_runtime::release_shift::Cause;
use noteapp_test_support::kit;
use noteapp_test_support::moto::MotoServer;
use serde_json::json;

use crate::common::{self, DEPLOYER, REGION};

const STACK: &str = "noteapp-staging";
const GOOD: &str = "0-aaaaaaaaaaaa-cccccccccccc";
const CANARY: &str = "0-bbbbbbbbbbbb-cccccccccccc";

async fn call(
    signer: &Signer,
    http: &reqwest::Client,
    service: &str,
    request: http::Request<bytes::Bytes>,
) -> serde_json::Value {
    let (_, body) = signer
        .send(http, service, request)
        .await
        .unwrap_or_else(|e| panic!("setting up moto: {e}"));
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

fn post(url: String, body: serde_json::Value) -> http::Request<bytes::Bytes> {
    http::Request::post(url)
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(body.to_string()))
        .unwrap()
}

/// The stack's seven functions on moto, each with version 1 (the good release) and 2 (the
/// canary), its `live` alias on 2 with 90 % routed to 1, as a canary's first update leaves it.
async fn shifting_stack(moto: &MotoServer, http: &reqwest::Client) {
    let setup = Signer::with_keys("AKIDSETUP", "setup", REGION);
    let url = moto.endpoint();
    let form = "Action=CreateRole&RoleName=noteapp-staging-ApiRole&AssumeRolePolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D&Version=2010-05-08";
    let role = http::Request::post(format!("{url}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bytes::Bytes::from(form))
        .unwrap();
    setup.send(http, "iam", role).await.unwrap();
    let role = "arn:aws:iam::123456789012:role/noteapp-staging-ApiRole";
    let image = format!(
        "123456789012.dkr.ecr.{REGION}.amazonaws.com/noteapp@sha256:{}",
        "a".repeat(64)
    );
    for function in Function::ALL {
        let name = format!("{STACK}-{}", function.name());
        let functions = format!("{url}/2015-03-31/functions");
        let create = json!({"FunctionName": name, "Role": role, "PackageType": "Image",
            "Code": {"ImageUri": image}});
        call(&setup, http, "lambda", post(functions.clone(), create)).await;
        for release in [GOOD, CANARY] {
            let configuration = json!({"Environment": {"Variables": {"NOTEAPP_RELEASE": release}}});
            let put = http::Request::put(format!("{functions}/{name}/configuration"))
                .header("content-type", "application/json")
                .body(bytes::Bytes::from(configuration.to_string()))
                .unwrap();
            call(&setup, http, "lambda", put).await;
            let publish = json!({"Description": format!("noteapp release {release}")});
            call(
                &setup,
                http,
                "lambda",
                post(format!("{functions}/{name}/versions"), publish),
            )
            .await;
        }
        let alias = json!({"Name": "live", "FunctionVersion": "2",
            "Description": format!("noteapp shift release={CANARY} good=1 deadline=2026-12-07T10:20:00Z"),
            "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.9}}});
        call(
            &setup,
            http,
            "lambda",
            post(format!("{functions}/{name}/aliases"), alias),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifting_canary_is_returned_to_its_good_versions_on_motos_lambda() {
    let Some(moto) = MotoServer::start_or_skip("the live aliases on moto") else {
        return;
    };
    let http = noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(10)).unwrap();
    shifting_stack(&moto, &http).await;
    let kit = common::kit("noteapp");
    let guard = kit::guard(&kit, moto.endpoint());
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(
        kit.get(DEPLOYER).credentials(),
    );
    let signer = Signer::new(provider, REGION);
    let calls = LiveCalls {
        http: &http,
        signer: &signer,
        lambda: guard.url.clone(),
        cloudwatch: guard.url.clone(),
    };
    let aliases = calls.aliases(STACK).await.unwrap();
    let Traffic::Shifting {
        release,
        share,
        parts,
        ..
    } = Traffic::read(&aliases, None)
    else {
        panic!("not shifting: {aliases:?}");
    };
    assert_eq!(release.as_deref(), Some(CANARY));
    assert_eq!(share, 10.0);
    assert_eq!(parts.len(), Function::ALL.len());
    assert!(
        parts
            .iter()
            .all(|p| p.version == "2" && p.good.as_deref() == Some("1"))
    );

    let moves = return_moves(&aliases, CANARY, Cause::Alarm, Utc::now());
    let (moved, errors, _) = restore(&calls, &moves, &aliases, &Clock::system()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(moved.len(), Function::ALL.len());
    assert!(moved[0].ends_with("version 2 -> 1"), "{moved:?}");
    let after = calls.aliases(STACK).await.unwrap();
    for read in &after {
        let alias = read.alias.as_ref().unwrap();
        assert_eq!(alias.version, "1", "{}", read.name);
        assert!(!alias.is_shifting(), "{}", read.name);
        assert!(
            alias
                .description
                .starts_with(&format!("noteapp rolled-back release={CANARY} good=1 at="))
        );
        assert!(alias.description.ends_with("cause=alarm"));
    }
    assert!(matches!(
        Traffic::read(&after, None),
        Traffic::ReturnedToGood { .. }
    ));
    // A version is read back with its release's description; one never published is not there.
    let api = format!("{STACK}-api");
    assert_eq!(
        calls
            .version_description(&api, "1")
            .await
            .unwrap()
            .as_deref(),
        Some(format!("noteapp release {GOOD}").as_str())
    );
    assert_eq!(calls.version_description(&api, "9").await.unwrap(), None);
    // Another stack's function is refused, as IAM would refuse it.
    assert!(calls.alias("other", Function::Api).await.is_err());
    let denials = kit.take_denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].action, "lambda:GetAlias");
}
