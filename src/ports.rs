//! The two ports the rotation logic talks through: the secret store and IAM's
//! login profiles. SDK adapters implement them (`crate::adapters`); unit tests
//! use in-memory fakes. Nothing here names an AWS SDK type.

use std::collections::HashMap;
use std::future::Future;

use secrecy::SecretString;

use crate::error::Result;
use crate::password::PasswordPolicy;

/// The staging label of the version in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The staging label of the version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";

/// What `DescribeSecret` tells about a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's full ARN.
    pub arn: String,
    /// Whether rotation is turned on.
    pub rotation_enabled: bool,
    /// Staging labels by version id.
    pub versions: HashMap<String, Vec<String>>,
}

impl SecretMetadata {
    /// The labels of `version`, or `None` when the secret has no such version.
    pub fn stages(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// Whether `version` carries `stage`.
    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.stages(version)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }

    /// The version that carries `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(version, _)| version.as_str())
    }
}

/// What `PutSecretValue` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new value was stored under the token.
    Stored,
    /// The token already has a value (`ResourceExistsException`); nothing changed.
    AlreadyExists,
}

/// Secrets Manager, as the rotation needs it.
pub trait SecretStore: Send + Sync {
    /// `DescribeSecret`.
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretMetadata>> + Send;

    /// The value of one version; `None` when the version has no value (the
    /// placeholder Secrets Manager creates when a rotation starts) or no longer exists.
    fn get_version(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<Option<SecretString>>> + Send;

    /// `PutSecretValue` of `value` under `token`, staged `AWSPENDING`.
    fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;

    /// `UpdateSecretVersionStage`: move `stage` to `move_to` and/or off `remove_from`.
    fn update_stage(
        &self,
        secret_id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// An IAM user, as the binding check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamUser {
    /// The user name.
    pub name: String,
    /// The user's tags.
    pub tags: HashMap<String, String>,
}

/// A user's console login profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginProfile {
    /// Whether the user must choose a new password at next sign-in.
    pub password_reset_required: bool,
}

/// What `CreateLoginProfile` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The profile was created with the password.
    Created,
    /// The user already had one (`EntityAlreadyExists`); nothing changed.
    AlreadyExists,
}

/// IAM users' console passwords, as the rotation needs them.
pub trait LoginProfiles: Send + Sync {
    /// `GetUser`; [`crate::RotationError::UserNotFound`] when there is none.
    fn get_user(&self, user: &str) -> impl Future<Output = Result<IamUser>> + Send;

    /// `GetLoginProfile`; `None` when the user has no console password.
    fn get_login_profile(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<LoginProfile>>> + Send;

    /// `UpdateLoginProfile`; without a password it only sets the reset flag.
    /// A missing profile is [`crate::RotationError::LoginProfileMissing`].
    fn update_login_profile(
        &self,
        user: &str,
        password: Option<&SecretString>,
        password_reset_required: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `CreateLoginProfile`.
    fn create_login_profile(
        &self,
        user: &str,
        password: &SecretString,
        password_reset_required: bool,
    ) -> impl Future<Output = Result<CreateOutcome>> + Send;

    /// `GetAccountPasswordPolicy`; `None` when the account has none.
    fn password_policy(&self) -> impl Future<Output = Result<Option<PasswordPolicy>>> + Send;
}
