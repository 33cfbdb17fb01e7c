//! Lambda's functions as the signed-services stand-in keeps them: each one's published versions
//! and its `live` alias (version, routing weights, description, revision).
//!
//! Hand-signed requests read and change them as Lambda answers them: `GetAlias`, `UpdateAlias`
//! (refused with 412 when its `RevisionId` is not the alias's, 404 for a version that does not
//! exist, 400 for routing that names the alias's own version), `GetFunctionConfiguration` of a
//! version (`?Qualifier=N`) and `ListVersionsByFunction`. A test stands in for CloudFormation
//! through [`Functions::publish`] and [`Functions::point`]. Every change of an alias is logged
//! with the time the stand-in's clock gave (a test's virtual clock, or the system's).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::loopback::{Reply, Request};

/// The time the stand-in stamps changes with.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A `live` alias as Lambda keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasState {
    /// The version taking the traffic the weights do not.
    pub version: String,
    /// Other versions and their shares (a canary in progress).
    pub weights: BTreeMap<String, f64>,
    /// The alias's description, where noteapp writes its note of the release.
    pub description: String,
    /// Bumped by every change; `UpdateAlias` names the one it read.
    pub revision: u64,
}

impl AliasState {
    /// The alias's `RevisionId` as Lambda spells one.
    pub fn revision_id(&self) -> String {
        format!("{:08x}-5e1f-4c2a-9b7d-0a1b2c3d4e5f", self.revision)
    }

    /// Each version's share of the traffic (the alias's own version takes the rest).
    pub fn shares(&self) -> BTreeMap<String, f64> {
        let mut shares = self.weights.clone();
        let rest: f64 = shares.values().sum();
        shares.insert(
            self.version.clone(),
            ((1.0 - rest) * 1000.0).round() / 1000.0,
        );
        shares
    }
}

/// One change of an alias.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasChange {
    /// When it was made, by the stand-in's clock.
    pub at: SystemTime,
    /// The function's name, as requests name it (`<stack>-<function>`).
    pub function: String,
    /// The alias as the change left it.
    pub alias: AliasState,
    /// Who made it: an identity of the kit, or `cloudformation` (the test standing in for it).
    pub by: String,
}

#[derive(Debug, Default)]
struct Function {
    /// Version number → its description.
    versions: BTreeMap<u64, String>,
    alias: Option<AliasState>,
}

/// The functions, their versions and aliases.
pub struct Functions {
    functions: BTreeMap<String, Function>,
    changes: Vec<AliasChange>,
    clock: Clock,
}

impl Default for Functions {
    fn default() -> Self {
        Self {
            functions: BTreeMap::new(),
            changes: Vec::new(),
            clock: Arc::new(SystemTime::now),
        }
    }
}

impl Functions {
    /// Stamps changes with `clock` from now on.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Publishes a new version of `function` (made if new) described `description`; returns its
    /// number.
    pub fn publish(&mut self, function: &str, description: &str) -> String {
        let entry = self.functions.entry(function.to_owned()).or_default();
        let next = entry.versions.keys().next_back().map_or(1, |v| v + 1);
        entry.versions.insert(next, description.to_owned());
        next.to_string()
    }

    /// Deletes version `version` of `function` (as an operator or a cleanup would).
    pub fn delete_version(&mut self, function: &str, version: &str) {
        if let (Some(entry), Ok(number)) = (self.functions.get_mut(function), version.parse()) {
            entry.versions.remove(&number);
        }
    }

    /// Points `function`'s alias at `version` with `weights` and `description`, as
    /// CloudFormation does (no revision condition), by `by`.
    pub fn point(
        &mut self,
        function: &str,
        version: &str,
        weights: &[(&str, f64)],
        description: &str,
        by: &str,
    ) {
        let entry = self.functions.entry(function.to_owned()).or_default();
        let revision = entry.alias.as_ref().map_or(1, |a| a.revision + 1);
        let alias = AliasState {
            version: version.to_owned(),
            weights: weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect(),
            description: description.to_owned(),
            revision,
        };
        entry.alias = Some(alias.clone());
        self.changes.push(AliasChange {
            at: (self.clock)(),
            function: function.to_owned(),
            alias,
            by: by.to_owned(),
        });
    }

    /// `function`'s alias now.
    pub fn alias(&self, function: &str) -> Option<AliasState> {
        self.functions.get(function)?.alias.clone()
    }

    /// Every change of every alias, oldest first.
    pub fn changes(&self) -> Vec<AliasChange> {
        self.changes.clone()
    }

