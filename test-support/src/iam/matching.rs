//! Wildcards, ARNs and policy variables: how an `Action`, a `Resource` or a condition value
//! written in a policy is compared with what a request carries.
//!
//! * `*` matches any run of characters (none included) and `?` exactly one, anywhere in a
//!   pattern ("IAM JSON policy elements: Resource", "Action").
//! * Actions compare ignoring case ("IAM JSON policy elements: Action": `iam:ListAccessKeys`
//!   is `IAM:listaccesskeys`); resources and ARN condition values compare case-sensitively.
//! * A resource ARN is matched segment by segment (the six colon-separated parts, the last one
//!   keeping any further colons), so a `*` never spans a colon between segments but spans a
//!   `/` ("Using wildcards in resource ARNs"; "Amazon Resource Name (ARN) condition operators").
//! * `${key}` is replaced by the request's value of a single-valued context key, `${key,
//!   'default'}` falls back to the default, and `${*}`, `${?}`, `${$}` stand for those literal
//!   characters ("IAM policy elements: Variables and tags"). A variable whose key has no value
//!   leaves the whole pattern without a value: it matches nothing.

use super::Context;

/// One element of a resolved pattern: a character to match literally, or a wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    Char(char),
    /// `*`: any run of characters, none included.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Whether `pattern` matches all of `text`.
pub(crate) fn glob(pattern: &[Token], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and the text position it is currently stretched to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::One) => (p, t) = (p + 1, t + 1),
            Some(Token::Char(c)) if *c == text[t] => (p, t) = (p + 1, t + 1),
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    (p, t) = (star_p + 1, star_t + 1);
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|token| *token == Token::Star)
}

/// `text` as a pattern: `*` and `?` are wildcards when `wildcards`, every other character
/// (and those too, otherwise) literal.
pub(crate) fn tokens(text: &str, wildcards: bool) -> Vec<Token> {
    text.chars()
        .map(|c| match c {
            '*' if wildcards => Token::Star,
            '?' if wildcards => Token::One,
            c => Token::Char(c),
        })
        .collect()
}

/// Whether the `Action` pattern `pattern` (`*`, `service:*`, `s3:Get*`…) names `action`,
/// ignoring case.
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    let pattern = tokens(&pattern.to_lowercase(), true);
    let action: Vec<char> = action.to_lowercase().chars().collect();
    glob(&pattern, &action)
}

/// An ARN split into its six parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arn<'a> {
    pub(crate) partition: &'a str,
    pub(crate) service: &'a str,
    pub(crate) region: &'a str,
    pub(crate) account: &'a str,
    /// Everything after the fifth colon, colons included.
    pub(crate) resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `arn:partition:service:region:account:resource`, or `None` for anything else.
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next() != Some("arn") {
            return None;
        }
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        Some(Self {
            partition,
            service,
            region,
            account,
            resource,
        })
    }
}

/// Whether the ARN pattern `pattern` matches `value`, segment by segment.
///
/// `*` alone matches anything. A pattern of fewer than six segments is completed with `*`
/// segments; a `value` that is not a six-segment ARN is compared with the whole pattern.
pub(crate) fn arn_like(pattern: &[Token], value: &str) -> bool {
    if pattern == [Token::Star] {
        return true;
    }
    let value_segments: Vec<Vec<char>> = value
        .splitn(6, ':')
        .map(|segment| segment.chars().collect())
        .collect();
    if value_segments.len() < 6 {
        return glob(pattern, &value.chars().collect::<Vec<_>>());
    }
    let mut pattern_segments: Vec<&[Token]> = Vec::with_capacity(6);
    let mut rest = pattern;
    while pattern_segments.len() < 5 {
        match rest.iter().position(|t| *t == Token::Char(':')) {
            Some(colon) => {
                pattern_segments.push(&rest[..colon]);
                rest = &rest[colon + 1..];
            }
            None => break,
        }
    }
    pattern_segments.push(rest);
    while pattern_segments.len() < 6 {
        pattern_segments.push(&[Token::Star]);
    }
    pattern_segments
        .iter()
        .zip(&value_segments)
        .all(|(pattern, value)| glob(pattern, value))
}

