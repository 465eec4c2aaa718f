//! The audit's judgements, each on a seeded in-memory account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use super::ports::{
    CredentialReports, ListedUser, RawCredentialReport, SecretInventory, SecretSummary,
    UserDirectory,
};
use super::*;
use crate::ports::{RotationRules, SecretMetadata};
use crate::reset::ports::{RotateOutcome, VersionInfo};

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:rotation";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:222222222222:secret:console/alice-AbCdEf";
const NOW: u64 = 1_800_000_000;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn now() -> SystemTime {
    at(NOW)
}

#[derive(Clone, Default)]
struct Account {
    /// (user, path, password last changed or None when no password)
    users: Vec<(String, String, Option<u64>)>,
    tags: HashMap<String, String>,
    secrets: Vec<SecretSummary>,
    versions: Vec<VersionInfo>,
    /// Users in the credential report that IAM no longer lists.
    deleted: Vec<String>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Account {
    fn call(&self, name: &str) {
        self.calls.lock().expect("lock").push(name.to_owned());
    }
}

impl CredentialReports for Account {
    async fn credential_report(&self) -> crate::error::Result<RawCredentialReport> {
        self.call("GetCredentialReport");
        let mut csv = "user,arn,password_enabled,password_last_changed\n<root_account>,arn:aws:iam::222222222222:root,not_supported,not_supported\n".to_owned();
        for (user, path, changed) in &self.users {
            let (enabled, changed) = match changed {
                Some(t) => (
                    "true",
                    humantime::format_rfc3339_seconds(at(*t))
                        .to_string()
                        .replace('Z', "+00:00"),
                ),
                None => ("false", "N/A".to_owned()),
            };
            csv.push_str(&format!(
                "{user},arn:aws:iam::222222222222:user{path}{user},{enabled},{changed}\n"
            ));
        }
        Ok(RawCredentialReport {
            generated: Some(now()),
            csv,
        })
    }
}

impl UserDirectory for Account {
    async fn users_with_tags(&self) -> crate::error::Result<Vec<ListedUser>> {
        self.call("GetAccountAuthorizationDetails");
        Ok(self
            .users
            .iter()
            .filter(|(user, _, _)| !self.deleted.contains(user))
            .map(|(user, path, _)| ListedUser {
                name: user.clone(),
                path: path.clone(),
                tags: self
                    .tags
                    .get(user)
                    .map(|secret| HashMap::from([(BINDING_TAG.to_owned(), secret.clone())]))
                    .unwrap_or_default(),
            })
            .collect())
    }
}

impl SecretInventory for Account {
    async fn list_secrets(&self) -> crate::error::Result<Vec<SecretSummary>> {
        self.call("ListSecrets");
        Ok(self.secrets.clone())
    }
}

impl RotationControl for Account {
    async fn describe(&self, _: &str) -> crate::error::Result<SecretMetadata> {
        unreachable!("the audit never describes")
    }
    async fn current_value(&self, _: &str) -> crate::error::Result<Option<SecretString>> {
        unreachable!("the audit never reads a value")
    }
    async fn versions(&self, _: &str) -> crate::error::Result<Vec<VersionInfo>> {
        self.call("ListSecretVersionIds");
        Ok(self.versions.clone())
    }
    async fn label(&self, _: &str, _: &str, _: &str) -> crate::error::Result<()> {
        unreachable!("the audit never labels")
    }
    async fn rotate(&self, _: &str, _: &str) -> crate::error::Result<RotateOutcome> {
        unreachable!("the audit never rotates")
    }
}

/// alice under `/`, bound to a healthy secret rotated an hour ago every 30 days; her
/// password changed just before that rotation finished.
fn healthy() -> Account {
    let mut account = Account::default();
    account
        .users
        .push(("alice".into(), "/".into(), Some(NOW - 3600 - 2)));
    account.tags.insert("alice".into(), SECRET.into());
    account.secrets.push(SecretSummary {
        arn: SECRET.into(),
        rotation_enabled: true,
        rotation_lambda_arn: Some(FUNCTION.into()),
        rotation_rules: RotationRules {
            automatically_after_days: Some(30),
            schedule_expression: None,
        },
        last_rotated: Some(at(NOW - 3600)),
        created: Some(at(NOW - 90 * 86400)),
        versions: HashMap::from([("v1".to_owned(), vec![AWSCURRENT.to_owned()])]),
        deleted: false,
    });
    account
}

/// What the audit of one account returned and handed to its sink.
struct Audited {
    audit: AccountAudit,
    findings: Vec<Finding>,
}

async fn audit(account: &Account) -> Audited {
    let mut auditor = Auditor::new(account.clone(), account.clone(), AuditSettings::default());
    auditor.now = now;
    let (audit, findings) = auditor
        .audit("222222222222", FUNCTION)
        .await
        .expect("audited");
    Audited { audit, findings }
}

fn kinds(audited: &Audited) -> Vec<FindingKind> {
    audited.findings.iter().map(|f| f.kind).collect()
}

#[tokio::test]
async fn a_healthy_bound_user_has_no_finding_and_the_reads_are_three_whatever_the_users() {
    let account = healthy();
    let audited = audit(&account).await;
    assert_eq!(kinds(&audited), vec![]);
    assert_eq!(
        (audited.audit.console_users, audited.audit.enrolled),
        (1, 1)
    );
    let reads = vec![
        "GetCredentialReport",
        "GetAccountAuthorizationDetails",
        "ListSecrets",
    ];
    assert_eq!(*account.calls.lock().expect("lock"), reads);
    let mut many = healthy();
    for i in 0..50 {
        many.users
            .push((format!("u{i}"), "/".into(), Some(NOW - 10)));
    }
    let audited = audit(&many).await;
    assert_eq!(audited.audit.console_users, 51);
    assert_eq!(*many.calls.lock().expect("lock"), reads);
}

#[tokio::test]
async fn a_user_in_the_report_that_iam_no_longer_lists_is_not_audited() {
    let mut account = healthy();
    account.deleted.push("alice".into());
    let audited = audit(&account).await;
    assert_eq!(kinds(&audited), vec![]);
    assert_eq!(audited.audit.console_users, 0);
}

#[tokio::test]
async fn a_password_changed_after_the_last_rotation_is_drift_with_its_time() {
    let mut account = healthy();
    account.users[0].2 = Some(NOW - 60);
    let audit = audit(&account).await;
    assert_eq!(kinds(&audit), vec![FindingKind::PasswordDrift]);
    assert_eq!(audit.audit.found[&FindingKind::PasswordDrift], 1);
    assert_eq!(audit.findings[0].changed, Some(at(NOW - 60)));
    assert_eq!(audit.findings[0].secret.as_deref(), Some(SECRET));
    assert_eq!(audit.findings[0].user.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_rotation_in_progress_explains_a_recent_change_and_an_old_one_is_failing() {
    let mut account = healthy();
    account.users[0].2 = Some(NOW - 60);
    account.secrets[0]
        .versions
        .insert("v2".into(), vec![AWSPENDING.into()]);
    account.versions = vec![VersionInfo {
        id: "v2".into(),
        stages: vec![AWSPENDING.into()],
        created: Some(at(NOW - 120)),
    }];
    assert_eq!(kinds(&audit(&account).await), vec![]);
    account.versions[0].created = Some(at(NOW - 2 * 3600));
    assert_eq!(
        kinds(&audit(&account).await),
        vec![FindingKind::RotationFailing, FindingKind::PasswordDrift]
    );
}

#[tokio::test]
async fn a_missing_disabled_or_foreign_secret_is_reported() {
    let mut account = healthy();
    account.secrets[0].deleted = true;
    assert_eq!(
        kinds(&audit(&account).await),
        vec![FindingKind::SecretMissing]
    );
    account.secrets.clear();
    assert_eq!(
        kinds(&audit(&account).await),
        vec![FindingKind::SecretMissing]
    );

    let mut account = healthy();
    account.secrets[0].rotation_enabled = false;
    assert_eq!(
        kinds(&audit(&account).await),
        vec![FindingKind::RotationDisabled]
    );

    let mut account = healthy();
    account.secrets[0].rotation_lambda_arn =
        Some("arn:aws:lambda:us-east-1:222222222222:function:other".into());
    assert_eq!(
        kinds(&audit(&account).await),
        vec![FindingKind::RotatedByAnotherFunction]
    );
}

#[tokio::test]
async fn a_rotation_later_than_its_schedule_and_a_day_is_overdue() {
    let mut account = healthy();
    account.secrets[0].last_rotated = Some(at(NOW - 31 * 86400 - 60));
    account.users[0].2 = Some(NOW - 31 * 86400 - 62);
    assert_eq!(
        kinds(&audit(&account).await),
        vec![FindingKind::RotationOverdue]
    );
    account.secrets[0].last_rotated = Some(at(NOW - 30 * 86400 - 60));
    assert_eq!(kinds(&audit(&account).await), vec![]);
}

#[tokio::test]
async fn console_users_without_a_binding_tag_are_reported_and_others_are_not_looked_at() {
    let mut account = healthy();
    account
        .users
        .push(("bob".into(), "/".into(), Some(NOW - 10)));
    account.users.push(("ci".into(), "/".into(), None));
    let audit = audit(&account).await;
    assert_eq!(kinds(&audit), vec![FindingKind::NotEnrolled]);
    assert_eq!(audit.findings[0].user.as_deref(), Some("bob"));
    assert_eq!((audit.audit.console_users, audit.audit.enrolled), (2, 1));
}

#[tokio::test]
async fn only_users_under_the_audited_path_are_audited() {
    let mut account = healthy();
    account
        .users
        .push(("bob".into(), "/other/".into(), Some(NOW - 10)));
    let mut auditor = Auditor::new(
        account.clone(),
        account.clone(),
        AuditSettings {
            user_path: "/other/".into(),
            ..AuditSettings::default()
        },
    );
    auditor.now = now;
    let (audit, findings) = auditor
        .audit("222222222222", FUNCTION)
        .await
        .expect("audited");
    assert_eq!(audit.console_users, 1);
    assert_eq!(findings[0].user.as_deref(), Some("bob"));
}
