//! `noteapp render ENV`: exactly what `noteapp deploy ENV` would send to CloudFormation, offline.
//!
//! People get the template followed by the stack's parameters and tags (both YAML documents),
//! with the alarms the template makes and what they cost a month (`template::alarms`);
//! `--json` gives `{"stack_name","region","template","parameters","tags","alarms"}` with
//! parameters and tags as objects in the plan's order and `alarms` as `{count, metric_alarms,
//! composite_alarms, alarm_metrics, monthly_usd}`; `--template-only` gives just the template body, for
//! `cfn-lint`; `--deploy-policy` gives the least-privilege IAM policy a deploy of the
//! environment needs (`policy.rs`), to attach to the role a person or CI deploys with. Without
//! `--image-uri` the plan uses a placeholder image so nothing needs AWS.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::commands::args::{EnvArgs, Loaded};
use crate::error::Error;
use crate::plan::Plan;
use crate::template;
use crate::template::alarms::{AlarmCost, alarm_cost};

/// `noteapp render ENV [--image-uri URI] [--json | --template-only | --deploy-policy]`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The environment whose file is rendered.
    #[command(flatten)]
    pub env: EnvArgs,
    /// The image to render (REGISTRY/REPO@sha256:DIGEST); default: an all-zero placeholder.
    #[arg(long, value_name = "URI")]
    pub image_uri: Option<String>,
    /// Print one JSON object: stack_name, region, template, parameters, tags.
    #[arg(long, conflicts_with = "template_only")]
    pub json: bool,
    /// Print only the template body (what cfn-lint checks).
    #[arg(long)]
    pub template_only: bool,
    /// Print the IAM policy a deploy of this environment needs (for the deploy role).
    #[arg(long, conflicts_with_all = ["json", "template_only", "image_uri"])]
    pub deploy_policy: bool,
    /// With --deploy-policy: the ECR repository the deploys push to.
    #[arg(
        long,
        env = "NOTEAPP_REPOSITORY",
        value_name = "NAME",
        default_value = crate::aws::ecr::DEFAULT_REPOSITORY,
        requires = "deploy_policy"
    )]
    pub repository: String,
}

/// Runs `noteapp render`: offline, nothing asked of AWS.
pub async fn run(args: RenderArgs) -> Result<(), Error> {
    if args.deploy_policy {
        let Loaded { config, .. } = args.env.load_deployable()?;
        let scope = crate::policy::Scope {
            region: config.region.clone(),
            account: config.account_id.clone(),
            stack: config.stack_name.clone(),
            repository: args.repository.clone(),
        };
        let policy = crate::policy::deploy_policy(&scope);
        let text =
            serde_json::to_string_pretty(&policy).map_err(|e| Error::Usage(e.to_string()))?;
        return crate::output::write_stdout(&(text + "\n"));
    }
    let Loaded { root, config } = args.env.load()?;
    let image_uri = args
        .image_uri
        .unwrap_or_else(|| template::placeholder_image_uri(&config));
    let plan = template::load_plan(&root, &config, &image_uri)?;
    let alarms = alarm_cost(&plan.template_body, &plan.parameters)?;
    if config.is_local_only() && !args.json && !args.template_only {
        eprintln!(
            "note: {} is local only: `noteapp deploy {}` refuses it",
            plan.environment, plan.environment
        );
    }
    if plan.template_body.len() > template::TEMPLATE_BODY_LIMIT && !args.json {
        eprintln!(
            "note: the template is {} bytes, over the {} CloudFormation takes in a request: a \
             deploy keeps it in the releases bucket and sends its URL",
            plan.template_body.len(),
            template::TEMPLATE_BODY_LIMIT
        );
    }
    let text = if args.template_only {
        plan.template_body.clone()
    } else if args.json {
        json(&plan, &alarms) + "\n"
    } else {
        human(&plan, &alarms)
    };
    crate::output::write_stdout(&text)
}

