//! CloudFormation's intrinsic functions, resolved as a deployed stack would resolve them, so the
//! test kit can hold requests to the policies a template renders: each role's inline policies,
//! each resource policy, with every `!GetAtt`, `!Ref` and `!Sub` turned into the names and ARNs
//! the stack's resources have.
//!
//! The template comes in CloudFormation's JSON form (`{"Ref": …}`, `{"Fn::GetAtt": [..]}`,
//! `{"Fn::Sub": …}`, `{"Fn::Join": …}`, `{"Fn::If": …}`, `{"Fn::Select": …}`,
//! `{"Fn::Split": …}`, `{"Fn::Equals": …}`, `{"Fn::Not": …}`, `{"Fn::And"/"Fn::Or": …}`); a
//! [`Stack`] says what the deployed stack's parameters, resources and attributes are. Anything
//! it cannot resolve is an error naming the expression, so a policy is never checked half-read.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Place;

/// What a deployed stack's expressions resolve to.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// `AWS::StackName`.
    pub name: String,
    /// Parameter values (`!Ref Parameter`).
    pub parameters: BTreeMap<String, String>,
    /// Each resource's `!Ref` value (a table's name, a function's name, a queue's URL…).
    pub refs: BTreeMap<String, String>,
    /// Each resource's attributes (`!GetAtt Resource.Attribute`).
    pub attributes: BTreeMap<(String, String), String>,
}

impl Stack {
    /// Sets resource `logical_id`'s `!Ref` value.
    pub fn with_ref(mut self, logical_id: &str, value: impl Into<String>) -> Self {
        self.refs.insert(logical_id.to_owned(), value.into());
        self
    }

    /// Sets resource `logical_id`'s attribute `attribute`.
    pub fn with_attribute(
        mut self,
        logical_id: &str,
        attribute: &str,
        value: impl Into<String>,
    ) -> Self {
        self.attributes
            .insert((logical_id.to_owned(), attribute.to_owned()), value.into());
        self
    }
}

