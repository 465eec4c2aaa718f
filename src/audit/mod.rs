//! The audit: a scheduled reconciliation of IAM's console passwords against their
//! secrets, account by account. EventBridge delivers CloudTrail events on a best
//! effort basis; the audit finds what the events missed.
//!
//! For each console user under the audited path (IAM's credential report: who has
//! a password, and when it last changed) it reads the user's binding tag (`GetUser`)
//! and judges the secret the tag names from `ListSecrets` (never a secret's value).
//! Findings are identifiers and dates; the function's caller logs and publishes
//! them, and may start a reset for each drifted user.

pub mod event;
pub mod finding;
pub mod ports;
pub mod report;
pub mod settings;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::binding::{same_function, BINDING_TAG};
use crate::error::{Result, RotationError};
use crate::ports::{AWSCURRENT, AWSPENDING};
use crate::reset::ports::{RotationControl, Users};

pub use event::AuditRequest;
pub use finding::{Finding, FindingKind};
use ports::{CredentialReports, SecretInventory, SecretSummary};
use report::ReportRow;
pub use settings::AuditSettings;

/// A rotation is far shorter than this (four steps, a Lambda timeout of minutes):
/// a pending version older than this is a rotation that keeps failing.
pub const FAILING_AFTER: Duration = Duration::from_secs(60 * 60);
/// Secrets Manager rotates within a window after the scheduled time: a rotation
/// later than its interval plus this is overdue.
pub const OVERDUE_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// What the audit of one account found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAudit {
    /// The account.
    pub account: String,
    /// When IAM generated the credential report the audit read.
    pub report_generated: Option<SystemTime>,
    /// Console users under the audited path.
    pub console_users: usize,
    /// Of them, users with a binding tag.
    pub enrolled: usize,
    /// What is wrong.
    pub findings: Vec<Finding>,
}

/// Audits one account through its ports.
pub struct Auditor<U, R> {
    users: U,
    secrets: R,
    settings: AuditSettings,
    now: fn() -> SystemTime,
}

