//! The ports the audit reads through: IAM's credential report, its users with their
//! tags, and the secrets of an account; where findings go; what acts in one account.
//! SDK adapters implement the reads; unit tests use fakes.

use std::collections::HashMap;
use std::future::Future;
use std::time::SystemTime;

use super::{Auditor, Finding};
use crate::error::Result;
use crate::ports::RotationRules;
use crate::reset::ports::{RotationControl, Schedules, Users};
use crate::reset::Resetter;

/// An account's IAM credential report, as IAM returns it (CSV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCredentialReport {
    /// When IAM generated it (a report is regenerated at most every 4 hours).
    pub generated: Option<SystemTime>,
    /// The CSV text.
    pub csv: String,
}

/// IAM's credential report.
pub trait CredentialReports: Send + Sync {
    /// `GenerateCredentialReport`, waiting while it is generated, then `GetCredentialReport`.
    fn credential_report(&self) -> impl Future<Output = Result<RawCredentialReport>> + Send;
}

/// A secret, as `ListSecrets` lists it (no value is ever read by the audit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSummary {
    /// The secret's ARN.
    pub arn: String,
    /// Whether rotation is turned on.
    pub rotation_enabled: bool,
    /// Its rotation function, if any.
    pub rotation_lambda_arn: Option<String>,
    /// How often it rotates.
    pub rotation_rules: RotationRules,
    /// When a rotation last finished (`LastRotatedDate`).
    pub last_rotated: Option<SystemTime>,
    /// When the secret was created.
    pub created: Option<SystemTime>,
    /// Staging labels by version id (`SecretVersionsToStages`).
    pub versions: HashMap<String, Vec<String>>,
    /// Scheduled for deletion (`DeletedDate` set).
    pub deleted: bool,
}

/// The secrets of an account.
pub trait SecretInventory: Send + Sync {
    /// `ListSecrets`, every page, secrets scheduled for deletion included.
    fn list_secrets(&self) -> impl Future<Output = Result<Vec<SecretSummary>>> + Send;
}

/// An IAM user as the bulk listing returns it: enough to find its binding tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedUser {
    /// The user name.
    pub name: String,
    /// The user's path (`/` or `/division/`).
    pub path: String,
    /// The user's tags.
    pub tags: HashMap<String, String>,
}

/// Every IAM user of an account with its tags, read a page at a time.
pub trait UserDirectory: Send + Sync {
    /// `GetAccountAuthorizationDetails` with `Filter=User`, every page (IAM returns up
    /// to 1,000 users a page): one call per page, not one per user.
    fn users_with_tags(&self) -> impl Future<Output = Result<Vec<ListedUser>>> + Send;
}

/// Where the audit's findings go as they are found (a log line and an outcome event
/// each), so that an invocation stopped half-way keeps what it already found.
pub trait FindingSink: Send {
    /// Takes one finding.
    fn found(&mut self, finding: Finding) -> impl Future<Output = ()> + Send;

    /// The audit is about to make a call that may take long: whatever the sink holds
    /// back (outcome events sent ten at a time) goes out now.
    fn before_call(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Collects the findings (unit tests, and callers that want them all at the end).
impl FindingSink for Vec<Finding> {
    async fn found(&mut self, finding: Finding) {
        self.push(finding);
    }
}

/// What acts in one account for the audit: its auditor, and its resetter for drift.
pub trait AccountHandlers: Send + Sync {
    /// IAM in that account.
    type Users: Users + CredentialReports + UserDirectory;
    /// Secrets Manager in that account.
    type Secrets: RotationControl + SecretInventory;
    /// The function's one-time schedules.
    type Schedules: Schedules;

    /// The account's auditor.
    fn auditor(&self) -> &Auditor<Self::Users, Self::Secrets>;
    /// The account's resetter (a drifted password's reset).
    fn resetter(&self) -> &Resetter<Self::Users, Self::Secrets, Self::Schedules>;
}
