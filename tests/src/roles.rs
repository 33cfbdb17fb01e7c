//! The functions' execution roles, as the rendered staging template gives them, for the tables
//! a test made: the identities the runtime's handlers run as in the tests, with IAM in front of
//! moto ([`noteapp_test_support::kit::guard`]) deciding every DynamoDB request for them.
//!
//! The template is rendered by the deployer itself (`noteapp::template::plan` on
//! `environments/staging.yaml`), read in CloudFormation's JSON form, and each role's inline
//! policies are resolved for a stack whose tables are the test's ([`Roles::credentials`]): a
//! handler is held to exactly what its function may do in AWS, on exactly its stack's tables.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use aws_credential_types::Credentials;
use noteapp_runtime::functions::Function;
use noteapp_runtime::store::dynamodb::TableNames;
use noteapp_runtime::store::schema;
use noteapp_test_support::kit::cfn::{self, Stack};
use noteapp_test_support::kit::{Kit, guard};
use noteapp_test_support::loopback::Server;
use noteapp_test_support::moto::MotoServer;
use serde_json::Value;

/// The account of every test stack (moto's default account).
pub const ACCOUNT: &str = "123456789012";
/// The region of every test stack (the region the runtime's loopback clients sign for).
pub const REGION: &str = "us-east-1";
/// The stack the roles belong to.
pub const STACK: &str = "noteapp-staging";

/// The kit every function role of this test binary is registered in, and the rendered template.
pub struct Roles {
    kit: Kit,
    template: Value,
    /// Credentials already made, by (function, notes table).
    made: Mutex<BTreeMap<(String, String), Credentials>>,
}

/// The roles of this test binary (one kit; a refused request is an error the handler meets,
/// and the guard prints it).
pub fn roles() -> &'static Roles {
    static ROLES: OnceLock<Roles> = OnceLock::new();
    ROLES.get_or_init(|| {
        let root = noteapp_test_support::workspace();
        let config = noteapp::config::load(&root, "staging").expect("environments/staging.yaml");
        let uri = noteapp::template::placeholder_image_uri(&config);
        let plan = noteapp::template::load_plan(&root, &config, &uri).expect("the staging plan");
        let template = noteapp::template::cloudformation_json(&plan.template_body)
            .expect("the rendered template");
        Roles {
            kit: Kit::new(ACCOUNT, REGION),
            template,
            made: Mutex::default(),
        }
    })
}

impl Roles {
    /// The kit the roles live in.
    pub fn kit(&self) -> &Kit {
        &self.kit
    }

    /// The credentials of `function`'s role in a stack whose tables are `tables`: its inline
    /// policies resolved for them, registered in the kit under `function:<name>`.
    pub fn credentials(&self, function: Function, tables: &TableNames) -> Credentials {
        let key = (function.name().to_owned(), tables.notes.clone());
        let mut made = self.made.lock().expect("roles");
        if let Some(credentials) = made.get(&key) {
            return credentials.clone();
        }
        let stack = self.stack(tables);
        let place = self.kit.place();
        let role = format!("{}Role", function.logical_prefix());
        let policies = cfn::role_policies(&self.template, &role, &stack, place)
            .unwrap_or_else(|e| panic!("{role}'s policies: {e}"));
        let principal = format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{STACK}-{role}-KIT/{STACK}-{}",
            function.name()
        );
        let credentials = self.kit.identity(
            &format!("function:{}", function.name()),
            &principal,
            policies,
        );
        made.insert(key, credentials.clone());
        credentials
    }
}

impl Roles {
    /// The staging stack deployed with `tables`: each resource's name, ARN and attributes.
    pub fn stack(&self, tables: &TableNames) -> Stack {
        let names: BTreeMap<String, String> = schema::ALL_TABLES
            .iter()
            .filter_map(|def| Some((def.logical_id.to_owned(), tables.name_of(def)?.to_owned())))
            .collect();
        let parameters = BTreeMap::from([("Environment".to_owned(), "staging".to_owned())]);
        Stack::from_template(&self.template, STACK, self.kit.place(), parameters, &names)
            .unwrap_or_else(|e| panic!("the staging template's resources: {e}"))
    }

    /// The `!Ref` of resource `logical_id` in the stack deployed with `tables` (an API's id).
    pub fn reference(&self, logical_id: &str, tables: &TableNames) -> String {
        self.stack(tables)
            .refs
            .get(logical_id)
            .cloned()
            .unwrap_or_else(|| panic!("no resource {logical_id} in the staging template"))
    }
}

/// IAM in front of `server`: one guard per moto server of this test binary.
pub fn guard_of(server: &MotoServer) -> String {
    static GUARDS: OnceLock<Mutex<BTreeMap<String, Server>>> = OnceLock::new();
    let mut guards = GUARDS.get_or_init(Mutex::default).lock().expect("guards");
    guards
        .entry(server.endpoint().to_owned())
        .or_insert_with(|| guard(roles().kit(), server.endpoint()))
        .url
        .clone()
}

/// A DynamoDB client on `server` (through its guard) signing as `function`'s role for
/// `tables`.
pub fn client_as(
    server: &MotoServer,
    function: Function,
    tables: &TableNames,
) -> aws_sdk_dynamodb::Client {
    let sdk = noteapp_runtime::aws_http::loopback_config(&guard_of(server), REGION);
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .credentials_provider(roles().credentials(function, tables))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
