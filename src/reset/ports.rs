//! The ports the reset logic talks through: IAM users, the secrets' rotation state,
//! and the one-time schedules. SDK adapters implement them; unit tests use fakes.

use std::future::Future;
use std::time::SystemTime;

use secrecy::SecretString;

use crate::error::Result;
use crate::ports::{IamUser, SecretMetadata};

/// One version of a secret, as `ListSecretVersionIds` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version id.
    pub id: String,
    /// Its staging labels.
    pub stages: Vec<String>,
    /// When it was created (by `RotateSecret` or `PutSecretValue`).
    pub created: Option<SystemTime>,
}

/// What `RotateSecret` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// A rotation started: the new version's id.
    Started(String),
    /// Secrets Manager refused: a previous rotation is not complete.
    InProgress,
    /// A version with this `ClientRequestToken` exists (`ResourceExistsException`): the
    /// same trigger already started its rotation.
    AlreadyStarted,
}

/// What `CreateSchedule` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleOutcome {
    /// The schedule was created.
    Created,
    /// A schedule of that name exists (`ConflictException`): the earlier one stands.
    AlreadyExists,
}

/// IAM users, as a reset needs them.
pub trait Users: Send + Sync {
    /// `GetUser`; [`crate::RotationError::UserNotFound`] when there is none.
    fn get_user(&self, user: &str) -> impl Future<Output = Result<IamUser>> + Send;

    /// `GetLoginProfile`: whether the user has a console password at all.
    fn has_login_profile(&self, user: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// Secrets Manager, as a reset needs it.
pub trait RotationControl: Send + Sync {
    /// `DescribeSecret`.
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretMetadata>> + Send;

    /// `GetSecretValue` of `AWSCURRENT`; `None` when it has no value.
    fn current_value(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<Option<SecretString>>> + Send;

    /// `ListSecretVersionIds`: the versions that carry a label.
    fn versions(&self, secret_id: &str) -> impl Future<Output = Result<Vec<VersionInfo>>> + Send;

    /// `UpdateSecretVersionStage`: attaches `label` to `version` (a record of the reset's
    /// own, such as the first password change a required reset allowed).
    fn label(
        &self,
        secret_id: &str,
        label: &str,
        version: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `RotateSecret` with the secret's own rotation configuration; `token` (32–64
    /// characters) becomes the new version's id, so a trigger starts one rotation at most.
    fn rotate(
        &self,
        secret_id: &str,
        token: &str,
    ) -> impl Future<Output = Result<RotateOutcome>> + Send;
}

/// A one-time schedule that invokes the function with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeSchedule {
    /// The schedule's name (one per secret).
    pub name: String,
    /// When it fires.
    pub at: SystemTime,
    /// The function to invoke.
    pub target_arn: String,
    /// The event it sends (JSON).
    pub input: String,
}

/// EventBridge Scheduler, as a reset needs it. Schedules are created with
/// `ActionAfterCompletion: NONE`: only the function deletes them.
pub trait Schedules: Send + Sync {
    /// `GetSchedule`: the schedule of that name, `None` when there is none.
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<OneTimeSchedule>>> + Send;

    /// `UpdateSchedule`: the schedule's time and input replaced.
    fn update(&self, schedule: &OneTimeSchedule) -> impl Future<Output = Result<()>> + Send;

    /// `CreateSchedule` of a one-time schedule.
    fn create(
        &self,
        schedule: &OneTimeSchedule,
    ) -> impl Future<Output = Result<ScheduleOutcome>> + Send;

    /// `DeleteSchedule`; a schedule that no longer exists is not an error.
    fn delete(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
}
