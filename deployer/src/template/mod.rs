//! Rendering: an environment and the template in, the [`Plan`] a deploy sends out.
//!
//! `templates/noteapp.yaml` is data: plain CloudFormation whose every environment-specific value
//! is a parameter. [`plan`] is pure and deterministic: it checks the image reference, turns the
//! environment file into stack parameters (in a fixed order) and tags, checks that they are
//! exactly the parameters the template declares, and lists the tables, whose replacement a deploy
//! must never do silently. [`load_plan`] is the thin wrapper that reads the template file.

pub mod alarms;
pub mod ci;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde_norway::Value;

use noteapp_runtime::functions::Function;
use noteapp_runtime::release_shift::ReleaseId;

use crate::config::EnvironmentConfig;
use crate::plan::Plan;

/// Where the template lives, relative to the repository root.
pub const TEMPLATE_PATH: &str = "templates/noteapp.yaml";

/// The parameter saying whether the stack sets the account's API Gateway CloudWatch role.
pub const API_GATEWAY_LOG_ROLE: &str = "ApiGatewayLogRole";

/// The parameter naming the release (`noteapp_runtime::release_shift::ReleaseId`): a new value
/// publishes a new version of every function.
pub const RELEASE_ID: &str = "ReleaseId";

/// The parameters that start, hold and end a canary: which version keeps the rest of each
/// function's traffic (`<Prefix>PreviousVersion`), how much and until when. Rendered with no
/// shift in progress; the deploy's canary sets them (`Plan::set_parameter`). They do not make a
/// new release: the [`RELEASE_ID`] hash leaves them out.
pub const SHIFT_PARAMETERS: [&str; 3] = ["CanaryShare", "PreviousWeight", "ShiftDeadline"];

/// The `<Prefix>PreviousVersion` parameter of `function`.
pub fn previous_version_parameter(function: Function) -> String {
    format!("{}PreviousVersion", function.logical_prefix())
}

/// CloudFormation's limit on a template sent in the request (`TemplateBody`); a larger one must
/// be uploaded to S3 and passed as `TemplateURL` (up to 1 MB).
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// The suffix of each function's reserved-concurrency parameter (`ApiReservedConcurrency`).
pub const RESERVED_CONCURRENCY: &str = "ReservedConcurrency";

/// The resource type whose replacement or removal loses data.
const STATEFUL_TYPE: &str = "AWS::DynamoDB::Table";

/// A problem with the template or with what is rendered into it.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template file cannot be read.
    #[error("cannot read the template {}: {source}", path.display())]
    Read {
        /// `<root>/templates/noteapp.yaml`.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The template (or a rendered one) does not parse as YAML; the parser's message inside.
    #[error("{TEMPLATE_PATH} is not valid YAML: {0}")]
    Yaml(String),
    /// The template lacks what noteapp reads from it: a section, a resource to import, an
    /// alarm's metric, a condition it can evaluate offline.
    #[error("{TEMPLATE_PATH}: {0}")]
    Shape(String),
    /// The template's `Parameters` and those rendered from the environment differ: one was
    /// changed without the other.
    #[error(
        "{TEMPLATE_PATH} and the environment disagree on parameters (declared but not rendered: [{}]; rendered but not declared: [{}]): update the template's Parameters or deployer/src/template/mod.rs together",
        missing.join(", "),
        unknown.join(", ")
    )]
    Parameters {
        /// Declared by the template, but given no value.
        missing: Vec<String>,
        /// Given a value, but not declared by the template.
        unknown: Vec<String>,
    },
    /// `--image-uri` is not `REGISTRY/REPO@sha256:<64 hex>` or `REGISTRY/REPO:TAG`.
    #[error(
        "--image-uri {uri:?} {reason}: expected REGISTRY/REPO@sha256:<64 hex digits> (or REGISTRY/REPO:TAG), e.g. 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@sha256:…"
    )]
    ImageUri {
        /// The URI given.
        uri: String,
        /// What is wrong with it: `has neither a digest nor a tag`, `names no registry`…
        reason: &'static str,
    },
}