impl Stack {
    /// The stack `name` of `template` deployed in `place` with `parameters`: each resource's
    /// `!Ref` and attributes as AWS would give them, its physical name taken from `names` (by
    /// logical id) where the test chose one (its tables), else from the name property the
    /// template gives it (a function's `FunctionName`, a log group's `LogGroupName`), else
    /// made as CloudFormation makes one (`<stack>-<logical id>-<suffix>`).
    pub fn from_template(
        template: &Value,
        name: &str,
        place: &Place,
        parameters: BTreeMap<String, String>,
        names: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mut stack = Stack {
            name: name.to_owned(),
            parameters,
            ..Stack::default()
        };
        let resources = template["Resources"]
            .as_object()
            .ok_or("the template has no Resources")?;
        // Names first (a name property may itself refer to the stack), then what they make.
        for (id, resource) in resources {
            let properties = &resource["Properties"];
            let named = |property: &str| -> Result<Option<String>, String> {
                match properties.get(property) {
                    Some(value) => resolve(value, template, &stack, place)
                        .map(|v| v.as_str().map(str::to_owned)),
                    None => Ok(None),
                }
            };
            let generated = format!("{name}-{id}-KIT{}", id.len());
            let physical = match resource["Type"].as_str().unwrap_or_default() {
                "AWS::DynamoDB::Table" => names.get(id).cloned().or(named("TableName")?),
                "AWS::Lambda::Function" => named("FunctionName")?,
                "AWS::Logs::LogGroup" => named("LogGroupName")?,
                "AWS::SQS::Queue" => named("QueueName")?,
                "AWS::IAM::Role" => named("RoleName")?,
                _ => names.get(id).cloned(),
            }
            .unwrap_or(generated);
            let arn = |service: &str, rest: String| place.arn(service, &rest);
            let (reference, attributes): (String, Vec<(&str, String)>) =
                match resource["Type"].as_str().unwrap_or_default() {
                    "AWS::DynamoDB::Table" => {
                        let table = arn("dynamodb", format!("table/{physical}"));
                        let stream = format!("{table}/stream/2026-01-01T00:00:00.000");
                        (physical, vec![("Arn", table), ("StreamArn", stream)])
                    }
                    "AWS::Lambda::Function" => {
                        let function = arn("lambda", format!("function:{physical}"));
                        (physical, vec![("Arn", function)])
                    }
                    "AWS::Logs::LogGroup" => {
                        let group = arn("logs", format!("log-group:{physical}:*"));
                        (physical, vec![("Arn", group)])
                    }
                    "AWS::SQS::Queue" => {
                        let url = format!(
                            "https://sqs.{}.amazonaws.com/{}/{physical}",
                            place.region, place.account
                        );
                        let queue = arn("sqs", physical.clone());
                        (url, vec![("Arn", queue), ("QueueName", physical)])
                    }
                    "AWS::IAM::Role" => {
                        let path = named("Path")?.unwrap_or_else(|| "/".to_owned());
                        let role = format!(
                            "arn:{}:iam::{}:role{path}{physical}",
                            place.partition, place.account
                        );
                        (physical, vec![("Arn", role)])
                    }
                    "AWS::ApiGatewayV2::Api" => {
                        let api: String = id
                            .to_lowercase()
                            .chars()
                            .filter(char::is_ascii_alphanumeric)
                            .take(10)
                            .collect::<String>();
                        let endpoint =
                            format!("https://{api}.execute-api.{}.amazonaws.com", place.region);
                        (api.clone(), vec![("ApiId", api), ("ApiEndpoint", endpoint)])
                    }
                    "AWS::Events::Rule" => {
                        let rule = arn("events", format!("rule/{physical}"));
                        (physical, vec![("Arn", rule)])
                    }
                    // A qualified function ARN: the function's, then the alias's name or the
                    // version's number (the first a function publishes is 1).
                    "AWS::Lambda::Alias" | "AWS::Lambda::Version" => {
                        let function = named("FunctionName")?.unwrap_or_default();
                        let function = if function.starts_with("arn:") {
                            function
                        } else {
                            arn("lambda", format!("function:{function}"))
                        };
                        let qualifier = match named("Name")? {
                            Some(alias) => alias,
                            None => "1".to_owned(),
                        };
                        let qualified = format!("{function}:{qualifier}");
                        (
                            qualified.clone(),
                            vec![("Version", qualifier), ("Arn", qualified)],
                        )
                    }
                    "AWS::SNS::Topic" => {
                        let name = named("TopicName")?.unwrap_or(physical);
                        let topic = arn("sns", name.clone());
                        (
                            topic.clone(),
                            vec![("TopicArn", topic), ("TopicName", name)],
                        )
                    }
                    "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => {
                        let name = named("AlarmName")?.unwrap_or(physical);
                        let alarm = arn("cloudwatch", format!("alarm:{name}"));
                        (name, vec![("Arn", alarm)])
                    }
                    _ => (physical, Vec::new()),
                };
            stack.refs.insert(id.clone(), reference);
            for (attribute, value) in attributes {
                stack
                    .attributes
                    .insert((id.clone(), attribute.to_owned()), value);
            }
        }
        Ok(stack)
    }
}

/// Resolves every intrinsic function in `value` for `stack` in `place`, with the template's
/// `Conditions` (`template`) for `Fn::If`.
pub fn resolve(
    value: &Value,
    template: &Value,
    stack: &Stack,
    place: &Place,
) -> Result<Value, String> {
    Resolver {
        template,
        stack,
        place,
    }
    .value(value)
}

/// The inline policies of role `role` (a logical id of an `AWS::IAM::Role`), resolved.
pub fn role_policies(
    template: &Value,
    role: &str,
    stack: &Stack,
    place: &Place,
) -> Result<Vec<Value>, String> {
    let resource = &template["Resources"][role];
    if resource["Type"] != "AWS::IAM::Role" {
        return Err(format!("{role} is not an AWS::IAM::Role in the template"));
    }
    let policies = resource["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    policies
        .iter()
        .map(|p| resolve(&p["PolicyDocument"], template, stack, place))
        .collect()
}

struct Resolver<'a> {
    template: &'a Value,
    stack: &'a Stack,
    place: &'a Place,
}

