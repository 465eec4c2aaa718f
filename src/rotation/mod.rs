//! The rotation logic: Secrets Manager's four steps over the two ports.
//!
//! Secrets Manager retries a failed rotation from the start with the same token,
//! and a crash can stop any step after any call, so every step is idempotent: it
//! first looks at the secret's state and does only what is still missing.
//!
//! IAM cannot say which password it holds; it only says when it accepts one. So
//! `setSecret` records IAM's acceptance on the version itself (the
//! [`IAM_APPLIED`] staging label, in the same step), and from then on the rotation
//! treats that record as the truth: a retried `setSecret` writes nothing, and
//! `testSecret` and `finishSecret` complete the rotation whatever the live password
//! policy says now (IAM keeps a password it accepted; a policy change applies to
//! later changes only). Before that record exists, `finishSecret` refuses to promote.

mod create_secret;
mod finish_secret;
mod self_service;
mod set_secret;
pub mod settings;
mod test_secret;
mod versions;
mod warning;

#[cfg(test)]
mod fakes;

use std::time::Instant;

use secrecy::SecretString;

use crate::binding::MAX_TAG_VALUE_LENGTH;
use crate::error::{Result, RotationError};
use crate::event::{RotationEvent, Step};
use crate::password::PasswordPolicy;
use crate::ports::{
    LoginProfiles, SecretMetadata, SecretStore, SelfService, AWSCURRENT, AWSPENDING,
};
use crate::secret::SecretValue;
use versions::VersionCache;

pub use settings::RotationSettings;
pub use warning::Warning;

/// What a step did, for the log line and the invocation's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token's version is already `AWSCURRENT`: nothing to do.
    AlreadyCurrent,
    /// createSecret stored a new pending value.
    Created,
    /// createSecret found a value already stored for the token.
    AlreadyCreated,
    /// setSecret changed the user's password.
    Applied,
    /// setSecret created the user's login profile.
    ProfileCreated,
    /// setSecret found the password already applied (IAM refused it as a reuse).
    AlreadyApplied,
    /// testSecret found the pending version applied to IAM and the user's login profile in place.
    Tested,
    /// testSecret on Secrets Manager's test run (`AWSPENDING` holds `AWSCURRENT`'s
    /// value): the setup would let a real rotation succeed.
    SetupVerified,
    /// finishSecret promoted the pending version.
    Promoted,
}

impl Outcome {
    /// A short name for logs and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyCurrent => "already_current",
            Self::Created => "created",
            Self::AlreadyCreated => "already_created",
            Self::Applied => "applied",
            Self::ProfileCreated => "profile_created",
            Self::AlreadyApplied => "already_applied",
            Self::Tested => "tested",
            Self::SetupVerified => "setup_verified",
            Self::Promoted => "promoted",
        }
    }
}

/// What a step did, and what the operator should know about (its log line's warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// What the step did.
    pub outcome: Outcome,
    /// Conditions that did not stop the step but need the operator's attention.
    pub warnings: Vec<Warning>,
}

impl From<Outcome> for StepReport {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            warnings: Vec::new(),
        }
    }
}

impl PartialEq<Outcome> for StepReport {
    fn eq(&self, other: &Outcome) -> bool {
        self.outcome == *other
    }
}