    /// Answers a hand-signed Lambda request `by` an identity of the kit.
    pub fn answer(&mut self, request: &Request, by: &str) -> Reply {
        let path = request.path().to_owned();
        let Some(rest) = path.strip_prefix("/2015-03-31/functions/") else {
            return not_answered(request);
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let name = parts[0].to_owned();
        let method = request.method.as_str();
        match (method, &parts[1..]) {
            ("GET", ["aliases", _]) => match self.alias(&name) {
                Some(alias) => Reply::json(200, alias_json(&name, &alias).to_string()),
                None => not_found(&format!("Cannot find alias arn: {name}:live")),
            },
            ("PUT", ["aliases", _]) => self.update_alias(&name, request, by),
            ("GET", ["configuration"]) => {
                let qualifier = request
                    .uri
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|p| p.strip_prefix("Qualifier="))
                    .unwrap_or("$LATEST")
                    .to_owned();
                match self.version(&name, &qualifier) {
                    Some(description) => Reply::json(
                        200,
                        json!({
                            "FunctionName": name,
                            "Version": qualifier,
                            "Description": description,
                            "PackageType": "Image",
                        })
                        .to_string(),
                    ),
                    None => not_found(&format!("Function not found: {name}:{qualifier}")),
                }
            }
            ("GET", ["versions"]) => match self.functions.get(&name) {
                Some(function) => {
                    let versions: Vec<Value> = function
                        .versions
                        .iter()
                        .map(|(v, d)| json!({"Version": v.to_string(), "Description": d}))
                        .collect();
                    Reply::json(200, json!({ "Versions": versions }).to_string())
                }
                None => not_found(&format!("Function not found: {name}")),
            },
            _ => not_answered(request),
        }
    }

    fn version(&self, function: &str, version: &str) -> Option<String> {
        let number: u64 = version.parse().ok()?;
        self.functions.get(function)?.versions.get(&number).cloned()
    }

    fn update_alias(&mut self, name: &str, request: &Request, by: &str) -> Reply {
        let Some(current) = self.alias(name) else {
            return not_found(&format!("Cannot find alias arn: {name}:live"));
        };
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(e) => return invalid(&format!("the body is not JSON: {e}")),
        };
        if let Some(revision) = body["RevisionId"].as_str()
            && revision != current.revision_id()
        {
            return Reply::json(
                412,
                json!({"Type": "User", "message": "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id"}).to_string(),
            )
            .header("x-amzn-errortype", "PreconditionFailedException");
        }
        let version = body["FunctionVersion"]
            .as_str()
            .unwrap_or(&current.version)
            .to_owned();
        if self.version(name, &version).is_none() {
            return not_found(&format!("Function not found: {name}:{version}"));
        }
        let weights: Vec<(String, f64)> =
            match body["RoutingConfig"]["AdditionalVersionWeights"].as_object() {
                Some(map) => map
                    .iter()
                    .map(|(v, w)| (v.clone(), w.as_f64().unwrap_or_default()))
                    .collect(),
                None => current.weights.clone().into_iter().collect(),
            };
        for (routed, _) in &weights {
            if *routed == version || self.version(name, routed).is_none() {
                return invalid(&format!(
                    "RoutingConfig names version {routed}, which is the alias's own or does not exist"
                ));
            }
        }
        let description = body["Description"]
            .as_str()
            .unwrap_or(&current.description)
            .to_owned();
        let routed: Vec<(&str, f64)> = weights.iter().map(|(v, w)| (v.as_str(), *w)).collect();
        self.point(name, &version, &routed, &description, by);
        let alias = self.alias(name).expect("just pointed");
        Reply::json(200, alias_json(name, &alias).to_string())
    }
}

fn alias_json(function: &str, alias: &AliasState) -> Value {
    json!({
        "AliasArn": format!("arn:aws:lambda:eu-west-1:123456789012:function:{function}:live"),
        "Name": "live",
        "FunctionVersion": alias.version,
        "Description": alias.description,
        "RevisionId": alias.revision_id(),
        "RoutingConfig": {"AdditionalVersionWeights": alias.weights},
    })
}

fn not_found(message: &str) -> Reply {
    Reply::json(404, json!({"Type": "User", "Message": message}).to_string())
        .header("x-amzn-errortype", "ResourceNotFoundException")
}

fn invalid(message: &str) -> Reply {
    Reply::json(400, json!({"Type": "User", "message": message}).to_string())
        .header("x-amzn-errortype", "InvalidParameterValueException")
}

fn not_answered(request: &Request) -> Reply {
    Reply::json(
        400,
        format!(
            "{{\"message\":\"the signed-services stand-in does not answer Lambda {} {}: add it \
             to test-support/src/kit/services/aliases.rs\"}}",
            request.method, request.uri
        ),
    )
}