/// Resolves what a deploy of `config` with image `image_uri` sends. Pure: no I/O.
pub fn plan(
    config: &EnvironmentConfig,
    template_body: &str,
    image_uri: &str,
) -> Result<Plan, TemplateError> {
    check_image_uri(image_uri)?;
    let mut parameters = parameters(config, image_uri);
    let release = release_id(template_body, image_uri, &parameters);
    // Read right after the image it names.
    parameters.insert(2, (RELEASE_ID.to_owned(), release.to_string()));
    plan_with(config, template_body, parameters)
}

/// The plan of `config` sending `template_body` with exactly `parameters` (a release's own, to
/// run it again). Pure: no I/O.
pub fn plan_with(
    config: &EnvironmentConfig,
    template_body: &str,
    parameters: Vec<(String, String)>,
) -> Result<Plan, TemplateError> {
    let template: Value =
        serde_norway::from_str(template_body).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    check_parameters(&template, &parameters)?;
    Ok(Plan {
        environment: config.environment,
        local_only: config.is_local_only(),
        stack_name: config.stack_name.clone(),
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        template_body: template_body.to_owned(),
        template_url: None,
        parameters,
        tags: tags(config),
        confirm: config.confirm_changes,
        stateful_resources: stateful_resources(&template)?,
        protected: config.environment == crate::config::Environment::Production,
    })
}

/// Reads the template of the repository at `root` and renders `config`'s plan with it.
pub fn load_plan(
    root: &Path,
    config: &EnvironmentConfig,
    image_uri: &str,
) -> Result<Plan, TemplateError> {
    plan(config, &read_template(root)?, image_uri)
}

/// Reads the template body from the repository at `root`.
pub fn read_template(root: &Path) -> Result<String, TemplateError> {
    let path = root.join(TEMPLATE_PATH);
    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read { path, source })
}

/// A well-formed stand-in image (account 000000000000, the environment's region, an all-zero
/// digest) so `render` works offline, before any image exists.
pub fn placeholder_image_uri(config: &EnvironmentConfig) -> String {
    format!(
        "000000000000.dkr.ecr.{}.{}/{}@sha256:{}",
        config.region,
        noteapp_runtime::aws_http::Partition::of(&config.region).dns_suffix,
        config.stack_name.to_ascii_lowercase(),
        "0".repeat(64)
    )
}