/// Runs rotation steps against a secret store and IAM.
pub struct Rotator<S, I> {
    store: S,
    iam: I,
    settings: RotationSettings,
    versions: VersionCache,
}

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    /// A rotator over the given ports; built once per process.
    pub fn new(store: S, iam: I, settings: RotationSettings) -> Self {
        Self {
            store,
            iam,
            settings,
            versions: VersionCache::default(),
        }
    }

    /// Runs one step and writes its log line (secret, step, token, outcome,
    /// warnings, duration).
    pub async fn handle(&self, event: &RotationEvent) -> Result<StepReport> {
        let started = Instant::now();
        let result = match event.step {
            Step::CreateSecret => self.create_secret(event).await,
            Step::SetSecret => self.set_secret(event).await,
            Step::TestSecret => self.test_secret(event).await,
            Step::FinishSecret => self.finish_secret(event).await,
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(report) if report.warnings.is_empty() => tracing::info!(
                secret = %event.secret_id, step = %event.step, token = %event.token,
                outcome = report.outcome.as_str(), duration_ms, "rotation step succeeded"
            ),
            Ok(report) => tracing::warn!(
                secret = %event.secret_id, step = %event.step, token = %event.token,
                outcome = report.outcome.as_str(),
                warning_types = %warning::types(&report.warnings),
                warning = %warning::messages(&report.warnings),
                duration_ms, "rotation step succeeded with warnings"
            ),
            Err(error) => tracing::error!(
                secret = %event.secret_id, step = %event.step, token = %event.token,
                outcome = "failed", error_type = error.error_type(), error = %error, duration_ms,
                "rotation step failed"
            ),
        }
        result
    }

    /// The checks every step starts with: rotation enabled, the token is a
    /// version, and that version is `AWSPENDING` (or already `AWSCURRENT`).
    async fn check_secret(&self, event: &RotationEvent) -> Result<Checked> {
        let metadata = self.store.describe(&event.secret_id).await?;
        if !metadata.rotation_enabled {
            return Err(RotationError::RotationNotEnabled {
                secret: metadata.arn,
            });
        }
        if metadata.stages(&event.token).is_none() {
            return Err(RotationError::UnknownVersion {
                secret: metadata.arn,
                token: event.token.clone(),
            });
        }
        if metadata.has_stage(&event.token, AWSCURRENT) {
            return Ok(Checked::AlreadyCurrent(metadata));
        }
        if !metadata.has_stage(&event.token, AWSPENDING) {
            return Err(RotationError::VersionNotPending {
                secret: metadata.arn,
                token: event.token.clone(),
            });
        }
        Ok(Checked::Pending(metadata))
    }

    /// The binding tag must be able to name the secret: IAM tag values hold at
    /// most 256 characters, and a secret name of up to 512 makes a longer ARN.
    fn check_binding_fits(&self, metadata: &SecretMetadata) -> Result<()> {
        if self.settings.require_binding_tag && metadata.arn.chars().count() > MAX_TAG_VALUE_LENGTH
        {
            return Err(RotationError::SecretArnTooLong {
                secret: metadata.arn.clone(),
                length: metadata.arn.chars().count(),
            });
        }
        Ok(())
    }

    /// A warning when the account's passwords expire before this secret rotates again.
    fn expiry_warning(
        &self,
        policy: &PasswordPolicy,
        metadata: &SecretMetadata,
    ) -> Option<Warning> {
        policy
            .expiry_gap(metadata.rotation_rules.interval_hours())
            .map(Warning::PasswordsExpireBeforeRotation)
    }

    /// The parsed `AWSCURRENT` value.
    async fn current_value(&self, metadata: &SecretMetadata) -> Result<SecretValue> {
        let missing = || RotationError::CurrentValueMissing {
            secret: metadata.arn.clone(),
        };
        let version = metadata.version_with(AWSCURRENT).ok_or_else(missing)?;
        let raw = self
            .read_version(metadata, version)
            .await?
            .ok_or_else(missing)?;
        parse_value(metadata, version, &raw)
    }

    /// The parsed `AWSCURRENT` value, which must name the user `pending` names.
    async fn current_of(
        &self,
        metadata: &SecretMetadata,
        token: &str,
        pending: &SecretValue,
    ) -> Result<SecretValue> {
        let current = self.current_value(metadata).await?;
        if pending.username() != current.username() {
            return Err(RotationError::UserMismatch {
                secret: metadata.arn.clone(),
                token: token.into(),
                pending_user: pending.username().into(),
                current_user: current.username().into(),
            });
        }
        Ok(current)
    }

    /// The parsed pending value of the token, which must hold a password.
    async fn pending_value(
        &self,
        metadata: &SecretMetadata,
        token: &str,
    ) -> Result<(SecretValue, SecretString)> {
        let raw = self.read_version(metadata, token).await?.ok_or_else(|| {
            RotationError::PendingValueMissing {
                secret: metadata.arn.clone(),
                token: token.into(),
            }
        })?;
        let value = parse_value(metadata, token, &raw)?;
        let password =
            value
                .password()
                .cloned()
                .ok_or_else(|| RotationError::InvalidSecretValue {
                    secret: metadata.arn.clone(),
                    version: token.into(),
                    reason: "it has no \"password\"".into(),
                })?;
        Ok((value, password))
    }

    /// Reads a version, through the cache: a version's value never changes.
    async fn read_version(
        &self,
        metadata: &SecretMetadata,
        version: &str,
    ) -> Result<Option<SecretString>> {
        if let Some(value) = self.versions.get(&metadata.arn, version) {
            return Ok(Some(value));
        }
        let value = self.store.get_version(&metadata.arn, version).await?;
        if let Some(value) = &value {
            self.versions.insert(&metadata.arn, version, value.clone());
        }
        Ok(value)
    }

    /// The account password policy, or IAM's default when there is none.
    async fn policy(&self) -> Result<PasswordPolicy> {
        Ok(self
            .iam
            .password_policy()
            .await?
            .unwrap_or_else(PasswordPolicy::iam_default))
    }
}

/// The state of the token's version, after the common checks.
enum Checked {
    /// Already promoted: the step has nothing to do.
    AlreadyCurrent(SecretMetadata),
    /// Staged `AWSPENDING`: the step proceeds.
    Pending(SecretMetadata),
}

fn parse_value(
    metadata: &SecretMetadata,
    version: &str,
    raw: &SecretString,
) -> Result<SecretValue> {
    SecretValue::parse(raw).map_err(|reason| RotationError::InvalidSecretValue {
        secret: metadata.arn.clone(),
        version: version.into(),
        reason,
    })
}