impl<U, R> Auditor<U, R>
where
    U: Users + CredentialReports,
    R: RotationControl + SecretInventory,
{
    /// An auditor over the given ports; built once per process (and per member account).
    pub fn new(users: U, secrets: R, settings: AuditSettings) -> Self {
        Self {
            users,
            secrets,
            settings,
            now: SystemTime::now,
        }
    }

    /// The settings the audit runs with.
    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// Audits `account` (the account these ports act in). `function_arn` is this
    /// function: the rotation function bound secrets must name.
    pub async fn audit(&self, account: &str, function_arn: &str) -> Result<AccountAudit> {
        let raw = self.users.credential_report().await?;
        let rows = report::parse(&raw.csv)?;
        let secrets: HashMap<String, SecretSummary> = self
            .secrets
            .list_secrets()
            .await?
            .into_iter()
            .map(|secret| (secret.arn.clone(), secret))
            .collect();
        let mut audit = AccountAudit {
            account: account.to_owned(),
            report_generated: raw.generated,
            console_users: 0,
            enrolled: 0,
            findings: Vec::new(),
        };
        let path = &self.settings.user_path;
        for row in rows
            .iter()
            .filter(|row| row.password_enabled && row.path().starts_with(path.as_str()))
        {
            let user = match self.users.get_user(&row.user).await {
                Ok(user) => user,
                // Deleted since the report was generated: nothing left to audit.
                Err(RotationError::UserNotFound { .. }) => continue,
                Err(error) => return Err(error),
            };
            audit.console_users += 1;
            let finding = |kind, secret: Option<&str>, detail: String| Finding {
                kind,
                account: account.to_owned(),
                user: Some(row.user.clone()),
                secret: secret.map(str::to_owned),
                detail,
                changed: None,
            };
            let Some(bound_to) = user.tags.get(BINDING_TAG) else {
                audit.findings.push(finding(
                    FindingKind::NotEnrolled,
                    None,
                    format!(
                        "console user {0} has no {BINDING_TAG} tag: no secret holds its password; enrol it with `python3 scripts/enrolment.py enrol --stack <stack> {0}`",
                        row.user
                    ),
                ));
                continue;
            };
            audit.enrolled += 1;
            match secrets.get(bound_to).filter(|secret| !secret.deleted) {
                None => audit.findings.push(finding(
                    FindingKind::SecretMissing,
                    Some(bound_to),
                    format!("the binding tag names secret {bound_to}, which does not exist in account {account} or is scheduled for deletion"),
                )),
                Some(secret) => {
                    for (kind, detail, changed) in self.judge(row, secret, function_arn).await? {
                        let mut found = finding(kind, Some(&secret.arn), detail);
                        found.changed = changed;
                        audit.findings.push(found);
                    }
                }
            }
        }
        Ok(audit)
    }

    /// The findings about one bound user's secret.
    async fn judge(
        &self,
        row: &ReportRow,
        secret: &SecretSummary,
        function_arn: &str,
    ) -> Result<Vec<(FindingKind, String, Option<SystemTime>)>> {
        let now = (self.now)();
        let mut found = Vec::new();
        if !secret.rotation_enabled {
            found.push((
                FindingKind::RotationDisabled,
                "rotation is turned off on the secret".into(),
                None,
            ));
        }
        let rotation_function = secret.rotation_lambda_arn.as_deref().unwrap_or_default();
        if secret.rotation_enabled && !same_function(rotation_function, function_arn) {
            found.push((
                FindingKind::RotatedByAnotherFunction,
                format!("the secret is rotated by {rotation_function}, not by {function_arn}"),
                None,
            ));
        }
        let pending = secret
            .versions
            .iter()
            .find(|(_, stages)| {
                stages.iter().any(|s| s == AWSPENDING) && !stages.iter().any(|s| s == AWSCURRENT)
            })
            .map(|(id, _)| id.clone());
        let mut in_progress = false;
        if let Some(pending) = pending {
            let versions = self.secrets.versions(&secret.arn).await?;
            let started = versions
                .iter()
                .find(|v| v.id == pending)
                .and_then(|v| v.created);
            match started {
                Some(started)
                    if now.duration_since(started).unwrap_or_default() > FAILING_AFTER =>
                {
                    found.push((
                        FindingKind::RotationFailing,
                        format!(
                            "the rotation of version {pending} started {} and has not finished",
                            humantime::format_rfc3339_seconds(started)
                        ),
                        None,
                    ))
                }
                _ => in_progress = true,
            }
        }
        if let (Some(interval), Some(since)) = (
            secret.rotation_rules.interval_hours(),
            secret.last_rotated.or(secret.created),
        ) {
            let due = since + Duration::from_secs(interval * 3600) + OVERDUE_GRACE;
            if secret.rotation_enabled && now > due {
                found.push((
                    FindingKind::RotationOverdue,
                    format!(
                        "the last rotation finished {} and the secret rotates every {interval} hours",
                        secret.last_rotated.map_or("never".into(), |t| humantime::format_rfc3339_seconds(t).to_string())
                    ),
                    None,
                ));
            }
        }
        if let (Some(changed), Some(rotated)) = (row.password_last_changed, secret.last_rotated) {
            // setSecret changes the password before finishSecret records the rotation,
            // so a rotation's own change is never after LastRotatedDate; a rotation in
            // progress has changed it legitimately.
            if changed > rotated && !in_progress {
                found.push((
                    FindingKind::PasswordDrift,
                    format!(
                        "the password changed {} after the secret's last rotation {}: the secret may not hold it",
                        humantime::format_rfc3339_seconds(changed),
                        humantime::format_rfc3339_seconds(rotated)
                    ),
                    Some(changed),
                ));
            }
        }
        Ok(found)
    }
}