/// The stack parameters, in the order people read them.
fn parameters(config: &EnvironmentConfig, image_uri: &str) -> Vec<(String, String)> {
    let flag = |on: bool| if on { "true" } else { "false" }.to_owned();
    let mut out = vec![
        ("Environment".to_owned(), config.name().to_owned()),
        ("ImageUri".to_owned(), image_uri.to_owned()),
        (
            "FirebaseProjectId".to_owned(),
            config.firebase_project_id.to_string(),
        ),
        (
            "AllowedOrigins".to_owned(),
            config.allowed_origins.join(","),
        ),
        ("LogLevel".to_owned(), config.log_level.as_str().to_owned()),
        (
            "LogRetentionDays".to_owned(),
            config.log_retention_days.to_string(),
        ),
        (
            "Architecture".to_owned(),
            config.architecture.as_str().to_owned(),
        ),
    ];
    for (function, settings) in config.functions.each() {
        let prefix = function.logical_prefix();
        out.push((
            format!("{prefix}MemorySize"),
            settings.memory_mb.to_string(),
        ));
        out.push((
            format!("{prefix}Timeout"),
            settings.timeout_seconds.to_string(),
        ));
        // -1: the template leaves ReservedConcurrentExecutions out.
        out.push((
            format!("{prefix}{RESERVED_CONCURRENCY}"),
            settings
                .reserved_concurrency
                .map_or_else(|| "-1".to_owned(), |n| n.to_string()),
        ));
    }
    out.push((
        "BroadcastSendRate".to_owned(),
        config.broadcast_send_rate.to_string(),
    ));
    out.push(("RateLimits".to_owned(), config.rate_limits.to_string()));
    out.push((
        "PointInTimeRecovery".to_owned(),
        flag(config.tables.point_in_time_recovery),
    ));
    out.push((
        "DeletionProtection".to_owned(),
        flag(config.tables.deletion_protection),
    ));
    // Decided against the account at deploy time (`aws::apigateway`); offline, the account's.
    out.push((API_GATEWAY_LOG_ROLE.to_owned(), "existing".to_owned()));
    let share = config.release.share();
    out.push(("CanaryShare".to_owned(), share.to_string()));
    out.push(("PreviousWeight".to_owned(), previous_weight(share)));
    out.push(("ShiftDeadline".to_owned(), String::new()));
    for function in Function::ALL {
        out.push((previous_version_parameter(function), String::new()));
    }
    let alarms = &config.alarms;
    for (name, value) in [
        ("AlarmApi5xxPercent", alarms.api_5xx_percent),
        ("AlarmApiP99LatencyMs", alarms.api_p99_latency_ms),
        ("AlarmFunctionErrors", alarms.function_errors_per_minute),
        (
            "AlarmFunctionThrottles",
            alarms.function_throttles_per_minute,
        ),
        (
            "AlarmDurationPercentOfTimeout",
            alarms.duration_percent_of_timeout,
        ),
        (
            "AlarmWebSocketIntegrationErrors",
            alarms.websocket_integration_errors_per_minute,
        ),
        (
            "AlarmDynamoDbThrottles",
            alarms.dynamodb_throttles_per_minute,
        ),
        (
            "AlarmConcurrencyPercentOfReserved",
            alarms.concurrency_percent_of_reserved,
        ),
    ] {
        out.push((name.to_owned(), value.to_string()));
    }
    for slot in 0..crate::config::MAX_OPERATOR_EMAILS {
        let address = alarms.email.get(slot).cloned().unwrap_or_default();
        out.push((format!("OperatorEmail{}", slot + 1), address));
    }
    out
}

/// The previous version's weight while the new one takes `share` percent: (100 - share) / 100,
/// as CloudFormation takes it (`0.9`; `0` for all at once).
fn previous_weight(share: u32) -> String {
    match 100u32.saturating_sub(share) {
        0 => "0".to_owned(),
        rest => format!("{:.2}", f64::from(rest) / 100.0)
            .trim_end_matches('0')
            .to_owned(),
    }
}

/// The release id of a deploy of `image_uri` with `template_body` and `parameters`, before the
/// deploy records it (sequence 0): the image's digest (a tag's hash, for an image named by tag)
/// and the hash of the template and every parameter but the image, the release's own and the
/// canary's.
pub fn release_id(
    template_body: &str,
    image_uri: &str,
    parameters: &[(String, String)],
) -> ReleaseId {
    let image = match image_uri.split_once("@sha256:") {
        Some((_, digest)) => digest.to_owned(),
        None => crate::release::sha256(image_uri),
    };
    let mut config = crate::release::strip(template_body);
    for (key, value) in parameters {
        let shift = SHIFT_PARAMETERS.contains(&key.as_str()) || key.ends_with("PreviousVersion");
        if key != RELEASE_ID && key != "ImageUri" && !shift {
            config.push_str(&format!("\n{key}={value}"));
        }
    }
    ReleaseId::new(0, &image, &crate::release::sha256(&config))
}

/// Stack tags: the file's, plus `Project=noteapp` and `Environment=<name>`, sorted by key.
pub(crate) fn tags(config: &EnvironmentConfig) -> Vec<(String, String)> {
    let mut tags = config.tags.clone();
    tags.insert("Project".to_owned(), "noteapp".to_owned());
    tags.insert("Environment".to_owned(), config.name().to_owned());
    tags.into_iter().collect()
}

/// The template's top-level mapping `section` (`Parameters`, `Resources`).
fn section<'a>(
    template: &'a Value,
    section: &str,
) -> Result<&'a serde_norway::Mapping, TemplateError> {
    template
        .get(section)
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::Shape(format!("has no {section} mapping")))
}

