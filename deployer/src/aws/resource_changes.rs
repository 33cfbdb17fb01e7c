//! What a change set would do, per resource: the diff a person reads before a deploy runs, and
//! the one rule that stops a deploy on its own — replacing a stateful resource (a table), or
//! removing one (a logical id renamed in the template removes the old table and adds an empty
//! new one), empties it from the application's point of view, so it blocks unless
//! `--allow-replacement` is given.

use std::fmt;

use serde::Serialize;

/// One resource a change set adds, modifies or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import` or `Dynamic`, as CloudFormation names them.
    pub action: String,
    /// The resource's logical id in the template.
    pub logical_id: String,
    /// Its physical id; `None` for a resource not created yet.
    pub physical_id: Option<String>,
    /// Its type, such as `AWS::DynamoDB::Table`.
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for a modification; absent otherwise.
    pub replacement: Option<String>,
    /// The properties that change, where CloudFormation says which.
    pub properties: Vec<String>,
}

impl ResourceChange {
    /// Reads one change of a DescribeChangeSet answer; `None` for a non-resource change.
    pub fn from_sdk(change: &aws_sdk_cloudformation::types::Change) -> Option<Self> {
        let rc = change.resource_change()?;
        let mut properties: Vec<String> = rc
            .details()
            .iter()
            .filter_map(|d| d.target()?.name().map(str::to_owned))
            .collect();
        properties.dedup();
        Some(Self {
            action: rc
                .action()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
            physical_id: rc
                .physical_resource_id()
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            resource_type: rc.resource_type().unwrap_or_default().to_owned(),
            replacement: rc.replacement().map(|r| r.as_str().to_owned()),
            properties,
        })
    }

    /// Whether this change may replace the resource (CloudFormation says `True` or `Conditional`).
    pub fn may_replace(&self) -> bool {
        matches!(self.replacement.as_deref(), Some("True" | "Conditional"))
    }

    fn symbol(&self) -> char {
        match self.action.as_str() {
            "Add" => '+',
            "Remove" => '-',
            "Modify" if self.may_replace() => '!',
            "Modify" => '~',
            _ => '?',
        }
    }
}

/// The resource type whose replacement or removal loses data.
const TABLE_TYPE: &str = "AWS::DynamoDB::Table";

impl ResourceChange {
    /// Whether this change takes a stateful resource's data away: it may replace one of
    /// `stateful`, or it removes a table (by type: a renamed table is no longer in `stateful`).
    pub fn loses_data(&self, stateful: &[String]) -> bool {
        match self.action.as_str() {
            "Modify" => self.may_replace() && stateful.contains(&self.logical_id),
            "Remove" => self.resource_type == TABLE_TYPE || stateful.contains(&self.logical_id),
            _ => false,
        }
    }

    /// `replace NotesTable` or `remove NotesTable (noteapp-staging-NotesTable-1X2Y)`.
    pub fn what_it_does(&self) -> String {
        match (self.action.as_str(), &self.physical_id) {
            ("Remove", Some(physical)) => format!("remove {} ({physical})", self.logical_id),
            ("Remove", None) => format!("remove {}", self.logical_id),
            _ => format!("replace {}", self.logical_id),
        }
    }
}

/// The logical ids of stateful resources this change set may replace or removes (blocked by
/// default).
pub fn blocked_replacements(changes: &[ResourceChange], stateful: &[String]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.loses_data(stateful))
        .map(|c| c.logical_id.clone())
        .collect()
}

/// What each blocked change does, for a message: `replace NotesTable, remove UsersTable (…)`.
pub fn blocked_summary(changes: &[ResourceChange], stateful: &[String]) -> String {
    changes
        .iter()
        .filter(|c| c.loses_data(stateful))
        .map(ResourceChange::what_it_does)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The diff as people read it: one line per resource, `+` add, `~` modify, `!` may replace,
/// `-` remove.
pub struct Diff<'a> {
    /// The change set's changes, one line each.
    pub changes: &'a [ResourceChange],
    /// The logical ids of the stateful resources (the tables), whose replacement or removal is
    /// marked blocked.
    pub stateful: &'a [String],
}