impl Resolver<'_> {
    fn value(&self, value: &Value) -> Result<Value, String> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                if key == "Ref" || key.starts_with("Fn::") {
                    return self.function(key, arg);
                }
                Ok(Value::Object(self.map(map)?))
            }
            Value::Object(map) => Ok(Value::Object(self.map(map)?)),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let resolved = self.value(item)?;
                    // `!If [c, x, !Ref AWS::NoValue]` drops the item.
                    if resolved != Value::Null || item == &Value::Null {
                        out.push(resolved);
                    }
                }
                Ok(Value::Array(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn map(&self, map: &Map<String, Value>) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for (key, value) in map {
            let resolved = self.value(value)?;
            if resolved != Value::Null || value == &Value::Null {
                out.insert(key.clone(), resolved);
            }
        }
        Ok(out)
    }

    fn string(&self, value: &Value) -> Result<String, String> {
        match self.value(value)? {
            Value::String(s) => Ok(s),
            other => Err(format!("expected a string, got {other}")),
        }
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        let place = self.place;
        Some(match name {
            "AWS::Partition" => place.partition.clone(),
            "AWS::Region" => place.region.clone(),
            "AWS::AccountId" => place.account.clone(),
            "AWS::StackName" => self.stack.name.clone(),
            "AWS::URLSuffix" => if place.partition == "aws-cn" {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            }
            .to_owned(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str) -> Result<Value, String> {
        if name == "AWS::NoValue" {
            return Ok(Value::Null);
        }
        if let Some(value) = self.pseudo(name) {
            return Ok(Value::String(value));
        }
        if let Some(value) = self.stack.parameters.get(name) {
            return Ok(Value::String(value.clone()));
        }
        if let Some(value) = self.stack.refs.get(name) {
            return Ok(Value::String(value.clone()));
        }
        Err(format!("!Ref {name}: the stack gives it no value"))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, String> {
        self.stack
            .attributes
            .get(&(resource.to_owned(), attribute.to_owned()))
            .cloned()
            .ok_or_else(|| format!("!GetAtt {resource}.{attribute}: the stack gives it no value"))
    }

    fn condition(&self, name: &str) -> Result<bool, String> {
        let definition = &self.template["Conditions"][name];
        if definition.is_null() {
            return Err(format!("condition {name} is not in the template"));
        }
        self.truth(definition)
    }

    fn truth(&self, value: &Value) -> Result<bool, String> {
        let Some((key, arg)) = value.as_object().and_then(|m| m.iter().next()) else {
            return Err(format!("not a condition: {value}"));
        };
        let args = arg.as_array().cloned().unwrap_or_default();
        match key.as_str() {
            "Fn::Equals" => Ok(self.value(&args[0])? == self.value(&args[1])?),
            "Fn::Not" => Ok(!self.truth(&args[0])?),
            "Fn::And" => args
                .iter()
                .try_fold(true, |all, a| Ok(all && self.truth(a)?)),
            "Fn::Or" => args
                .iter()
                .try_fold(false, |any, a| Ok(any || self.truth(a)?)),
            "Condition" => self.condition(arg.as_str().unwrap_or_default()),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    fn function(&self, name: &str, arg: &Value) -> Result<Value, String> {
        match name {
            "Ref" => self.reference(arg.as_str().unwrap_or_default()),
            "Fn::GetAtt" => {
                let parts: Vec<String> = match arg {
                    Value::Array(parts) => parts
                        .iter()
                        .map(|p| self.string(p))
                        .collect::<Result<_, _>>()?,
                    Value::String(path) => path.splitn(2, '.').map(str::to_owned).collect(),
                    other => return Err(format!("Fn::GetAtt {other}")),
                };
                let [resource, attribute] = &parts[..] else {
                    return Err(format!("Fn::GetAtt {arg}"));
                };
                Ok(Value::String(self.attribute(resource, attribute)?))
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Value::String(text) => (text.clone(), Map::new()),
                    Value::Array(parts) if parts.len() == 2 => (
                        self.string(&parts[0])?,
                        parts[1].as_object().cloned().unwrap_or_default(),
                    ),
                    other => return Err(format!("Fn::Sub {other}")),
                };
                self.substitute(&text, &vars).map(Value::String)
            }
            "Fn::Join" => {
                let parts = arg.as_array().ok_or_else(|| format!("Fn::Join {arg}"))?;
                let separator = self.string(&parts[0])?;
                let items = match self.value(&parts[1])? {
                    Value::Array(items) => items,
                    other => return Err(format!("Fn::Join over {other}")),
                };
                let texts: Vec<String> = items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("Fn::Join item {i}"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Value::String(texts.join(&separator)))
            }
            "Fn::Split" => {
                let parts = arg.as_array().ok_or_else(|| format!("Fn::Split {arg}"))?;
                let separator = self.string(&parts[0])?;
                let text = self.string(&parts[1])?;
                Ok(Value::Array(
                    text.split(separator.as_str())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ))
            }
            "Fn::Select" => {
                let parts = arg.as_array().ok_or_else(|| format!("Fn::Select {arg}"))?;
                let index: usize = self
                    .string(&parts[0])?
                    .parse()
                    .map_err(|_| format!("Fn::Select {arg}"))?;
                match self.value(&parts[1])? {
                    Value::Array(items) => items
                        .get(index)
                        .cloned()
                        .ok_or_else(|| format!("Fn::Select {index} out of range")),
                    other => Err(format!("Fn::Select over {other}")),
                }
            }
            "Fn::If" => {
                let parts = arg.as_array().ok_or_else(|| format!("Fn::If {arg}"))?;
                let chosen = if self.condition(parts[0].as_str().unwrap_or_default())? {
                    &parts[1]
                } else {
                    &parts[2]
                };
                self.value(chosen)
            }
            other => Err(format!("{other} is not resolved by the test kit")),
        }
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` is written as `${Literal}`.
            if let Some(literal) = after.strip_prefix('!') {
                let end = literal
                    .find('}')
                    .ok_or_else(|| format!("unclosed ${{ in {text}"))?;
                out.push_str("${");
                out.push_str(&literal[..=end]);
                rest = &literal[end + 1..];
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text}"))?;
            let name = &after[..end];
            let value = if let Some(v) = vars.get(name) {
                self.string(v)?
            } else if let Some((resource, attribute)) = name.split_once('.') {
                self.attribute(resource, attribute)?
            } else {
                match self.reference(name)? {
                    Value::String(s) => s,
                    other => return Err(format!("${{{name}}} is {other}")),
                }
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn place() -> Place {
        Place::example()
    }

    #[test]
    fn refs_attributes_subs_and_conditions_resolve_as_the_stack_would() {
        let template = json!({
            "Conditions": {"Prod": {"Fn::Equals": [{"Ref": "Environment"}, "production"]}},
            "Resources": {"ApiRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{
                "PolicyName": "api",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Action": ["dynamodb:GetItem"],
                    "Resource": [
                        {"Fn::GetAtt": ["NotesTable", "Arn"]},
                        {"Fn::Sub": "${NotesTable.Arn}/index/*"},
                        {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${Environment}/POST/@connections/*"},
                        {"Fn::If": ["Prod", "only-in-production", {"Ref": "AWS::NoValue"}]},
                    ],
                }]},
            }]}}},
        });
        let stack = Stack {
            name: "noteapp-staging".into(),
            parameters: [("Environment".to_owned(), "staging".to_owned())].into(),
            ..Stack::default()
        }
        .with_ref("Api", "a1b2")
        .with_attribute(
            "NotesTable",
            "Arn",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t-notes",
        );
        let policies = role_policies(&template, "ApiRole", &stack, &place()).unwrap();
        assert_eq!(
            policies[0]["Statement"][0]["Resource"],
            json!([
                "arn:aws:dynamodb:eu-west-1:123456789012:table/t-notes",
                "arn:aws:dynamodb:eu-west-1:123456789012:table/t-notes/index/*",
                "arn:aws:execute-api:eu-west-1:123456789012:a1b2/staging/POST/@connections/*",
            ])
        );
        let missing = resolve(
            &json!({"Fn::GetAtt": ["Queue", "Arn"]}),
            &template,
            &stack,
            &place(),
        );
        assert!(missing.unwrap_err().contains("Queue.Arn"));
    }
}