/// Refuses parameters the template does not declare, and declared ones without a value.
fn check_parameters(
    template: &Value,
    parameters: &[(String, String)],
) -> Result<(), TemplateError> {
    let declared: Vec<&str> = section(template, "Parameters")?
        .keys()
        .filter_map(Value::as_str)
        .collect();
    let rendered: Vec<&str> = parameters.iter().map(|(k, _)| k.as_str()).collect();
    let missing: Vec<String> = declared
        .iter()
        .filter(|d| !rendered.contains(d))
        .map(|d| d.to_string())
        .collect();
    let unknown: Vec<String> = rendered
        .iter()
        .filter(|r| !declared.contains(r))
        .map(|r| r.to_string())
        .collect();
    if missing.is_empty() && unknown.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::Parameters { missing, unknown })
    }
}

/// Logical ids of every table in the template, in template order.
fn stateful_resources(template: &Value) -> Result<Vec<String>, TemplateError> {
    Ok(section(template, "Resources")?
        .iter()
        .filter(|(_, resource)| resource.get("Type").and_then(Value::as_str) == Some(STATEFUL_TYPE))
        .filter_map(|(id, _)| id.as_str().map(str::to_owned))
        .collect())
}

/// The template of an IMPORT change set that brings `tables` (logical ids) back into a new
/// stack: those table resources exactly as the full template has them, but kept whatever
/// happens to the import (`DeletionPolicy: Retain`), with the conditions and parameters they
/// use, and nothing else. JSON, with every short-form intrinsic (`!Ref`) in its long form.
/// Returns the body and the names of the parameters it declares (the change set passes those).
pub fn import_template(
    body: &str,
    tables: &[&str],
) -> Result<(String, Vec<String>), TemplateError> {
    let template: Value =
        serde_norway::from_str(body).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    let resources = section(&template, "Resources")?;
    let mut chosen = serde_json::Map::new();
    for id in tables {
        let resource = resources
            .get(*id)
            .ok_or_else(|| TemplateError::Shape(format!("has no resource {id} to import")))?;
        let mut resource = long_form(resource);
        resource["DeletionPolicy"] = "Retain".into();
        resource["UpdateReplacePolicy"] = "Retain".into();
        chosen.insert((*id).to_owned(), resource);
    }
    let chosen = serde_json::Value::Object(chosen);
    let all_conditions = match section(&template, "Conditions") {
        Ok(conditions) => long_form(&Value::Mapping(conditions.clone())),
        Err(_) => serde_json::json!({}),
    };
    let mut conditions = serde_json::Map::new();
    for name in used(&chosen, UseKind::Condition) {
        if let Some(condition) = all_conditions.get(&name) {
            conditions.insert(name, condition.clone());
        }
    }
    let conditions = serde_json::Value::Object(conditions);
    let all_parameters = long_form(&Value::Mapping(section(&template, "Parameters")?.clone()));
    let mut parameters = serde_json::Map::new();
    for name in used(&chosen, UseKind::Ref)
        .into_iter()
        .chain(used(&conditions, UseKind::Ref))
    {
        if let Some(parameter) = all_parameters.get(&name) {
            parameters.insert(name, parameter.clone());
        }
    }
    let names = parameters.keys().cloned().collect();
    let mut out = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "noteapp: tables kept by a deleted stack, imported back",
        "Resources": chosen,
    });
    if !parameters.is_empty() {
        out["Parameters"] = serde_json::Value::Object(parameters);
    }
    if !conditions
        .as_object()
        .is_some_and(serde_json::Map::is_empty)
    {
        out["Conditions"] = conditions;
    }
    Ok((out.to_string(), names))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UseKind {
    Ref,
    Condition,
}

