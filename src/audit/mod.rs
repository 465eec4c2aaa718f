//! The audit: a scheduled reconciliation of IAM's console passwords against their
//! secrets, one account per invocation. EventBridge delivers CloudTrail events on a
//! best effort basis; the audit finds what the events missed.
//!
//! In one account ([`Auditor`]) it reads, a page at a time, IAM's credential report
//! (who has a console password, and when it last changed), every user with its tags
//! (`GetAccountAuthorizationDetails`, users only: the binding tag without one `GetUser`
//! per user) and every secret's metadata (`ListSecrets`, never a value), then judges
//! each console user under the audited path. Per account that is
//! `2 + w + ⌈U/1000⌉ + ⌈S/100⌉ + P` calls: the report (`w` more reads while IAM
//! generates it), `U` IAM users, `S` secrets, `P` bound secrets with a rotation
//! pending; plus `⌈F/10⌉` `PutEvents` for `F` findings and one `AssumeRole` per member
//! account per hour per process (docs/performance.md measures it).
//!
//! Across accounts ([`run`]) the scheduled request fans out: one asynchronous
//! invocation of this same function per account (`lambda:InvokeFunction`,
//! `InvocationType=Event`, on the function's own ARN). Chosen over EventBridge
//! Scheduler (one schedule to create and delete per account per day, and a role to
//! pass) and over SQS (a queue, its policy, an event source mapping and a dead-letter
//! queue to deploy and secure): Lambda's asynchronous queue already retries, takes an
//! on-failure destination, and needs nothing but the permission to invoke the
//! function itself. Each account then has the
//! whole timeout to itself, and an account that times out costs only its own findings.
//! The request an invocation receives is never trusted for scope: see [`run`].

pub mod event;
pub mod finding;
pub mod ports;
pub mod report;
pub mod run;
pub mod settings;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crate::binding::{same_function, BINDING_TAG};
use crate::error::Result;
use crate::ports::{AWSCURRENT, AWSPENDING};
use crate::reset::ports::RotationControl;

pub use event::AuditRequest;
pub use finding::{Finding, FindingKind};
use ports::{CredentialReports, FindingSink, SecretInventory, SecretSummary, UserDirectory};
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
    /// How many findings of each kind.
    pub found: BTreeMap<FindingKind, u64>,
}

impl AccountAudit {
    /// Counts `finding` and hands it to `sink`.
    async fn report(&mut self, sink: &mut impl FindingSink, finding: Finding) {
        *self.found.entry(finding.kind).or_default() += 1;
        sink.found(finding).await;
    }

    /// How many findings of each kind, every kind listed.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        FindingKind::ALL
            .iter()
            .map(|kind| (kind.as_str(), self.found.get(kind).copied().unwrap_or(0)))
            .collect()
    }

    /// Every finding.
    pub fn total(&self) -> u64 {
        self.found.values().sum()
    }
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
    U: CredentialReports + UserDirectory,
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

    /// Audits `account` (the account these ports act in), handing each finding to
    /// `sink` as soon as it is judged. `function_arn` is this function: the rotation
    /// function bound secrets must name.
    ///
    /// Reads first, a page at a time (the credential report, every user with its
    /// tags, every secret's metadata), then judges each console user under the path;
    /// only a secret with a pending version costs one more call. An error stops the
    /// audit of this account; what was handed to `sink` stays handed.
    pub async fn audit_into(
        &self,
        account: &str,
        function_arn: &str,
        sink: &mut impl FindingSink,
    ) -> Result<AccountAudit> {
        let raw = self.users.credential_report().await?;
        let rows = report::parse(&raw.csv)?;
        let path = &self.settings.user_path;
        let mut tags: HashMap<String, HashMap<String, String>> = self
            .users
            .users_with_tags()
            .await?
            .into_iter()
            .filter(|user| user.path.starts_with(path.as_str()))
            .map(|user| (user.name, user.tags))
            .collect();
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
            found: BTreeMap::new(),
        };
        for row in rows
            .iter()
            .filter(|row| row.password_enabled && row.path().starts_with(path.as_str()))
        {
            // Not listed: deleted since the report was generated, nothing left to audit.
            let Some(user_tags) = tags.remove(&row.user) else {
                continue;
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
            let Some(bound_to) = user_tags.get(BINDING_TAG) else {
                audit
                    .report(
                        sink,
                        finding(
                            FindingKind::NotEnrolled,
                            None,
                            format!(
                        "console user {0} has no {BINDING_TAG} tag: no secret holds its password; enrol it with `python3 scripts/enrolment.py enrol --stack <stack> {0}`",
                        row.user
                    ),
                        ),
                    )
                    .await;
                continue;
            };
            audit.enrolled += 1;
            match secrets.get(bound_to).filter(|secret| !secret.deleted) {
                None => audit.report(sink, finding(
                    FindingKind::SecretMissing,
                    Some(bound_to),
                    format!("the binding tag names secret {bound_to}, which does not exist in account {account} or is scheduled for deletion"),
                )).await,
                Some(secret) => {
                    for (kind, detail, changed) in self.judge(row, secret, function_arn, sink).await? {
                        let mut found = finding(kind, Some(&secret.arn), detail);
                        found.changed = changed;
                        audit.report(sink, found).await;
                    }
                }
            }
        }
        Ok(audit)
    }

    /// Audits `account` and returns its findings with the counts.
    pub async fn audit(
        &self,
        account: &str,
        function_arn: &str,
    ) -> Result<(AccountAudit, Vec<Finding>)> {
        let mut findings = Vec::new();
        let audit = self
            .audit_into(account, function_arn, &mut findings)
            .await?;
        Ok((audit, findings))
    }

    /// The findings about one bound user's secret.
    async fn judge(
        &self,
        row: &ReportRow,
        secret: &SecretSummary,
        function_arn: &str,
        sink: &mut impl FindingSink,
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
            sink.before_call().await;
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
