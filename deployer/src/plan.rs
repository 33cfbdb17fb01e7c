//! The plan a deploy carries out: everything resolved from flags and the environment file, with
//! the template already rendered, so the AWS steps never read configuration themselves.

use serde::Serialize;

use crate::config::Environment;

/// One CloudFormation deploy, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// `staging` or `production` (never `development`, which is local only).
    pub environment: Environment,
    /// The environment is never deployed (`EnvironmentConfig::is_local_only`): every flow
    /// refuses the plan before any AWS call.
    pub local_only: bool,
    /// The CloudFormation stack deployed.
    pub stack_name: String,
    /// The region it lives in; every client of the deploy is made for it.
    pub region: String,
    /// The AWS account the environment file says this environment belongs to.
    pub account_id: String,
    /// The rendered template body (YAML).
    pub template_body: String,
    /// Where CloudFormation reads the template instead, when it is too large to send inline:
    /// its release's copy in the releases bucket (`aws::s3`).
    pub template_url: Option<String>,
    /// Stack parameters, in a stable order.
    pub parameters: Vec<(String, String)>,
    /// Stack tags, in a stable order.
    pub tags: Vec<(String, String)>,
    /// Whether the change set must be confirmed before it runs (production: yes).
    pub confirm: bool,
    /// Logical ids of resources whose replacement loses data (the tables).
    pub stateful_resources: Vec<String>,
    /// Termination protection on (production).
    pub protected: bool,
}

impl Plan {
    /// Sets parameter `key` (one the template declares) to `value`.
    pub fn set_parameter(&mut self, key: &str, value: &str) {
        if let Some((_, v)) = self.parameters.iter_mut().find(|(k, _)| k == key) {
            *v = value.to_owned();
        }
    }

    /// The value of parameter `key`.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