/// The names `value` refers to: `{"Ref": X}` (pseudo parameters `AWS::…` left out), or the
/// conditions of `{"Fn::If": [C, …]}` and `{"Condition": C}`.
fn used(value: &serde_json::Value, kind: UseKind) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (kind, key.as_str(), inner) {
                        (UseKind::Ref, "Ref", serde_json::Value::String(name))
                            if !name.starts_with("AWS::") =>
                        {
                            out.insert(name.clone());
                        }
                        (UseKind::Condition, "Condition", serde_json::Value::String(name)) => {
                            out.insert(name.clone());
                        }
                        (UseKind::Condition, "Fn::If", serde_json::Value::Array(args)) => {
                            if let Some(serde_json::Value::String(name)) = args.first() {
                                out.insert(name.clone());
                            }
                        }
                        _ => {}
                    }
                    stack.push(inner);
                }
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// The template body as CloudFormation's JSON form (every short-form tag, `!Ref` and the like, in its long form): what tools that read
/// templates (the test kit's resolver, for one) take.
pub fn cloudformation_json(template_body: &str) -> Result<serde_json::Value, TemplateError> {
    let yaml: Value =
        serde_norway::from_str(template_body).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    Ok(long_form(&yaml))
}

/// YAML as CloudFormation's JSON: `!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` →
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Condition C` → `{"Condition": "C"}`, `!Sub …` →
/// `{"Fn::Sub": …}` and every other `!Name` → `{"Fn::Name": …}`.
fn long_form(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => serde_json::from_str(&n.to_string()).unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.clone()),
        Value::Sequence(items) => Json::Array(items.iter().map(long_form).collect()),
        Value::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, long_form(v))
                })
                .collect(),
        ),
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = long_form(&tagged.value);
            let (name, inner) = match (tag, inner) {
                ("GetAtt", Json::String(path)) => {
                    let parts: Vec<Json> = path
                        .splitn(2, '.')
                        .map(|p| Json::String(p.to_owned()))
                        .collect();
                    ("Fn::GetAtt".to_owned(), Json::Array(parts))
                }
                ("Ref" | "Condition", inner) => (tag.to_owned(), inner),
                (_, inner) => (format!("Fn::{tag}"), inner),
            };
            serde_json::json!({ name: inner })
        }
    }
}

/// The stack policy every deployed stack carries: updates are free, except replacing or
/// deleting a table (`stateful`), which CloudFormation itself then refuses.
pub fn stack_policy(stateful: &[String]) -> String {
    let tables: Vec<String> = stateful
        .iter()
        .map(|id| format!("LogicalResourceId/{id}"))
        .collect();
    serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": ["Update:Replace", "Update:Delete"],
                "Principal": "*",
                "Resource": tables,
            },
        ]
    })
    .to_string()
}

/// The stack policy for the one operation `--allow-replacement` lets through.
pub fn open_stack_policy() -> String {
    serde_json::json!({
        "Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]
    })
    .to_string()
}

/// Checks `uri` is `REGISTRY/REPO@sha256:<64 hex>` or `REGISTRY/REPO:TAG`.
pub fn check_image_uri(uri: &str) -> Result<(), TemplateError> {
    let fail = |reason| {
        Err(TemplateError::ImageUri {
            uri: uri.to_owned(),
            reason,
        })
    };
    let name = if let Some((name, digest)) = uri.split_once("@sha256:") {
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return fail("has a malformed digest (64 lowercase hex digits after @sha256:)");
        }
        name
    } else {
        let last_slash = uri.rfind('/').unwrap_or(0);
        let Some(colon) = uri[last_slash..].find(':').map(|i| last_slash + i) else {
            return fail("has neither a digest nor a tag");
        };
        let tag = &uri[colon + 1..];
        let tag_ok = (1..=128).contains(&tag.len())
            && !tag.starts_with(['.', '-'])
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !tag_ok {
            return fail("has a malformed tag");
        }
        &uri[..colon]
    };
    let Some((registry, repo)) = name.split_once('/') else {
        return fail("names no registry");
    };
    let (host, port) = registry.split_once(':').unwrap_or((registry, ""));
    let host_ok = !host.is_empty()
        && (host.contains('.') || host == "localhost" || !port.is_empty())
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && port.bytes().all(|b| b.is_ascii_digit());
    if !host_ok {
        return fail("names no registry host");
    }
    let repo_ok = repo.split('/').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    });
    if !repo_ok {
        return fail(
            "has a malformed repository name (lowercase letters, digits, '.', '_', '-', '/')",
        );
    }
    Ok(())
}