impl fmt::Display for Diff<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "  (no resource changes)");
        }
        let id_width = self
            .changes
            .iter()
            .map(|c| c.logical_id.len())
            .max()
            .unwrap_or(0);
        let type_width = self
            .changes
            .iter()
            .map(|c| c.resource_type.len())
            .max()
            .unwrap_or(0);
        for change in self.changes {
            let mut what = change.action.to_lowercase();
            if change.action == "Modify" {
                match change.replacement.as_deref() {
                    Some("True") => what.push_str(", REPLACES the resource"),
                    Some("Conditional") => what.push_str(", may replace the resource"),
                    _ => {}
                }
            }
            if !change.properties.is_empty() {
                what.push_str(&format!(" ({})", change.properties.join(", ")));
            }
            if change.loses_data(self.stateful) {
                what.push_str(" [stateful: blocked without --allow-replacement]");
            }
            writeln!(
                f,
                "  {} {:id_width$}  {:type_width$}  {what}",
                change.symbol(),
                change.logical_id,
                change.resource_type,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, action: &str, replacement: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_id: id.into(),
            physical_id: None,
            resource_type: "AWS::DynamoDB::Table".into(),
            replacement: replacement.map(str::to_owned),
            properties: vec!["KeySchema".into()],
        }
    }

    #[test]
    fn only_replacement_of_a_stateful_resource_blocks() {
        let stateful = vec!["NotesTable".to_owned(), "UsersTable".to_owned()];
        let changes = vec![
            change("NotesTable", "Modify", Some("True")),
            change("UsersTable", "Modify", Some("False")),
            change("ApiFunction", "Modify", Some("True")),
            change("CommentsTable", "Add", None),
        ];
        assert_eq!(
            blocked_replacements(&changes, &stateful),
            vec!["NotesTable"]
        );
    }

    #[test]
    fn removing_a_table_blocks_even_under_a_name_the_template_no_longer_has() {
        // NotesTable renamed to NotesTableV2: the old one is removed, an empty one added.
        let stateful = vec!["NotesTableV2".to_owned()];
        let mut removed = change("NotesTable", "Remove", None);
        removed.physical_id = Some("noteapp-staging-NotesTable-1X2Y".into());
        let changes = vec![removed, change("NotesTableV2", "Add", None)];
        assert_eq!(
            blocked_replacements(&changes, &stateful),
            vec!["NotesTable"]
        );
        assert_eq!(
            blocked_summary(&changes, &stateful),
            "remove NotesTable (noteapp-staging-NotesTable-1X2Y)"
        );
        let mut queue = change("Queue", "Remove", None);
        queue.resource_type = "AWS::SQS::Queue".into();
        assert!(blocked_replacements(&[queue], &stateful).is_empty());
    }

    #[test]
    fn a_conditional_replacement_of_a_table_blocks_too() {
        let stateful = vec!["NotesTable".to_owned()];
        let changes = vec![change("NotesTable", "Modify", Some("Conditional"))];
        assert_eq!(
            blocked_replacements(&changes, &stateful),
            vec!["NotesTable"]
        );
    }

    #[test]
    fn the_diff_marks_each_action_and_a_blocked_replacement() {
        let stateful = vec!["NotesTable".to_owned()];
        let changes = vec![
            change("NotesTable", "Modify", Some("True")),
            change("Queue", "Remove", None),
        ];
        let text = Diff {
            changes: &changes,
            stateful: &stateful,
        }
        .to_string();
        assert!(text.contains("! NotesTable"), "{text}");
        assert!(
            text.contains("REPLACES the resource (KeySchema) [stateful: blocked"),
            "{text}"
        );
        assert!(text.contains("- Queue"), "{text}");
    }
}
