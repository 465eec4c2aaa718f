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
/// The staging label `setSecret` moves to a version once IAM accepted its password.
///
/// IAM cannot say which password it holds, but it says when it accepts one: this
/// label is that answer, recorded in Secrets Manager in the same step. It makes a
/// retried `setSecret` a no-op, lets `testSecret` and `finishSecret` tell an applied
/// version from one that never reached IAM, and shows an operator which version's
/// password IAM holds (as far as this function changed it).
pub const IAM_APPLIED: &str = "IAM_APPLIED";

/// What `DescribeSecret` tells about a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's full ARN.
    pub arn: String,
    /// Whether rotation is turned on.
    pub rotation_enabled: bool,
    /// Staging labels by version id.
    pub versions: HashMap<String, Vec<String>>,
    /// How often the secret rotates, as `DescribeSecret`'s `RotationRules` say.
    pub rotation_rules: RotationRules,
    /// The secret's rotation function (`RotationLambdaARN`), if any.
    pub rotation_lambda_arn: Option<String>,
}

/// A secret's `RotationRules`, as `DescribeSecret` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationRules {
    /// `AutomaticallyAfterDays`.
    pub automatically_after_days: Option<i64>,
    /// `ScheduleExpression`: `rate(N days)`, `rate(N hours)` or `cron(...)`.
    pub schedule_expression: Option<String>,
}

impl RotationRules {
    /// The longest time between two rotations, in hours, when the rules say it:
    /// `rate(...)` expressions and `AutomaticallyAfterDays`. A `cron(...)` schedule
    /// gives `None` (its gaps vary; the function does not evaluate cron).
    pub fn interval_hours(&self) -> Option<u64> {
        if let Some(expression) = &self.schedule_expression {
            return parse_rate_hours(expression);
        }
        self.automatically_after_days
            .and_then(|days| u64::try_from(days).ok())
            .filter(|&days| days > 0)
            .map(|days| days * 24)
    }
}

/// `rate(N day|days|hour|hours)` in hours.
fn parse_rate_hours(expression: &str) -> Option<u64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (amount, unit) = inner.trim().split_once(char::is_whitespace)?;
    let amount: u64 = amount.parse().ok()?;
    match unit.trim() {
        "day" | "days" => Some(amount * 24),
        "hour" | "hours" => Some(amount),
        _ => None,
    }
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

    /// The `AWSCURRENT` value of another secret (the self-service credentials);
    /// `None` when it has none.
    fn get_current(
        &self,
        secret_id: &str,
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

/// A user's console login profile (`GetLoginProfile` says no more than this and
/// its creation date, which IAM does not move when the password changes).
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

/// A user's own access key, read from the secret `changePasswordCredentials` names.
/// Both halves are kept secret: neither appears in `Debug`, logs or errors.
#[derive(Clone)]
pub struct AccessKey {
    /// `accessKeyId`.
    pub access_key_id: SecretString,
    /// `secretAccessKey`.
    pub secret_access_key: SecretString,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey([REDACTED])")
    }
}

/// Whom an access key belongs to: `GetUser` signed with the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The IAM user, with its tags.
    pub user: IamUser,
    /// The user's account, read from the ARN IAM returns.
    pub account: String,
}

/// IAM as the user itself sees it, signed with the user's own access key: the
/// self-service strategy (`ChangePassword`), which needs no IAM write permission.
pub trait SelfService: Send + Sync {
    /// `GetUser` with no user name, signed with `key`: the user the key belongs to.
    fn whoami(&self, key: &AccessKey) -> impl Future<Output = Result<KeyOwner>> + Send;

    /// `ChangePassword(OldPassword, NewPassword)` signed with `key`, the key of `user`
    /// (named in errors).
    fn change_password(
        &self,
        key: &AccessKey,
        user: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> impl Future<Output = Result<()>> + Send;
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

#[cfg(test)]
mod tests {
    use super::RotationRules;

    fn rules(days: Option<i64>, expression: Option<&str>) -> RotationRules {
        RotationRules {
            automatically_after_days: days,
            schedule_expression: expression.map(str::to_owned),
        }
    }

    #[test]
    fn rate_expressions_and_day_counts_give_the_interval_in_hours() {
        assert_eq!(rules(Some(30), None).interval_hours(), Some(720));
        assert_eq!(
            rules(None, Some("rate(10 days)")).interval_hours(),
            Some(240)
        );
        assert_eq!(rules(None, Some("rate(1 day)")).interval_hours(), Some(24));
        assert_eq!(rules(None, Some("rate(4 hours)")).interval_hours(), Some(4));
        // The expression wins over the day count AWS derives from it.
        assert_eq!(
            rules(Some(30), Some("rate(2 days)")).interval_hours(),
            Some(48)
        );
    }

    #[test]
    fn cron_schedules_and_missing_rules_give_no_interval() {
        assert_eq!(
            rules(None, Some("cron(0 8 1 * ? *)")).interval_hours(),
            None
        );
        assert_eq!(rules(None, None).interval_hours(), None);
        assert_eq!(rules(Some(0), None).interval_hours(), None);
        assert_eq!(rules(None, Some("rate(often)")).interval_hours(), None);
    }
}
