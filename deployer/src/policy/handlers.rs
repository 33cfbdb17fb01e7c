//! What CloudFormation's resource handlers call with the deployer's credentials, decided by the
//! test kit against the deploy policy as IAM decides it: every resource of the rendered
//! templates, each permission its type's handlers list (create, read, update, delete; from the
//! types' registry schemas, `kit::handlers`) on the resource it acts on, apart from those serving
//! a property the templates do not use (`kit::handlers::NOT_USED`, each with that property). A
//! resource type whose handlers the kit does not know fails, so a new type cannot arrive without
//! its permissions being looked at.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use noteapp_test_support::kit::cfn::Stack;
    use noteapp_test_support::kit::{Kit, handlers};
    use serde_json::Value;

    use crate::policy::{Scope, bootstrap_policy, deploy_policy};

    /// The denials of the handlers' calls for `template` deployed as `stack` under `policy`.
    fn denied(
        (identity, altered): (&str, bool),
        template: &Value,
        stack: &str,
        scope: &Scope,
        policy: Value,
        parameters: BTreeMap<String, String>,
    ) -> Vec<String> {
        let kit = Kit::new(&scope.account, &scope.region);
        let register = if altered {
            Kit::altered_identity
        } else {
            Kit::identity
        };
        let credentials = register(
            &kit,
            identity,
            &format!(
                "arn:aws:sts::{}:assumed-role/noteapp-operators/alice",
                scope.account
            ),
            vec![policy],
        );
        let deployed =
            Stack::from_template(template, stack, kit.place(), parameters, &BTreeMap::new())
                .unwrap();
        let calls = handlers::authorizations(template, &deployed, kit.place()).unwrap();
        assert!(calls.len() > 20, "{} calls", calls.len());
        let key = aws_credential_types::Credentials::access_key_id(&credentials).to_owned();
        let out = calls
            .iter()
            .filter_map(|c| {
                kit.decide(&key, &c.call)
                    .err()
                    .map(|d| format!("{} ({}): {d}", c.logical_id, c.resource_type))
            })
            .collect();
        kit.take_denials();
        out
    }

    /// An environment's template as its deploy renders it (the image in its account), with the
    /// deploy policy's scope and the parameters sent.
    struct Rendered {
        template: Value,
        scope: Scope,
        parameters: BTreeMap<String, String>,
    }

    impl Rendered {
        fn of(environment: &str) -> Self {
            let root = noteapp_test_support::workspace();
            let config = crate::config::load(&root, environment).unwrap();
            let image = crate::template::placeholder_image_uri(&config)
                .replace("000000000000", &config.account_id);
            let plan = crate::template::load_plan(&root, &config, &image).unwrap();
            Self {
                template: crate::template::cloudformation_json(&plan.template_body).unwrap(),
                scope: Scope {
                    region: config.region.clone(),
                    account: config.account_id.clone(),
                    stack: config.stack_name.clone(),
                    repository: crate::aws::ecr::DEFAULT_REPOSITORY.into(),
                },
                parameters: plan.parameters.into_iter().collect(),
            }
        }
    }

    #[test]
    fn cloudformation_may_create_update_and_delete_every_resource_of_both_environments_as_the_deployer()
     {
        for environment in ["staging", "production"] {
            let rendered = Rendered::of(environment);
            let denied = denied(
                ("deployer", false),
                &rendered.template,
                &rendered.scope.stack,
                &rendered.scope,
                deploy_policy(&rendered.scope),
                rendered.parameters,
            );
            assert!(
                denied.is_empty(),
                "{environment}: the deploy policy refuses CloudFormation's handlers:\n{}",
                denied.join("\n")
            );
        }
    }

    #[test]
    fn cloudformation_may_keep_the_ci_stack_as_its_bootstrap_administrator() {
        let scope = Scope {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            stack: "noteapp-staging".into(),
            repository: "noteapp".into(),
        };
        let subject = crate::template::ci::Subject::Branch("main".into());
        let text = crate::template::ci::template(&scope, "octo/notes", &subject);
        let template: Value = serde_json::from_str(&text).unwrap();
        let parameters = BTreeMap::from([(
            crate::template::ci::PROVIDER_PARAMETER.to_owned(),
            "create".to_owned(),
        )]);
        let denied = denied(
            ("ci-bootstrap", false),
            &template,
            &crate::policy::ci::stack_name(&scope.stack),
            &scope,
            bootstrap_policy(&scope),
            parameters,
        );
        assert!(denied.is_empty(), "{}", denied.join("\n"));
    }

    #[test]
    fn a_permission_taken_out_of_the_policy_is_named_with_the_resource_that_needs_it() {
        let rendered = Rendered::of("staging");
        let mut policy = deploy_policy(&rendered.scope);
        for statement in policy["Statement"].as_array_mut().unwrap() {
            if let Some(actions) = statement["Action"].as_array_mut() {
                actions.retain(|a| a != "lambda:GetFunctionUrlConfig");
            }
        }
        let denied = denied(
            ("deployer", true),
            &rendered.template,
            &rendered.scope.stack,
            &rendered.scope,
            policy,
            rendered.parameters,
        );
        assert_eq!(denied.len(), 1, "{denied:#?}");
        assert!(
            denied[0].contains("(AWS::Lambda::Url)")
                && denied[0].contains("lambda:GetFunctionUrlConfig"),
            "{}",
            denied[0]
        );
    }
}
