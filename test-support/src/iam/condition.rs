//! The `Condition` element: its operators, parsed once, and whether the request context
//! satisfies them ("IAM JSON policy elements: Condition operators"; "Creating a condition with
//! multiple keys or values").
//!
//! * Every operator and every key of a `Condition` must hold (AND); the values listed for one
//!   key are alternatives (OR). A negated operator (`StringNotEquals`, `NotIpAddress`,
//!   `ArnNotLike`…) is the negation of its positive one, so several values mean "none of them".
//! * A key absent from the request context fails a positive operator and satisfies a negated
//!   one; `…IfExists` is satisfied by an absent key; `Null` tests presence itself.
//! * `ForAllValues:` holds when every request value matches (and so when the key is absent or
//!   has no values); `ForAnyValue:` holds when at least one does (never for an absent key).
//! * Keys compare ignoring case; values as the operator says.

use std::net::IpAddr;

use super::Context;
use super::matching::{Template, arn_like, glob};
use super::values::{Network, base64, parse_bool, parse_date, parse_number};

/// One operator applied to one key: `{"StringLike": {"aws:SourceArn": [...]}}` gives one per key.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    operator: Operator,
    /// Lowercased.
    key: String,
    values: Values,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    set: Option<Set>,
    test: Test,
    negated: bool,
    if_exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    ForAllValues,
    ForAnyValue,
}

/// The positive comparison an operator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Order),
    Date(Order),
    Bool,
    Binary,
    IpAddress,
    /// `ArnEquals` and `ArnLike` "behave identically".
    Arn,
    Null,
}

/// How a request value compares with a policy value: `LessThan` holds when the request's
/// value is less than the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

impl Order {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Order::Equals => request == policy,
            Order::LessThan => request < policy,
            Order::LessThanEquals => request <= policy,
            Order::GreaterThan => request > policy,
            Order::GreaterThanEquals => request >= policy,
        }
    }
}

/// The policy's values for a key, parsed as the operator reads them.
#[derive(Debug, Clone)]
enum Values {
    /// String, ARN and Bool values, which may hold policy variables.
    Text(Vec<Template>),
    Numbers(Vec<f64>),
    /// Milliseconds since the Unix epoch.
    Dates(Vec<i64>),
    Bytes(Vec<Vec<u8>>),
    Networks(Vec<Network>),
    /// `Null`'s `true` (the key must be absent) or `false` (it must be present).
    Absent(Vec<bool>),
}

