//! The AWS calls around releases, each one signed request made with [`Signer`] (no SDK crate):
//! Lambda's `GetAlias`, `UpdateAlias` and `GetFunctionConfiguration` of a version (REST JSON),
//! CloudWatch's `DescribeAlarms` (JSON 1.0) and SNS's `Publish` (query). The guard makes them;
//! `noteapp` reads and moves the same aliases and reads the same alarms through them (status,
//! the deploy's canary, rollback).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::aws_http::{SignedError, Signer};

/// A function's alias as Lambda describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    /// The function's name, as asked.
    pub function: String,
    /// The version taking the traffic not given to `weights`.
    pub version: String,
    /// The other versions and their shares of the traffic (0..1): a canary in progress.
    pub weights: Vec<(String, f64)>,
    /// What the alias says about its release (`release_shift::AliasNote`).
    pub description: String,
    /// The alias's revision, so an update never overwrites a change it did not see.
    pub revision: Option<String>,
}

impl Alias {
    /// Whether part of the traffic goes to another version than [`Alias::version`].
    pub fn is_shifting(&self) -> bool {
        self.weights.iter().any(|(_, weight)| *weight > 0.0)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasAnswer {
    function_version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    revision_id: Option<String>,
    #[serde(default)]
    routing_config: Option<RoutingAnswer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingAnswer {
    #[serde(default)]
    additional_version_weights: std::collections::BTreeMap<String, f64>,
}

fn alias_from(function: &str, body: &[u8]) -> Result<Alias, SignedError> {
    let answer: AliasAnswer = serde_json::from_slice(body)
        .map_err(|e| SignedError::Transport(format!("Lambda's alias answer is not one: {e}")))?;
    Ok(Alias {
        function: function.to_owned(),
        version: answer.function_version,
        weights: answer
            .routing_config
            .map(|r| r.additional_version_weights.into_iter().collect())
            .unwrap_or_default(),
        description: answer.description,
        revision: answer.revision_id,
    })
}

fn alias_url(endpoint: &str, function: &str, alias: &str) -> String {
    format!(
        "{endpoint}/2015-03-31/functions/{}/aliases/{}",
        crate::aws_http::percent_encode(function),
        crate::aws_http::percent_encode(alias)
    )
}

/// `GetAlias`: alias `alias` of `function`.
pub async fn get_alias(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    function: &str,
    alias: &str,
) -> Result<Alias, SignedError> {
    let request = http::Request::get(alias_url(endpoint, function, alias))
        .body(bytes::Bytes::new())
        .map_err(|e| SignedError::Signing(e.to_string()))?;
    let (_, body) = signer.send(http, "lambda", request).await?;
    alias_from(function, &body)
}

/// An alias pointed at one version alone (no routing).
#[derive(Debug, Clone, Copy)]
pub struct AliasUpdate<'a> {
    /// The function's name.
    pub function: &'a str,
    /// The alias's name (`live`).
    pub alias: &'a str,
    /// The version the alias is to point at, taking all the traffic.
    pub version: &'a str,
    /// The alias's new description (a `release_shift::AliasNote`, written out).
    pub description: &'a str,
    /// The revision the update was decided on: a later change makes Lambda refuse it (412).
    pub revision: Option<&'a str>,
}

/// `UpdateAlias`: points the alias at its version alone, with its description, only if its
/// revision is still the one given.
pub async fn update_alias(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    update: &AliasUpdate<'_>,
) -> Result<Alias, SignedError> {
    let mut body = json!({
        "FunctionVersion": update.version,
        "Description": update.description,
        "RoutingConfig": {"AdditionalVersionWeights": {}},
    });
    if let Some(revision) = update.revision {
        body["RevisionId"] = revision.into();
    }
    let (function, alias) = (update.function, update.alias);
    let request = http::Request::put(alias_url(endpoint, function, alias))
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(body.to_string()))
        .map_err(|e| SignedError::Signing(e.to_string()))?;
    let (_, body) = signer.send(http, "lambda", request).await?;
    alias_from(function, &body)
}

/// `GetFunctionConfiguration` of version `version` of `function`: its description (`noteapp
/// release <id>`), or `None` when there is no such version.
pub async fn version_description(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    function: &str,
    version: &str,
) -> Result<Option<String>, SignedError> {
    let url = format!(
        "{endpoint}/2015-03-31/functions/{}/configuration?Qualifier={}",
        crate::aws_http::percent_encode(function),
        crate::aws_http::percent_encode(version)
    );
    let request = http::Request::get(url)
        .body(bytes::Bytes::new())
        .map_err(|e| SignedError::Signing(e.to_string()))?;
    match signer.send(http, "lambda", request).await {
        Ok((_, body)) => {
            let answer: Value = serde_json::from_slice(&body).map_err(|e| {
                SignedError::Transport(format!("Lambda's configuration answer is not JSON: {e}"))
            })?;
            Ok(Some(
                answer["Description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ))
        }
        Err(SignedError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `ListVersionsByFunction`, every page: each published version of `function` with its
/// description, oldest first.
pub async fn list_versions(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    function: &str,
) -> Result<Vec<(String, String)>, SignedError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut url = format!(
            "{endpoint}/2015-03-31/functions/{}/versions?MaxItems=50",
            crate::aws_http::percent_encode(function)
        );
        if let Some(marker) = &marker {
            url.push_str(&format!(
                "&Marker={}",
                crate::aws_http::percent_encode(marker)
            ));
        }
        let request = http::Request::get(url)
            .body(bytes::Bytes::new())
            .map_err(|e| SignedError::Signing(e.to_string()))?;
        let (_, body) = signer.send(http, "lambda", request).await?;
        let answer: Value = serde_json::from_slice(&body).map_err(|e| {
            SignedError::Transport(format!("Lambda's versions answer is not JSON: {e}"))
        })?;
        for version in answer["Versions"].as_array().into_iter().flatten() {
            let text = |field: &str| version[field].as_str().unwrap_or_default().to_owned();
            out.push((text("Version"), text("Description")));
        }
        marker = answer["NextMarker"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// Whether Lambda refused an update because the alias changed since it was read.
pub fn is_stale_revision(error: &SignedError) -> bool {
    matches!(error, SignedError::Status { status: 412, .. })
}

/// One alarm's state, as CloudWatch describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmState {
    /// The alarm's name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why it is in that state, in CloudWatch's words.
    pub reason: String,
    /// When it entered that state (seconds since the epoch).
    pub since: Option<f64>,
    /// A composite alarm (its state follows other alarms').
    pub composite: bool,
}

impl AlarmState {
    /// Whether the alarm is in ALARM.
    pub fn is_alarm(&self) -> bool {
        self.state == "ALARM"
    }
}

/// Which alarms to describe.
#[derive(Debug, Clone, Copy)]
pub enum Alarms<'a> {
    /// Exactly these names.
    Named(&'a [&'a str]),
    /// Every alarm whose name starts with this (a stack's `<stack>-`).
    Prefix(&'a str),
}

/// `DescribeAlarms`: metric and composite alarms, every page. Describing a composite alarm needs
/// `cloudwatch:DescribeAlarms` on `*` (CloudWatch's rule), which only reads alarm states.
pub async fn describe_alarms(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    which: Alarms<'_>,
) -> Result<Vec<AlarmState>, SignedError> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut body = json!({"AlarmTypes": ["CompositeAlarm", "MetricAlarm"]});
        match which {
            Alarms::Named(names) => body["AlarmNames"] = json!(names),
            Alarms::Prefix(prefix) => body["AlarmNamePrefix"] = prefix.into(),
        }
        if let Some(token) = &next {
            body["NextToken"] = token.as_str().into();
        }
        let request = http::Request::post(format!("{endpoint}/"))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "x-amz-target",
                "GraniteServiceVersion20100801.DescribeAlarms",
            )
            .body(bytes::Bytes::from(body.to_string()))
            .map_err(|e| SignedError::Signing(e.to_string()))?;
        let (_, answer) = signer.send(http, "monitoring", request).await?;
        let answer: Value = serde_json::from_slice(&answer).map_err(|e| {
            SignedError::Transport(format!("CloudWatch's alarms answer is not JSON: {e}"))
        })?;
        for (key, composite) in [("CompositeAlarms", true), ("MetricAlarms", false)] {
            for alarm in answer[key].as_array().into_iter().flatten() {
                let text = |field: &str| alarm[field].as_str().unwrap_or_default().to_owned();
                out.push(AlarmState {
                    name: text("AlarmName"),
                    state: text("StateValue"),
                    reason: text("StateReason"),
                    since: alarm["StateUpdatedTimestamp"].as_f64(),
                    composite,
                });
            }
        }
        next = answer["NextToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// SNS `Publish`: `message` with `subject` to the topic `topic_arn`.
pub async fn publish(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    topic_arn: &str,
    subject: &str,
    message: &str,
) -> Result<(), SignedError> {
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "Publish")
        .append_pair("Version", "2010-03-31")
        .append_pair("TopicArn", topic_arn)
        .append_pair("Subject", subject)
        .append_pair("Message", message)
        .finish();
    let request = http::Request::post(format!("{endpoint}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bytes::Bytes::from(form))
        .map_err(|e| SignedError::Signing(e.to_string()))?;
    signer.send(http, "sns", request).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use noteapp_test_support::loopback::{Reply, Server};

    use super::*;

    fn signer() -> Signer {
        Signer::with_keys("AKIDTEST", "secret", "ap-northeast-1")
    }

    fn client() -> reqwest::Client {
        crate::aws_http::https_client(Duration::from_secs(5)).unwrap()
    }

    const SHIFTING: &str = r#"{"AliasArn":"arn:aws:lambda:ap-northeast-1:123456789012:function:noteapp-staging-api:live","Description":"noteapp shift release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7 deadline=2026-12-07T10:00:00Z","FunctionVersion":"8","Name":"live","RevisionId":"rev-1","RoutingConfig":{"AdditionalVersionWeights":{"7":0.9}}}"#;

    #[tokio::test]
    async fn get_alias_reads_the_version_the_weights_and_the_revision() {
        let server = Server::answering(|_| Reply::json(200, SHIFTING)).await;
        let alias = get_alias(
            &client(),
            &signer(),
            &server.url,
            "noteapp-staging-api",
            "live",
        )
        .await
        .unwrap();
        assert_eq!(alias.version, "8");
        assert_eq!(alias.weights, [("7".to_owned(), 0.9)]);
        assert!(alias.is_shifting());
        assert_eq!(alias.revision.as_deref(), Some("rev-1"));
        let request = &server.requests()[0];
        assert_eq!(request.method, http::Method::GET);
        assert_eq!(
            request.path(),
            "/2015-03-31/functions/noteapp-staging-api/aliases/live"
        );
        let authorization = request.header("authorization").unwrap();
        assert!(
            authorization.contains("/ap-northeast-1/lambda/aws4_request"),
            "{authorization}"
        );
    }

    #[tokio::test]
    async fn update_alias_drops_the_routing_and_names_the_revision() {
        let server = Server::answering(|_| {
            Reply::json(
                200,
                r#"{"FunctionVersion":"7","Description":"x","RevisionId":"rev-2","RoutingConfig":{"AdditionalVersionWeights":{}}}"#,
            )
        })
        .await;
        let update = AliasUpdate {
            function: "noteapp-staging-api",
            alias: "live",
            version: "7",
            description: "noteapp rolled-back release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7 at=2026-12-07T09:58:12Z cause=alarm",
            revision: Some("rev-1"),
        };
        let alias = update_alias(&client(), &signer(), &server.url, &update)
            .await
            .unwrap();
        assert!(!alias.is_shifting());
        let request = &server.requests()[0];
        assert_eq!(request.method, http::Method::PUT);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["FunctionVersion"], "7");
        assert_eq!(body["RevisionId"], "rev-1");
        assert_eq!(body["RoutingConfig"]["AdditionalVersionWeights"], json!({}));
    }

    #[tokio::test]
    async fn a_stale_revision_is_told_apart() {
        let server = Server::answering(|_| {
            Reply::json(412, r#"{"Type":"User","message":"The Revision Id provided does not match the latest Revision Id."}"#)
        })
        .await;
        let update = AliasUpdate {
            function: "f",
            alias: "live",
            version: "7",
            description: "d",
            revision: Some("old"),
        };
        let err = update_alias(&client(), &signer(), &server.url, &update)
            .await
            .unwrap_err();
        assert!(is_stale_revision(&err), "{err}");
    }

    #[tokio::test]
    async fn versions_are_listed_across_pages_and_a_version_read_with_its_description() {
        let server = Server::answering(|request| {
            let query = request.uri.query().unwrap_or_default().to_owned();
            if request.path().ends_with("/configuration") {
                return match query.as_str() {
                    "Qualifier=7" => Reply::json(200, r#"{"Version":"7","Description":"noteapp release 0-aaaaaaaaaaaa-cccccccccccc"}"#),
                    _ => Reply::json(404, r#"{"Type":"User","Message":"Function not found"}"#),
                };
            }
            if query.contains("Marker=") {
                Reply::json(200, r#"{"Versions":[{"Version":"8","Description":"b"}]}"#)
            } else {
                Reply::json(200, r#"{"Versions":[{"Version":"$LATEST","Description":""},{"Version":"7","Description":"a"}],"NextMarker":"m-2"}"#)
            }
        })
        .await;
        let versions = list_versions(&client(), &signer(), &server.url, "noteapp-staging-api")
            .await
            .unwrap();
        let numbers: Vec<&str> = versions.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(numbers, ["$LATEST", "7", "8"]);
        assert!(
            server.requests()[1]
                .uri
                .query()
                .unwrap()
                .contains("Marker=m-2")
        );
        let described = version_description(
            &client(),
            &signer(),
            &server.url,
            "noteapp-staging-api",
            "7",
        )
        .await
        .unwrap();
        assert_eq!(
            described.as_deref(),
            Some("noteapp release 0-aaaaaaaaaaaa-cccccccccccc")
        );
        let gone = version_description(
            &client(),
            &signer(),
            &server.url,
            "noteapp-staging-api",
            "9",
        )
        .await
        .unwrap();
        assert_eq!(gone, None);
    }

    #[tokio::test]
    async fn describe_alarms_reads_composite_and_metric_alarms_across_pages() {
        let server = Server::answering(|request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            if body.get("NextToken").is_none() {
                Reply::json(
                    200,
                    r#"{"CompositeAlarms":[{"AlarmName":"s-release-health","StateValue":"ALARM","StateReason":"s-api-5xx-rate is in ALARM","StateUpdatedTimestamp":1796637600.5}],"MetricAlarms":[],"NextToken":"page-2"}"#,
                )
            } else {
                Reply::json(
                    200,
                    r#"{"CompositeAlarms":[],"MetricAlarms":[{"AlarmName":"s-api-5xx-rate","StateValue":"ALARM","StateReason":"Threshold Crossed"}]}"#,
                )
            }
        })
        .await;
        let alarms = describe_alarms(&client(), &signer(), &server.url, Alarms::Prefix("s-"))
            .await
            .unwrap();
        let names: Vec<(&str, bool, bool)> = alarms
            .iter()
            .map(|a| (a.name.as_str(), a.composite, a.is_alarm()))
            .collect();
        assert_eq!(
            names,
            [
                ("s-api-5xx-rate", false, true),
                ("s-release-health", true, true)
            ]
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].operation(), "DescribeAlarms");
        let first: Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(first["AlarmNamePrefix"], "s-");
        assert_eq!(
            first["AlarmTypes"],
            json!(["CompositeAlarm", "MetricAlarm"])
        );
        assert!(
            requests[0]
                .header("authorization")
                .unwrap()
                .contains("/monitoring/aws4_request")
        );
    }

    #[tokio::test]
    async fn publish_sends_the_subject_and_message_to_the_topic() {
        let server =
            Server::answering(|_| Reply::with_type(200, "text/xml", "<PublishResponse/>")).await;
        publish(
            &client(),
            &signer(),
            &server.url,
            "arn:aws:sns:ap-northeast-1:123456789012:noteapp-staging-operators",
            "rolled back",
            "api: 8 -> 7",
        )
        .await
        .unwrap();
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(&server.requests()[0].body)
                .into_owned()
                .collect();
        assert_eq!(form["Action"], "Publish");
        assert_eq!(
            form["TopicArn"],
            "arn:aws:sns:ap-northeast-1:123456789012:noteapp-staging-operators"
        );
        assert_eq!(form["Message"], "api: 8 -> 7");
    }
}
