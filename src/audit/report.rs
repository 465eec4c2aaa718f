//! IAM's credential report, parsed: one row per user, the columns the audit reads.

use std::time::SystemTime;

use crate::error::{Result, RotationError};

/// One user's row of the credential report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The user name.
    pub user: String,
    /// The user's ARN (it carries the path).
    pub arn: String,
    /// Whether the user has a console password (`password_enabled`).
    pub password_enabled: bool,
    /// When the password last changed (`password_last_changed`), if it has one.
    pub password_last_changed: Option<SystemTime>,
}

impl ReportRow {
    /// The user's path (`/` or `/division/`), from its ARN.
    pub fn path(&self) -> String {
        let after = self.arn.split_once(":user").map_or("/", |(_, rest)| rest);
        match after.rfind('/') {
            Some(end) => after[..=end].to_owned(),
            None => "/".to_owned(),
        }
    }
}

/// The IAM users of a credential report (the account's root row left out).
pub fn parse(csv: &str) -> Result<Vec<ReportRow>> {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let header = fields(lines.next().unwrap_or_default());
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            RotationError::InvalidEvent(format!("the credential report has no column {name}"))
        })
    };
    let (user, arn, enabled, changed) = (
        column("user")?,
        column("arn")?,
        column("password_enabled")?,
        column("password_last_changed")?,
    );
    let mut rows = Vec::new();
    for line in lines {
        let row = fields(line);
        let cell = |index: usize| row.get(index).map(String::as_str).unwrap_or_default();
        if cell(user) == "<root_account>" {
            continue;
        }
        rows.push(ReportRow {
            user: cell(user).to_owned(),
            arn: cell(arn).to_owned(),
            password_enabled: cell(enabled) == "true",
            password_last_changed: parse_time(cell(changed)),
        });
    }
    Ok(rows)
}

/// One CSV line's fields (RFC 4180 quoting: IAM names may contain commas).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

/// `2026-11-24T09:20:31+00:00` (IAM writes UTC); `N/A`, `not_supported` and the like are `None`.
fn parse_time(text: &str) -> Option<SystemTime> {
    let utc = text.strip_suffix("+00:00").unwrap_or(text);
    humantime::parse_rfc3339_weak(utc.strip_suffix('Z').unwrap_or(utc)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active\n\
<root_account>,arn:aws:iam::123456789012:root,2026-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,false\n\
alice,arn:aws:iam::123456789012:user/alice,2026-01-01T00:00:00+00:00,true,N/A,2026-11-24T09:20:31+00:00,N/A,false\n\
\"ops,bob\",\"arn:aws:iam::123456789012:user/ops/team/ops,bob\",2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false\n";

    #[test]
    fn users_are_read_by_column_name_and_the_root_row_is_left_out() {
        let rows = parse(REPORT).expect("parsed");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user, "alice");
        assert!(rows[0].password_enabled);
        let changed = rows[0].password_last_changed.expect("time");
        let expected = humantime::parse_rfc3339("2026-11-24T09:20:31Z").expect("time");
        assert_eq!(changed, expected);
        assert_eq!(rows[0].path(), "/");
        assert_eq!(rows[1].user, "ops,bob");
        assert!(!rows[1].password_enabled);
        assert_eq!(rows[1].password_last_changed, None);
        assert_eq!(rows[1].path(), "/ops/team/");
    }

    #[test]
    fn a_user_path_is_read_from_the_arn() {
        let row = ReportRow {
            user: "u".into(),
            arn: "arn:aws:iam::123456789012:user/break-glass/eu/u".into(),
            password_enabled: true,
            password_last_changed: None,
        };
        assert_eq!(row.path(), "/break-glass/eu/");
    }

    #[test]
    fn a_report_without_the_columns_the_audit_reads_is_refused_by_column() {
        let error = parse("user,arn\nalice,arn:aws:iam::1:user/alice\n").expect_err("refused");
        assert!(error.to_string().contains("password_enabled"), "{error}");
    }
}