/// Key-value pairs serialized as an object, in their order.
struct Ordered<'a>(&'a [(String, String)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct RenderJson<'a> {
    stack_name: &'a str,
    region: &'a str,
    template: &'a str,
    parameters: Ordered<'a>,
    tags: Ordered<'a>,
    alarms: &'a AlarmCost,
}

/// The `--json` document.
fn json(plan: &Plan, alarms: &AlarmCost) -> String {
    let doc = RenderJson {
        stack_name: &plan.stack_name,
        region: &plan.region,
        template: &plan.template_body,
        parameters: Ordered(&plan.parameters),
        tags: Ordered(&plan.tags),
        alarms,
    };
    // Strings and string maps always serialize.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[derive(Serialize)]
struct Summary<'a> {
    stack: &'a str,
    environment: &'a str,
    region: &'a str,
    account: &'a str,
    confirm_changes: bool,
    stateful_resources: &'a [String],
    parameters: Ordered<'a>,
    tags: Ordered<'a>,
    /// The alarms the stack has, and their monthly cost in US dollars.
    alarms: &'a AlarmCost,
}

/// Two YAML documents: the template, then the stack, its parameters and tags, and its alarms'
/// monthly cost.
pub fn human(plan: &Plan, alarms: &AlarmCost) -> String {
    let summary = Summary {
        stack: &plan.stack_name,
        environment: plan.environment.as_str(),
        region: &plan.region,
        account: &plan.account_id,
        confirm_changes: plan.confirm,
        stateful_resources: &plan.stateful_resources,
        parameters: Ordered(&plan.parameters),
        tags: Ordered(&plan.tags),
        alarms,
    };
    // Strings, numbers and string maps always serialize.
    let summary = serde_norway::to_string(&summary).unwrap_or_default();
    let body = plan.template_body.trim_end();
    format!(
        "--- # template: {}\n{body}\n--- # stack, parameters and tags\n{summary}",
        template::TEMPLATE_PATH
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            environment: crate::config::Environment::Staging,
            local_only: false,
            stack_name: "noteapp-staging".into(),
            region: "ap-northeast-1".into(),
            account_id: "012345678901".into(),
            template_body: "Resources: {}\n".into(),
            template_url: None,
            parameters: vec![
                ("Environment".into(), "staging".into()),
                (
                    "AllowedOrigins".into(),
                    "https://a.example,https://b.example".into(),
                ),
            ],
            tags: vec![("Project".into(), "noteapp".into())],
            confirm: false,
            stateful_resources: vec!["NotesTable".into()],
            protected: false,
        }
    }

    fn cost() -> AlarmCost {
        AlarmCost {
            count: 3,
            metric_alarms: 2,
            composite_alarms: 1,
            alarm_metrics: 3,
            monthly_usd: 0.8,
        }
    }

    #[test]
    fn json_has_the_documented_shape_in_plan_order() {
        let text = json(&plan(), &cost());
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 6);
        for key in [
            "stack_name",
            "region",
            "template",
            "parameters",
            "tags",
            "alarms",
        ] {
            assert!(keys.contains(&key), "{key}");
        }
        assert_eq!(value["parameters"]["Environment"], "staging");
        assert_eq!(value["alarms"]["count"], 3);
        assert_eq!(value["alarms"]["monthly_usd"], 0.8);
        assert!(text.find("\"Environment\"").unwrap() < text.find("\"AllowedOrigins\"").unwrap());
    }

    #[test]
    fn human_output_is_the_template_then_a_yaml_summary() {
        let text = human(&plan(), &cost());
        assert!(
            text.starts_with("--- # template: templates/noteapp.yaml\nResources: {}\n--- "),
            "{text}"
        );
        let summary: serde_norway::Value = serde_norway::from_str(
            text.rsplit_once("--- # stack, parameters and tags\n")
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(summary["account"].as_str(), Some("012345678901"));
        assert_eq!(
            summary["parameters"]["AllowedOrigins"].as_str(),
            Some("https://a.example,https://b.example")
        );
        assert_eq!(summary["alarms"]["monthly_usd"].as_f64(), Some(0.8));
    }
}