/// A string from a policy that may hold policy variables (`Resource` entries and the values of
/// string, ARN and Bool conditions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text, wildcards included.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: that character, never a wildcard.
    Literal(char),
    /// `${key}` or `${key, 'default'}`; `key` lowercased.
    Variable {
        key: String,
        default: Option<String>,
    },
}

impl Template {
    /// `text` as written in a policy; with `variables` false (a policy without `"Version":
    /// "2012-10-17"`), `${…}` is plain text ("Variables and tags": earlier versions of the policy
    /// language treat variables as literal strings). A `${` without its `}`, or one whose
    /// inside is not a key (and a quoted default), is plain text too.
    pub(crate) fn parse(text: &str, variables: bool) -> Self {
        let mut parts = Vec::new();
        let mut rest = text;
        while variables && let Some(start) = rest.find("${") {
            let Some(length) = rest[start + 2..].find('}') else {
                break;
            };
            let inside = &rest[start + 2..start + 2 + length];
            let Some(part) = Self::variable(inside) else {
                // Not a variable: keep the `${` as text and look further on.
                parts.push(Part::Text(rest[..start + 2].to_owned()));
                rest = &rest[start + 2..];
                continue;
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            parts.push(part);
            rest = &rest[start + 2 + length + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Self { parts }
    }

    fn variable(inside: &str) -> Option<Part> {
        match inside {
            "*" => return Some(Part::Literal('*')),
            "?" => return Some(Part::Literal('?')),
            "$" => return Some(Part::Literal('$')),
            _ => {}
        }
        let (key, default) = match inside.split_once(',') {
            Some((key, default)) => {
                let default = default.trim();
                let quoted = default
                    .strip_prefix('\'')
                    .and_then(|d| d.strip_suffix('\''))?;
                (key.trim(), Some(quoted.to_owned()))
            }
            None => (inside.trim(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        Some(Part::Variable {
            key: key.to_lowercase(),
            default,
        })
    }

    /// Whether the text uses a policy variable (the `${*}` escapes do not count).
    pub(crate) fn has_variables(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Variable { .. }))
    }

    /// The pattern with every variable replaced by its value in `context` (taken literally);
    /// `*` and `?` in the policy text are wildcards when `wildcards`. `None` when a variable has
    /// no value: its key is absent from `context` (or multi-valued, which "Variables and tags"
    /// says cannot be a variable) and it names no default.
    pub(crate) fn resolve(&self, context: &Context, wildcards: bool) -> Option<Vec<Token>> {
        let mut pattern = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => pattern.extend(tokens(text, wildcards)),
                Part::Literal(c) => pattern.push(Token::Char(*c)),
                Part::Variable { key, default } => {
                    let value = match context.get(key) {
                        Some([single]) => single.as_str(),
                        _ => default.as_deref()?,
                    };
                    pattern.extend(value.chars().map(Token::Char));
                }
            }
        }
        Some(pattern)
    }

    /// The text with every variable replaced by its value in `context`, nothing a wildcard;
    /// `None` as for [`Template::resolve`].
    pub(crate) fn resolve_text(&self, context: &Context) -> Option<String> {
        self.resolve(context, false).map(|pattern| {
            pattern
                .into_iter()
                .map(|token| match token {
                    Token::Char(c) => c,
                    Token::Star => '*',
                    Token::One => '?',
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(pattern: &str, text: &str) -> bool {
        glob(&tokens(pattern, true), &text.chars().collect::<Vec<_>>())
    }

    fn arn(pattern: &str, value: &str) -> bool {
        arn_like(&tokens(pattern, true), value)
    }

    #[test]
    fn a_star_matches_any_run_of_characters_and_a_question_mark_exactly_one() {
        assert!(like("*", ""));
        assert!(like("a*c", "ac"));
        assert!(like("a*c", "abbbc"));
        assert!(like("*log*", "production-logs"));
        assert!(like("t?.*", "t2.micro"));
        assert!(!like("t?.*", "t.micro"));
        assert!(!like("t?.*", "t22.micro"));
        assert!(like("a*b*c", "axxbyyc"));
        assert!(!like("a*b*c", "axxbyy"));
        assert!(!like("abc", "abcd"));
        assert!(like("**?", "x"));
    }

    #[test]
    fn actions_match_ignoring_case_with_service_and_partial_wildcards() {
        assert!(action_matches("*", "s3:GetObject"));
        assert!(action_matches("s3:*", "s3:GetObject"));
        assert!(action_matches("s3:Get*", "s3:GetObject"));
        // "IAM JSON policy elements: Action": the prefix and the action name are case insensitive.
        assert!(action_matches("s3:get*", "s3:GetObject"));
        assert!(action_matches("IAM:listaccesskeys", "iam:ListAccessKeys"));
        assert!(action_matches("iam:*AccessKey*", "iam:UpdateAccessKey"));
        assert!(!action_matches("s3:Get*", "s3:PutObject"));
        assert!(!action_matches("s3:*", "s3express:CreateSession"));
        assert!(!action_matches("ecr:BatchGetImage", "ecr:BatchGetImages"));
    }

    #[test]
    fn a_resource_star_spans_slashes_within_a_segment() {
        // "IAM JSON policy elements: Resource", "Using wildcards in resource ARNs".
        let pattern = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*";
        for object in [
            "DOC-EXAMPLE-BUCKET/1/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/test/3/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/3/test/4/object.jpg",
            "DOC-EXAMPLE-BUCKET/1///test///object.jpg",
            "DOC-EXAMPLE-BUCKET/1/test/.jpg",
            "DOC-EXAMPLE-BUCKET//test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/test/",
        ] {
            assert!(arn(pattern, &format!("arn:aws:s3:::{object}")), "{object}");
        }
        for object in [
            "DOC-EXAMPLE-BUCKET/1-test/object.jpg",
            "DOC-EXAMPLE-BUCKET/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/test.jpg",
        ] {
            assert!(!arn(pattern, &format!("arn:aws:s3:::{object}")), "{object}");
        }
    }

    #[test]
    fn an_arn_star_stays_within_its_segment_but_the_last_segment_keeps_its_colons() {
        // "Amazon Resource Name (ARN) condition operators": the first `*` matches only the
        // region, so the account segment fails.
        let pattern = "arn:aws:someservice:*:111122223333:finance/*";
        let value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
        assert!(!arn(pattern, value));
        assert!(like(pattern, value), "a string match spans the colons");
        // The resource part keeps its colons: a function's aliases and versions.
        let functions = "arn:aws:lambda:eu-west-1:123456789012:function:noteapp-*";
        assert!(arn(
            functions,
            "arn:aws:lambda:eu-west-1:123456789012:function:noteapp-api"
        ));
        assert!(arn(
            functions,
            "arn:aws:lambda:eu-west-1:123456789012:function:noteapp-api:live"
        ));
        assert!(!arn(
            functions,
            "arn:aws:lambda:eu-west-1:210987654321:function:noteapp-api"
        ));
        assert!(arn(
            "arn:aws:lambda:*:*:function:*",
            "arn:aws:lambda:eu-west-1:123456789012:function:x"
        ));
    }

    #[test]
    fn resources_compare_case_sensitively() {
        assert!(!arn("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/key"));
        assert!(!arn("arn:aws:s3:::bucket/Key", "arn:aws:s3:::bucket/key"));
        assert!(arn("arn:aws:s3:::bucket/key", "arn:aws:s3:::bucket/key"));
    }

    #[test]
    fn a_lone_star_matches_everything_and_a_short_pattern_is_completed_with_stars() {
        assert!(arn("*", "arn:aws:s3:::bucket"));
        assert!(arn("*", "not an arn"));
        assert!(arn("arn:aws:s3:*", "arn:aws:s3:::bucket/key"));
        assert!(!arn("arn:aws:s3", "arn:aws:sqs:eu-west-1:123456789012:q"));
        // A value that is no ARN is compared whole.
        assert!(!arn("arn:aws:s3:::*", "*"));
        assert!(arn("noteapp-*", "noteapp-api"));
    }

    #[test]
    fn arns_split_into_their_six_parts() {
        let parsed = Arn::parse("arn:aws:sts::123456789012:assumed-role/Deploy/ci:run").unwrap();
        assert_eq!(parsed.partition, "aws");
        assert_eq!(parsed.service, "sts");
        assert_eq!(parsed.region, "");
        assert_eq!(parsed.account, "123456789012");
        assert_eq!(parsed.resource, "assumed-role/Deploy/ci:run");
        assert_eq!(Arn::parse("arn:aws:s3"), None);
        assert_eq!(Arn::parse("123456789012"), None);
    }

    fn context() -> Context {
        Context::new()
            .with("aws:username", "carlos")
            .with("aws:PrincipalTag/team", "yellow")
            .with_values("aws:TagKeys", ["a", "b"])
    }

    #[test]
    fn variables_take_the_request_value_literally_case_insensitively_by_key() {
        let t = Template::parse("arn:aws:s3:::bucket/home/${aws:UserName}/*", true);
        assert!(t.has_variables());
        let pattern = t.resolve(&context(), true).unwrap();
        assert!(arn_like(
            &pattern,
            "arn:aws:s3:::bucket/home/carlos/notes.txt"
        ));
        assert!(!arn_like(
            &pattern,
            "arn:aws:s3:::bucket/home/david/notes.txt"
        ));
        let star = Context::new().with("aws:username", "*");
        let pattern = t.resolve(&star, true).unwrap();
        assert!(
            !arn_like(&pattern, "arn:aws:s3:::bucket/home/carlos/x"),
            "a value's `*` is no wildcard"
        );
    }

    #[test]
    fn a_variable_without_a_value_leaves_the_pattern_without_one_unless_it_has_a_default() {
        let t = Template::parse("bucket-${aws:PrincipalTag/department}", true);
        assert_eq!(t.resolve(&context(), true), None);
        // "Variables and tags", "Specifying default values".
        let t = Template::parse(
            "bucket-${aws:PrincipalTag/department, 'company-wide'}",
            true,
        );
        assert_eq!(
            t.resolve_text(&context()).as_deref(),
            Some("bucket-company-wide")
        );
        let t = Template::parse("bucket-${aws:PrincipalTag/team, 'company-wide'}", true);
        assert_eq!(t.resolve_text(&context()).as_deref(), Some("bucket-yellow"));
        // A multivalued key cannot be a variable.
        let t = Template::parse("${aws:TagKeys}", true);
        assert_eq!(t.resolve(&context(), true), None);
    }

    #[test]
    fn the_special_variables_stand_for_literal_characters() {
        let t = Template::parse("a${*}b${?}c${$}d*", true);
        assert!(!t.has_variables());
        let pattern = t.resolve(&Context::new(), true).unwrap();
        assert_eq!(
            pattern,
            [
                Token::Char('a'),
                Token::Char('*'),
                Token::Char('b'),
                Token::Char('?'),
                Token::Char('c'),
                Token::Char('$'),
                Token::Char('d'),
                Token::Star,
            ]
        );
        assert!(glob(&pattern, &"a*b?c$dxyz".chars().collect::<Vec<_>>()));
        assert!(!glob(&pattern, &"aXb?c$d".chars().collect::<Vec<_>>()));
    }

    #[test]
    fn without_the_2012_version_or_when_malformed_a_variable_is_plain_text() {
        let t = Template::parse("home/${aws:username}", false);
        assert!(!t.has_variables());
        assert_eq!(
            t.resolve_text(&context()).as_deref(),
            Some("home/${aws:username}")
        );
        let t = Template::parse("home/${aws:username", true);
        assert_eq!(
            t.resolve_text(&context()).as_deref(),
            Some("home/${aws:username")
        );
        let t = Template::parse("${}x${aws:username}", true);
        assert_eq!(t.resolve_text(&context()).as_deref(), Some("${}xcarlos"));
        let t = Template::parse("${a b}", true);
        assert_eq!(t.resolve_text(&context()).as_deref(), Some("${a b}"));
    }
}
