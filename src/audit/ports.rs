//! The ports the audit reads through: IAM's credential report and the secrets of an
//! account. SDK adapters implement them; unit tests use fakes.

use std::collections::HashMap;
use std::future::Future;
use std::time::SystemTime;

use crate::error::Result;
use crate::ports::RotationRules;

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