impl Operator {
    /// `[ForAllValues:|ForAnyValue:]Name[IfExists]`, names compared ignoring case.
    fn parse(name: &str) -> Result<Self, String> {
        let lower = name.to_ascii_lowercase();
        let (set, rest) = if let Some(rest) = lower.strip_prefix("forallvalues:") {
            (Some(Set::ForAllValues), rest)
        } else if let Some(rest) = lower.strip_prefix("foranyvalue:") {
            (Some(Set::ForAnyValue), rest)
        } else {
            (None, lower.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("ifexists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (test, negated) = match base {
            "stringequals" => (Test::StringEquals, false),
            "stringnotequals" => (Test::StringEquals, true),
            "stringequalsignorecase" => (Test::StringEqualsIgnoreCase, false),
            "stringnotequalsignorecase" => (Test::StringEqualsIgnoreCase, true),
            "stringlike" => (Test::StringLike, false),
            "stringnotlike" => (Test::StringLike, true),
            "numericequals" => (Test::Numeric(Order::Equals), false),
            "numericnotequals" => (Test::Numeric(Order::Equals), true),
            "numericlessthan" => (Test::Numeric(Order::LessThan), false),
            "numericlessthanequals" => (Test::Numeric(Order::LessThanEquals), false),
            "numericgreaterthan" => (Test::Numeric(Order::GreaterThan), false),
            "numericgreaterthanequals" => (Test::Numeric(Order::GreaterThanEquals), false),
            "dateequals" => (Test::Date(Order::Equals), false),
            "datenotequals" => (Test::Date(Order::Equals), true),
            "datelessthan" => (Test::Date(Order::LessThan), false),
            "datelessthanequals" => (Test::Date(Order::LessThanEquals), false),
            "dategreaterthan" => (Test::Date(Order::GreaterThan), false),
            "dategreaterthanequals" => (Test::Date(Order::GreaterThanEquals), false),
            "bool" => (Test::Bool, false),
            "binaryequals" => (Test::Binary, false),
            "ipaddress" => (Test::IpAddress, false),
            "notipaddress" => (Test::IpAddress, true),
            "arnequals" | "arnlike" => (Test::Arn, false),
            "arnnotequals" | "arnnotlike" => (Test::Arn, true),
            "null" => (Test::Null, false),
            _ => return Err(format!("unknown condition operator {name:?}")),
        };
        if test == Test::Null && if_exists {
            // "You can add IfExists to the end of any condition operator name except the Null
            // condition".
            return Err(format!("{name:?}: Null takes no IfExists"));
        }
        if test == Test::Null && set.is_some() {
            return Err(format!("{name:?}: Null takes no ForAllValues/ForAnyValue"));
        }
        Ok(Self {
            set,
            test,
            negated,
            if_exists,
        })
    }
}

impl Condition {
    /// One key of one operator: `values` are the policy's values for it as strings (JSON
    /// strings, numbers and booleans alike). `variables` says whether the policy's version
    /// has policy variables. Errors name what is wrong, without the statement.
    pub(crate) fn parse(
        operator: &str,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Result<Self, String> {
        let parsed = Operator::parse(operator)?;
        match key.split_once(':') {
            Some((vendor, name)) if !vendor.is_empty() && !name.is_empty() => {}
            // "Actions/Conditions must be prefaced by a vendor".
            _ => return Err(format!("condition key {key:?} has no service prefix")),
        }
        let each = |what: &str, parse: &dyn Fn(&str) -> bool| -> Result<(), String> {
            match values.iter().find(|value| !parse(value)) {
                Some(bad) => Err(format!("{operator} {key}: {bad:?} is not {what}")),
                None => Ok(()),
            }
        };
        let values = match parsed.test {
            Test::StringEquals | Test::StringEqualsIgnoreCase | Test::StringLike | Test::Arn => {
                Values::Text(
                    values
                        .iter()
                        .map(|v| Template::parse(v, variables))
                        .collect(),
                )
            }
            Test::Bool => {
                let templates: Vec<Template> = values
                    .iter()
                    .map(|v| Template::parse(v, variables))
                    .collect();
                match values.iter().zip(&templates).find(|(value, template)| {
                    !template.has_variables() && parse_bool(value).is_none()
                }) {
                    Some((bad, _)) => {
                        return Err(format!("{operator} {key}: {bad:?} is not true or false"));
                    }
                    None => Values::Text(templates),
                }
            }
            Test::Numeric(_) => {
                each("a number", &|v| parse_number(v).is_some())?;
                Values::Numbers(values.iter().filter_map(|v| parse_number(v)).collect())
            }
            Test::Date(_) => {
                each("an ISO 8601 date or epoch time", &|v| {
                    parse_date(v).is_some()
                })?;
                Values::Dates(values.iter().filter_map(|v| parse_date(v)).collect())
            }
            Test::Binary => {
                each("base64", &|v| base64(v).is_some())?;
                Values::Bytes(values.iter().filter_map(|v| base64(v)).collect())
            }
            Test::IpAddress => {
                each("an IP address or CIDR range", &|v| {
                    Network::parse(v).is_some()
                })?;
                Values::Networks(values.iter().filter_map(|v| Network::parse(v)).collect())
            }
            Test::Null => {
                each("true or false", &|v| parse_bool(v).is_some())?;
                Values::Absent(values.iter().filter_map(|v| parse_bool(v)).collect())
            }
        };
        Ok(Self {
            operator: parsed,
            key: key.to_lowercase(),
            values,
        })
    }

    /// Whether `context` satisfies this condition.
    pub(crate) fn holds(&self, context: &Context) -> bool {
        let present = context.get(&self.key).filter(|values| !values.is_empty());
        let op = self.operator;
        if let Values::Absent(wanted) = &self.values {
            return wanted.iter().any(|&absent| absent == present.is_none());
        }
        let Some(request_values) = present else {
            return match op.set {
                _ if op.if_exists => true,
                Some(Set::ForAllValues) => true,
                Some(Set::ForAnyValue) => false,
                None => op.negated,
            };
        };
        let each = |value: &String| self.any_policy_value_matches(value, context) != op.negated;
        match op.set {
            Some(Set::ForAllValues) => request_values.iter().all(each),
            Some(Set::ForAnyValue) => request_values.iter().any(each),
            // A plain operator on a key with several values: the positive operator holds when any
            // value matches, the negated one when none does.
            None => {
                request_values
                    .iter()
                    .any(|value| self.any_policy_value_matches(value, context))
                    != op.negated
            }
        }
    }

    /// The positive test: whether one request value matches any of the policy's values.
    fn any_policy_value_matches(&self, value: &str, context: &Context) -> bool {
        match (&self.values, self.operator.test) {
            (Values::Text(templates), test) => templates.iter().any(|template| match test {
                Test::StringEquals => template.resolve_text(context).is_some_and(|p| p == value),
                Test::StringEqualsIgnoreCase => template
                    .resolve_text(context)
                    .is_some_and(|p| p.to_lowercase() == value.to_lowercase()),
                Test::StringLike => template
                    .resolve(context, true)
                    .is_some_and(|p| glob(&p, &value.chars().collect::<Vec<_>>())),
                Test::Arn => template
                    .resolve(context, true)
                    .is_some_and(|p| arn_like(&p, value)),
                Test::Bool => template
                    .resolve_text(context)
                    .and_then(|p| parse_bool(&p))
                    .is_some_and(|p| Some(p) == parse_bool(value)),
                _ => false,
            }),
            (Values::Numbers(numbers), Test::Numeric(order)) => parse_number(value)
                .is_some_and(|value| numbers.iter().any(|&p| order.holds(value, p))),
            (Values::Dates(dates), Test::Date(order)) => {
                parse_date(value).is_some_and(|value| dates.iter().any(|&p| order.holds(value, p)))
            }
            (Values::Bytes(bytes), _) => base64(value).is_some_and(|value| bytes.contains(&value)),
            (Values::Networks(networks), _) => value
                .parse::<IpAddr>()
                .is_ok_and(|ip| networks.iter().any(|n| n.contains(ip))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(operator: &str, key: &str, values: &[&str]) -> Condition {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Condition::parse(operator, key, &values, true).unwrap()
    }

    fn holds(operator: &str, key: &str, values: &[&str], context: &Context) -> bool {
        condition(operator, key, values).holds(context)
    }

    fn one(key: &str, value: &str) -> Context {
        Context::new().with(key, value)
    }

    #[test]
    fn string_equals_is_case_sensitive_and_its_ignore_case_form_is_not() {
        // "IAM JSON policy elements: Condition": only `johndoe` matches StringEquals.
        let john = one("aws:username", "johndoe");
        let john_cased = one("aws:username", "JohnDoe");
        assert!(holds("StringEquals", "aws:username", &["johndoe"], &john));
        assert!(!holds(
            "StringEquals",
            "aws:username",
            &["johndoe"],
            &john_cased
        ));
        assert!(holds(
            "StringEqualsIgnoreCase",
            "aws:username",
            &["johndoe"],
            &john_cased
        ));
        assert!(!holds(
            "StringNotEqualsIgnoreCase",
            "aws:username",
            &["johndoe"],
            &john_cased
        ));
        assert!(holds(
            "StringNotEquals",
            "aws:username",
            &["johndoe"],
            &john_cased
        ));
        // StringEquals has no wildcards.
        assert!(!holds("StringEquals", "aws:username", &["john*"], &john));
    }

    #[test]
    fn condition_keys_compare_ignoring_case() {
        // "IAM JSON policy elements: Condition": `aws:SourceIP` is `AWS:SourceIp`.
        let context = one("AWS:SourceIp", "203.0.113.7");
        assert!(holds(
            "IpAddress",
            "aws:SourceIP",
            &["203.0.113.0/24"],
            &context
        ));
        let context = one("aws:sourceArn", "arn:aws:lambda:eu-west-1:1:function:f");
        assert!(holds(
            "ArnLike",
            "aws:SourceArn",
            &["arn:aws:lambda:*:*:function:*"],
            &context
        ));
    }

    #[test]
    fn string_like_takes_star_and_question_mark_wildcards_and_is_case_sensitive() {
        // "Condition operators", "…IfExists": `t1.*`, `t2.*`, `m3.*` instance types.
        let types = ["t1.*", "t2.*", "m3.*"];
        assert!(holds(
            "StringLike",
            "ec2:InstanceType",
            &types,
            &one("ec2:InstanceType", "t2.micro")
        ));
        assert!(!holds(
            "StringLike",
            "ec2:InstanceType",
            &types,
            &one("ec2:InstanceType", "c5.large")
        ));
        assert!(!holds(
            "StringLike",
            "ec2:InstanceType",
            &types,
            &one("ec2:InstanceType", "T2.micro")
        ));
        assert!(holds(
            "StringLike",
            "s3:prefix",
            &["home/?/"],
            &one("s3:prefix", "home/a/")
        ));
        assert!(!holds(
            "StringLike",
            "s3:prefix",
            &["home/?/"],
            &one("s3:prefix", "home/ab/")
        ));
        assert!(holds(
            "StringNotLike",
            "s3:prefix",
            &["home/?/"],
            &one("s3:prefix", "home/ab/")
        ));
        // An empty prefix matches only the empty value ("Condition operators", StringLike example).
        assert!(holds(
            "StringLike",
            "s3:prefix",
            &["", "home/"],
            &one("s3:prefix", "")
        ));
    }

    #[test]
    fn several_values_for_a_key_are_alternatives_and_a_negated_operator_must_miss_them_all() {
        // "Creating a condition with multiple keys or values": multiple values for one key OR;
        // for negated operators they work like AND.
        let accounts = ["111122223333", "444455556666"];
        let ours = one("aws:PrincipalAccount", "444455556666");
        let theirs = one("aws:PrincipalAccount", "999999999999");
        assert!(holds(
            "StringEquals",
            "aws:PrincipalAccount",
            &accounts,
            &ours
        ));
        assert!(!holds(
            "StringEquals",
            "aws:PrincipalAccount",
            &accounts,
            &theirs
        ));
        assert!(!holds(
            "StringNotEquals",
            "aws:PrincipalAccount",
            &accounts,
            &ours
        ));
        assert!(holds(
            "StringNotEquals",
            "aws:PrincipalAccount",
            &accounts,
            &theirs
        ));
    }

    #[test]
    fn a_key_absent_from_the_context_fails_positive_operators_and_satisfies_negated_ones() {
        // "IAM JSON policy elements: Condition operators", the Important note.
        let empty = Context::new();
        for (operator, value) in [
            ("StringEquals", "x"),
            ("StringLike", "*"),
            ("NumericLessThan", "10"),
            ("DateGreaterThan", "2020-01-01T00:00:01Z"),
            ("Bool", "false"),
            ("BinaryEquals", "QmluYXJ5"),
            ("IpAddress", "0.0.0.0/0"),
            ("ArnLike", "*"),
        ] {
            assert!(!holds(operator, "aws:Key", &[value], &empty), "{operator}");
        }
        for (operator, value) in [
            ("StringNotEquals", "x"),
            ("StringNotLike", "*"),
            ("StringNotEqualsIgnoreCase", "x"),
            ("NumericNotEquals", "10"),
            ("DateNotEquals", "2020-01-01"),
            ("NotIpAddress", "0.0.0.0/0"),
            ("ArnNotLike", "*"),
            ("ArnNotEquals", "*"),
        ] {
            assert!(holds(operator, "aws:Key", &[value], &empty), "{operator}");
        }
    }

    #[test]
    fn if_exists_is_satisfied_by_an_absent_key_and_tests_a_present_one() {
        // "Condition operators", "…IfExists condition operators": StringLikeIfExists on
        // ec2:InstanceType.
        let types = ["t1.*", "t2.*", "m3.*"];
        let key = "ec2:InstanceType";
        assert!(holds("StringLikeIfExists", key, &types, &Context::new()));
        assert!(holds(
            "StringLikeIfExists",
            key,
            &types,
            &one(key, "m3.large")
        ));
        assert!(!holds(
            "StringLikeIfExists",
            key,
            &types,
            &one(key, "c5.large")
        ));
        // "NotAction" example: BoolIfExists aws:MultiFactorAuthPresent false.
        let mfa = "aws:MultiFactorAuthPresent";
        assert!(holds("BoolIfExists", mfa, &["false"], &Context::new()));
        assert!(holds("BoolIfExists", mfa, &["false"], &one(mfa, "false")));
        assert!(!holds("BoolIfExists", mfa, &["false"], &one(mfa, "true")));
        assert!(holds(
            "StringNotEqualsIfExists",
            "aws:ResourceTag/team",
            &["a"],
            &Context::new()
        ));
    }

    #[test]
    fn several_keys_and_several_operators_must_all_hold() {
        // "Creating a condition with multiple keys or values", the first example: two principal
        // tags under StringEqualsIgnoreCase and the account under StringEquals.
        let department = condition(
            "StringEqualsIgnoreCase",
            "aws:PrincipalTag/department",
            &["finance", "hr", "legal"],
        );
        let role = condition(
            "StringEqualsIgnoreCase",
            "aws:PrincipalTag/role",
            &["audit", "security"],
        );
        let account = condition("StringEquals", "aws:PrincipalAccount", &["123456789012"]);
        let all = |context: &Context| {
            [&department, &role, &account]
                .iter()
                .all(|c| c.holds(context))
        };
        let auditor = Context::new()
            .with("aws:PrincipalTag/department", "HR")
            .with("aws:PrincipalTag/role", "audit")
            .with("aws:PrincipalAccount", "123456789012");
        assert!(all(&auditor));
        assert!(!all(&auditor
            .clone()
            .with("aws:PrincipalTag/role", "developer")));
        assert!(!all(&auditor
            .clone()
            .with("aws:PrincipalAccount", "210987654321")));
        let mut untagged = auditor;
        untagged.remove("aws:PrincipalTag/role");
        assert!(!all(&untagged));
    }

    #[test]
    fn for_all_values_needs_every_request_value_among_the_policys() {
        // "Creating a condition with multiple keys or values": dynamodb:Attributes.
        let allowed = ["ID", "Message", "Tags"];
        let key = "dynamodb:Attributes";
        let request = |values: &[&str]| Context::new().with_values(key, values.iter().copied());
        assert!(holds(
            "ForAllValues:StringEquals",
            key,
            &allowed,
            &request(&["ID", "Message", "Tags"])
        ));
        assert!(holds(
            "ForAllValues:StringEquals",
            key,
            &allowed,
            &request(&["Message"])
        ));
        assert!(!holds(
            "ForAllValues:StringEquals",
            key,
            &["PostDateTime", "Message", "Tags"],
            &request(&["PostDateTime", "UserName"])
        ));
    }

    #[test]
    fn for_any_value_needs_one_request_value_among_the_policys() {
        // "Creating a condition with multiple keys or values": the PutItem deny.
        let forbidden = ["ID", "PostDateTime"];
        let key = "dynamodb:Attributes";
        let request = |values: &[&str]| Context::new().with_values(key, values.iter().copied());
        assert!(holds(
            "ForAnyValue:StringEquals",
            key,
            &forbidden,
            &request(&["UserName", "Message", "PostDateTime"])
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            key,
            &forbidden,
            &request(&["UserName"])
        ));
    }

    #[test]
    fn for_all_values_holds_for_an_absent_or_empty_key_and_for_any_value_does_not() {
        // "Creating a condition with multiple keys or values": ForAllValues returns true if
        // there are no keys in the request or an empty data set; ForAnyValue false.
        let key = "aws:TagKeys";
        let empty = Context::new().with_values(key, Vec::<String>::new());
        for context in [Context::new(), empty] {
            assert!(holds("ForAllValues:StringLike", key, &["key1*"], &context));
            assert!(!holds("ForAnyValue:StringLike", key, &["key1*"], &context));
        }
    }

    #[test]
    fn for_all_values_with_a_negated_operator_needs_every_request_value_to_miss() {
        // "Multivalued context key examples": ForAllValues:StringNotLike aws:TagKeys "key1*".
        let key = "aws:TagKeys";
        let request = |values: &[&str]| Context::new().with_values(key, values.iter().copied());
        let op = "ForAllValues:StringNotLike";
        assert!(!holds(op, key, &["key1*"], &request(&["key1:legal"])));
        assert!(!holds(
            op,
            key,
            &["key1*"],
            &request(&["key1:hr", "key1:personnel"])
        ));
        assert!(holds(op, key, &["key1*"], &request(&["key2:audit"])));
        assert!(holds(op, key, &["key1*"], &Context::new()));
        // Some request value outside the policy's set.
        let op = "ForAnyValue:StringNotEquals";
        assert!(holds(op, key, &["a", "b"], &request(&["a", "c"])));
        assert!(!holds(op, key, &["a", "b"], &request(&["a", "b"])));
    }

    #[test]
    fn null_true_holds_for_an_absent_key_and_false_for_a_present_one() {
        // "Condition operator to check existence of condition keys": aws:TokenIssueTime.
        let key = "aws:TokenIssueTime";
        let temporary = one(key, "2024-05-01T10:00:00Z");
        assert!(holds("Null", key, &["true"], &Context::new()));
        assert!(!holds("Null", key, &["true"], &temporary));
        assert!(holds("Null", key, &["false"], &temporary));
        assert!(!holds("Null", key, &["false"], &Context::new()));
        // An empty set of values is no value ("ForAllValues … null data set").
        let empty = Context::new().with_values(key, Vec::<String>::new());
        assert!(holds("Null", key, &["true"], &empty));
    }

    #[test]
    fn numeric_operators_compare_the_request_value_with_the_policys() {
        // "Condition operators", "Numeric condition operators": s3:max-keys up to 10.
        let key = "s3:max-keys";
        assert!(holds(
            "NumericLessThanEquals",
            key,
            &["10"],
            &one(key, "10")
        ));
        assert!(holds("NumericLessThanEquals", key, &["10"], &one(key, "3")));
        assert!(!holds(
            "NumericLessThanEquals",
            key,
            &["10"],
            &one(key, "11")
        ));
        assert!(!holds("NumericLessThan", key, &["10"], &one(key, "10")));
        assert!(holds("NumericGreaterThan", key, &["2.5"], &one(key, "3")));
        assert!(holds(
            "NumericGreaterThanEquals",
            key,
            &["-1"],
            &one(key, "-1")
        ));
        assert!(holds("NumericEquals", key, &["10"], &one(key, "10.0")));
        assert!(holds("NumericNotEquals", key, &["10"], &one(key, "9")));
        assert!(!holds("NumericEquals", key, &["10"], &one(key, "ten")));
    }

    #[test]
    fn date_operators_read_iso_8601_and_epoch_times() {
        // "Condition operators", "Date condition operators": aws:TokenIssueTime after
        // 2020-01-01T00:00:01Z.
        let key = "aws:TokenIssueTime";
        let after = ["2020-01-01T00:00:01Z"];
        assert!(holds(
            "DateGreaterThan",
            key,
            &after,
            &one(key, "2020-06-01T12:00:00Z")
        ));
        assert!(!holds(
            "DateGreaterThan",
            key,
            &after,
            &one(key, "2019-12-31T23:59:59Z")
        ));
        assert!(!holds(
            "DateGreaterThan",
            key,
            &after,
            &one(key, "2020-01-01T00:00:01Z")
        ));
        assert!(holds(
            "DateGreaterThanEquals",
            key,
            &after,
            &one(key, "2020-01-01T00:00:01Z")
        ));
        // The same instant written as epoch seconds and with an offset.
        assert!(holds(
            "DateEquals",
            key,
            &["1577836801"],
            &one(key, "2020-01-01T00:00:01Z")
        ));
        assert!(holds(
            "DateEquals",
            key,
            &after,
            &one(key, "2020-01-01T01:00:01+01:00")
        ));
        assert!(holds(
            "DateEquals",
            key,
            &after,
            &one(key, "2019-12-31T19:00:01-05:00")
        ));
        assert!(holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2020-06-30"],
            &one("aws:CurrentTime", "2020-06-29T23:59:59Z")
        ));
        assert!(!holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2020-06"],
            &one("aws:CurrentTime", "2020-06-01T00:00:00.001Z")
        ));
        assert!(holds(
            "DateNotEquals",
            key,
            &["2020"],
            &one(key, "2020-01-02")
        ));
        assert!(!holds("DateEquals", key, &after, &one(key, "yesterday")));
    }

    #[test]
    fn bool_compares_true_and_false() {
        // "Condition operators", "Boolean condition operators": aws:SecureTransport.
        let key = "aws:SecureTransport";
        assert!(holds("Bool", key, &["false"], &one(key, "false")));
        assert!(!holds("Bool", key, &["false"], &one(key, "true")));
        assert!(holds("Bool", key, &["true"], &one(key, "TRUE")));
        assert!(!holds("Bool", key, &["true"], &one(key, "yes")));
    }

    #[test]
    fn binary_equals_compares_the_decoded_bytes() {
        // "Condition operators", "Binary condition operators".
        let key = "aws:Key";
        let policy = ["QmluYXJ5VmFsdWVJbkJhc2U2NA=="];
        assert!(holds(
            "BinaryEquals",
            key,
            &policy,
            &one(key, "QmluYXJ5VmFsdWVJbkJhc2U2NA==")
        ));
        assert!(holds(
            "BinaryEquals",
            key,
            &policy,
            &one(key, "QmluYXJ5VmFsdWVJbkJhc2U2NA")
        ));
        assert!(!holds("BinaryEquals", key, &policy, &one(key, "QmluYXJ5")));
    }

    #[test]
    fn ip_address_matches_ipv4_and_ipv6_ranges_and_single_addresses() {
        // "Condition operators", "IP address condition operators".
        let key = "aws:SourceIp";
        let ranges = ["203.0.113.0/24", "2001:DB8:1234:5678::/64"];
        assert!(holds("IpAddress", key, &ranges, &one(key, "203.0.113.255")));
        assert!(!holds("IpAddress", key, &ranges, &one(key, "203.0.114.0")));
        assert!(holds(
            "IpAddress",
            key,
            &ranges,
            &one(key, "2001:db8:1234:5678:abcd::1")
        ));
        assert!(!holds(
            "IpAddress",
            key,
            &ranges,
            &one(key, "2001:db8:1234:5679::1")
        ));
        assert!(holds(
            "NotIpAddress",
            key,
            &ranges,
            &one(key, "198.51.100.1")
        ));
        assert!(!holds(
            "NotIpAddress",
            key,
            &ranges,
            &one(key, "203.0.113.9")
        ));
        // An address alone is its /32.
        assert!(holds(
            "IpAddress",
            key,
            &["192.0.2.1"],
            &one(key, "192.0.2.1")
        ));
        assert!(!holds(
            "IpAddress",
            key,
            &["192.0.2.1"],
            &one(key, "192.0.2.2")
        ));
        assert!(holds(
            "IpAddress",
            key,
            &["0.0.0.0/0"],
            &one(key, "192.0.2.2")
        ));
        assert!(!holds("IpAddress", key, &["0.0.0.0/0"], &one(key, "::1")));
        assert!(!holds(
            "IpAddress",
            key,
            &["0.0.0.0/0"],
            &one(key, "not an address")
        ));
    }

    #[test]
    fn arn_operators_match_segment_by_segment_and_equals_is_like() {
        // "Condition operators", "Amazon Resource Name (ARN) condition operators".
        let key = "aws:SourceArn";
        let pattern = ["arn:aws:someservice:*:111122223333:finance/*"];
        let tricky = one(
            key,
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
        );
        assert!(!holds("ArnLike", key, &pattern, &tricky));
        assert!(!holds("ArnEquals", key, &pattern, &tricky));
        assert!(holds("StringLike", key, &pattern, &tricky));
        assert!(holds("ArnNotLike", key, &pattern, &tricky));
        let fine = one(
            key,
            "arn:aws:someservice:us-east-2:111122223333:finance/document.txt",
        );
        assert!(holds("ArnEquals", key, &pattern, &fine));
        assert!(!holds("ArnNotEquals", key, &pattern, &fine));
        // The SNS topic example: ArnEquals with no wildcard.
        let topic = "arn:aws:sns:eu-west-1:123456789012:TOPIC-ID";
        assert!(holds("ArnEquals", key, &[topic], &one(key, topic)));
        assert!(!holds(
            "ArnEquals",
            key,
            &[topic],
            &one(key, "arn:aws:sns:eu-west-1:123456789012:topic-id")
        ));
    }

    #[test]
    fn a_policy_variable_without_a_value_matches_nothing_so_negated_operators_hold() {
        // "Variables and tags", "Policy variables with no value".
        let key = "s3:ExistingObjectTag/Team";
        let policy = ["${aws:PrincipalTag/Team}"];
        let tagged = Context::new()
            .with(key, "blue")
            .with("aws:PrincipalTag/Team", "blue");
        let other = Context::new()
            .with(key, "blue")
            .with("aws:PrincipalTag/Team", "red");
        let untagged = Context::new().with(key, "blue");
        assert!(holds("StringEquals", key, &policy, &tagged));
        assert!(!holds("StringEquals", key, &policy, &other));
        assert!(!holds("StringEquals", key, &policy, &untagged));
        assert!(!holds("StringNotEquals", key, &policy, &tagged));
        assert!(holds("StringNotEquals", key, &policy, &untagged));
        // "Condition operators", the home directory example: StringLike with a variable.
        let prefixes = ["", "home/", "home/${aws:username}/"];
        let david = Context::new()
            .with("aws:username", "david")
            .with("s3:prefix", "home/david/");
        assert!(holds("StringLike", "s3:prefix", &prefixes, &david));
        let snooping = david.clone().with("s3:prefix", "home/carlos/");
        assert!(!holds("StringLike", "s3:prefix", &prefixes, &snooping));
    }

    #[test]
    fn a_plain_operator_on_several_request_values_needs_one_match_and_its_negation_none() {
        let key = "aws:PrincipalServiceNamesList";
        let context =
            Context::new().with_values(key, ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]);
        assert!(holds(
            "StringEquals",
            key,
            &["lambda.amazonaws.com"],
            &context
        ));
        assert!(!holds(
            "StringNotEquals",
            key,
            &["lambda.amazonaws.com"],
            &context
        ));
        assert!(holds(
            "StringNotEquals",
            key,
            &["ecs.amazonaws.com"],
            &context
        ));
    }

    #[test]
    fn malformed_operators_and_values_are_refused() {
        let parse = |operator: &str, key: &str, value: &str| {
            Condition::parse(operator, key, &[value.to_owned()], true)
                .map(|_| ())
                .unwrap_err()
        };
        assert_eq!(
            parse("StringEqual", "aws:username", "a"),
            "unknown condition operator \"StringEqual\""
        );
        assert_eq!(
            parse("NullIfExists", "aws:username", "true"),
            "\"NullIfExists\": Null takes no IfExists"
        );
        assert_eq!(
            parse("ForAnyValue:Null", "aws:username", "true"),
            "\"ForAnyValue:Null\": Null takes no ForAllValues/ForAnyValue"
        );
        assert_eq!(
            parse("StringEquals", "username", "a"),
            "condition key \"username\" has no service prefix"
        );
        assert_eq!(
            parse("NumericLessThan", "s3:max-keys", "ten"),
            "NumericLessThan s3:max-keys: \"ten\" is not a number"
        );
        assert_eq!(
            parse("NumericLessThan", "s3:max-keys", "${aws:username}"),
            "NumericLessThan s3:max-keys: \"${aws:username}\" is not a number"
        );
        assert_eq!(
            parse("DateLessThan", "aws:CurrentTime", "tomorrow"),
            "DateLessThan aws:CurrentTime: \"tomorrow\" is not an ISO 8601 date or epoch time"
        );
        assert_eq!(
            parse("IpAddress", "aws:SourceIp", "10.0.0.0/33"),
            "IpAddress aws:SourceIp: \"10.0.0.0/33\" is not an IP address or CIDR range"
        );
        assert_eq!(
            parse("BinaryEquals", "aws:Key", "%%"),
            "BinaryEquals aws:Key: \"%%\" is not base64"
        );
        assert_eq!(
            parse("Null", "aws:Key", "yes"),
            "Null aws:Key: \"yes\" is not true or false"
        );
        assert_eq!(
            parse("Bool", "aws:SecureTransport", "no"),
            "Bool aws:SecureTransport: \"no\" is not true or false"
        );
        // Operator names compare ignoring case; a variable may stand for a Bool value.
        assert!(Condition::parse("stringequals", "aws:username", &["a".into()], true).is_ok());
        assert!(
            Condition::parse("Bool", "aws:SecureTransport", &["${aws:x}".into()], true).is_ok()
        );
    }
}
