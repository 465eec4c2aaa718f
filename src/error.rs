//! The one error type of the function, and its mapping to a Lambda [`Diagnostic`].
//!
//! Every variant carries identifiers (secret ARN, version token, user name, step)
//! and never a secret: no password, no rotation token, no secret value. The
//! `error_type` reported to Lambda (and shown by Secrets Manager when a rotation
//! fails) is stable per variant, so alarms and runbooks can key on it.

use lambda_runtime::Diagnostic;

/// Everything that can make a rotation step fail.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RotationError {
    /// The invocation payload is not a rotation event.
    #[error("invalid event: {0}")]
    InvalidEvent(String),

    /// An environment variable of the function has an invalid value.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The secret does not exist (or the function may not see it).
    #[error("secret {secret} was not found")]
    SecretNotFound {
        /// The secret id from the event.
        secret: String,
    },

    /// Rotation is not enabled on the secret.
    #[error("rotation is not enabled on secret {secret}")]
    RotationNotEnabled {
        /// The secret ARN.
        secret: String,
    },

    /// The token of the event is not a version of the secret.
    #[error("secret {secret} has no version {token}")]
    UnknownVersion {
        /// The secret ARN.
        secret: String,
        /// The `ClientRequestToken` of the event.
        token: String,
    },

    /// The token's version is neither `AWSCURRENT` nor `AWSPENDING`.
    #[error("version {token} of secret {secret} is not staged AWSPENDING")]
    VersionNotPending {
        /// The secret ARN.
        secret: String,
        /// The `ClientRequestToken` of the event.
        token: String,
    },

    /// The secret has no `AWSCURRENT` version, or that version has no value.
    #[error("secret {secret} has no AWSCURRENT value")]
    CurrentValueMissing {
        /// The secret ARN.
        secret: String,
    },

    /// `setSecret`/`testSecret` ran before `createSecret` stored a value.
    #[error(
        "version {token} of secret {secret} has no value yet (createSecret has not stored one)"
    )]
    PendingValueMissing {
        /// The secret ARN.
        secret: String,
        /// The `ClientRequestToken` of the event.
        token: String,
    },

    /// A secret version's value is not `{"username": "...", "password": "..."}`.
    #[error("version {version} of secret {secret} is not a valid value: {reason}")]
    InvalidSecretValue {
        /// The secret ARN.
        secret: String,
        /// The version id whose value is wrong.
        version: String,
        /// What is wrong, naming keys and types, never values.
        reason: String,
    },

    /// The pending version names another user than the current one.
    #[error("version {token} of secret {secret} names IAM user {pending_user}, but AWSCURRENT names {current_user}")]
    UserMismatch {
        /// The secret ARN.
        secret: String,
        /// The `ClientRequestToken` of the event.
        token: String,
        /// The user in `AWSPENDING`.
        pending_user: String,
        /// The user in `AWSCURRENT`.
        current_user: String,
    },

    /// The IAM user named by the secret does not exist.
    #[error("IAM user {user} does not exist")]
    UserNotFound {
        /// The IAM user name.
        user: String,
    },

    /// The IAM user carries no binding tag for this secret.
    #[error("IAM user {user} is not bound to secret {secret}: it has no tag password-rotation:secret-arn (set it to the secret's ARN, or set REQUIRE_BINDING_TAG=false)")]
    BindingTagMissing {
        /// The IAM user name.
        user: String,
        /// The secret ARN.
        secret: String,
    },

    /// The IAM user's binding tag names another secret.
    #[error("IAM user {user} is bound to secret {bound_to}, not to {secret}")]
    BindingTagMismatch {
        /// The IAM user name.
        user: String,
        /// The secret ARN.
        secret: String,
        /// The ARN the user's tag names.
        bound_to: String,
    },

    /// The user has no console password (login profile) and creating one is off.
    #[error("IAM user {user} has no login profile (console password); set CREATE_LOGIN_PROFILE=true to create one")]
    LoginProfileMissing {
        /// The IAM user name.
        user: String,
    },

    /// The account password policy cannot be met with this configuration.
    #[error("the account password policy cannot be met by this configuration: {0}")]
    PolicyUnsatisfiable(String),

    /// IAM refused the password for the account password policy.
    #[error("IAM refused the new password of user {user} under the account password policy (PasswordPolicyViolation){detail}")]
    PasswordPolicyViolation {
        /// The IAM user name.
        user: String,
        /// What the function can tell of why, never the password (may be empty).
        detail: String,
    },

    /// The secret's ARN is longer than an IAM tag value, so no binding tag can name it.
    #[error("the ARN of secret {secret} is {length} characters, but an IAM tag value holds at most 256, so the binding tag password-rotation:secret-arn cannot name it: give the secret a shorter name, or set REQUIRE_BINDING_TAG=false")]
    SecretArnTooLong {
        /// The secret ARN.
        secret: String,
        /// Its length in characters.
        length: usize,
    },

    /// `testSecret`/`finishSecret` on a pending version whose password IAM has not
    /// accepted (no `IAM_APPLIED` label): promoting it would lock the user out.
    #[error("version {token} of secret {secret} is not applied to IAM (setSecret has not recorded IAM's acceptance with the IAM_APPLIED label); run setSecret first")]
    NotApplied {
        /// The secret ARN.
        secret: String,
        /// The `ClientRequestToken` of the event.
        token: String,
    },

    /// A reset was asked for a secret whose rotation function is another one.
    #[error("secret {secret} is rotated by {rotation_function}, not by this function; its rotation is left alone")]
    RotatedByAnotherFunction {
        /// The secret ARN.
        secret: String,
        /// The secret's `RotationLambdaARN` (empty when none).
        rotation_function: String,
    },

    /// The user's binding tag names a secret whose `AWSCURRENT` names another user.
    #[error("IAM user {user} is bound to secret {secret}, but that secret names IAM user {named}")]
    SecretNamesAnotherUser {
        /// The IAM user name.
        user: String,
        /// The secret ARN.
        secret: String,
        /// The user the secret's value names.
        named: String,
    },

    /// A reset waited for a rotation in progress through every attempt.
    #[error("the reset of secret {secret} waited {attempts} times for the rotation in progress to end; it stays unfinished (see \"When a rotation stops midway\")")]
    ResetRetriesExhausted {
        /// The secret ARN.
        secret: String,
        /// How many attempts were made.
        attempts: u32,
    },

    /// A self-service secret whose password someone else changed: its rotation needs the
    /// current password, which the secret no longer holds.
    #[error("secret {secret} rotates with user {user}'s own ChangePassword, but the password in it is no longer IAM's (changed outside the rotation): a rotation cannot succeed; re-enrol the user (docs/self-service.md)")]
    ReenrolmentRequired {
        /// The secret ARN.
        secret: String,
        /// The IAM user.
        user: String,
    },

    /// The self-service strategy needs the current password as `OldPassword`.
    #[error("secret {secret} rotates with changePasswordCredentials (the user's own ChangePassword), which needs the current password, but AWSCURRENT has no \"password\": set it, or remove changePasswordCredentials to use UpdateLoginProfile")]
    CurrentPasswordMissing {
        /// The secret ARN.
        secret: String,
    },

    /// The credentials secret cannot be read as an access key.
    #[error(
        "the credentials secret {credentials} named by secret {secret} is not usable: {reason}"
    )]
    InvalidCredentialsSecret {
        /// The secret ARN.
        secret: String,
        /// The credentials secret's id.
        credentials: String,
        /// What is wrong, naming keys, never values.
        reason: String,
    },

    /// The access key belongs to another identity than the user the secret names.
    #[error("the access key in {credentials} belongs to {key_owner}, not to IAM user {user} of account {account}: a secret may only use its own user's key")]
    CredentialsUserMismatch {
        /// The IAM user the secret names.
        user: String,
        /// The secret's account (from its ARN).
        account: String,
        /// The credentials secret's id.
        credentials: String,
        /// Whom the key belongs to (user name, with its account when that differs).
        key_owner: String,
    },

    /// `ChangePassword` did not refuse a random wrong `OldPassword` as wrong, so its
    /// answers cannot tell which password IAM holds.
    #[error("IAM's ChangePassword for user {user} answered {answer} to a random wrong OldPassword instead of refusing it as wrong: its answers cannot tell which password IAM holds, so the self-service strategy is refused; remove changePasswordCredentials to rotate with UpdateLoginProfile")]
    ProbeUntrusted {
        /// The IAM user name.
        user: String,
        /// What IAM answered (an error type, or "success").
        answer: String,
    },

    /// `ChangePassword` refused the old password, and IAM does not hold the pending one either.
    #[error("ChangePassword refused the old password of IAM user {user}, and IAM does not hold the pending password either: the password was changed outside this function; reset it with UpdateLoginProfile (an administrator, or the other strategy)")]
    OldPasswordIncorrect {
        /// The IAM user name.
        user: String,
    },

    /// The user may not change its own password.
    #[error("IAM user {user} may not change its own password (AccessDenied: {message}): grant it iam:ChangePassword on itself, or allow users to change their passwords in the account password policy")]
    ChangePasswordNotAllowed {
        /// The IAM user name.
        user: String,
        /// IAM's message.
        message: String,
    },

    /// `ChangePassword` was called with credentials that are not an IAM user's.
    #[error("the access key used for IAM user {user} is not an IAM user's (InvalidUserType): use the user's own access key")]
    InvalidUserType {
        /// The IAM user name.
        user: String,
    },

    /// IAM failed (`ServiceFailure`, 500) through every retry.
    #[error(
        "IAM failed to change the password of user {user} (ServiceFailure) through every retry"
    )]
    ServiceFailure {
        /// The IAM user name.
        user: String,
    },

    /// testSecret's check: IAM does not hold the pending password.
    #[error("IAM does not hold the pending password of version {token} of secret {secret} for user {user} (its ChangePassword check refused it as the old password)")]
    PendingNotHeld {
        /// The secret ARN.
        secret: String,
        /// The `ClientRequestToken` of the event.
        token: String,
        /// The IAM user name.
        user: String,
    },

    /// IAM kept answering `EntityTemporarilyUnmodifiable` through every retry.
    #[error("IAM user {user} stayed temporarily unmodifiable (EntityTemporarilyUnmodifiable) through every retry")]
    EntityTemporarilyUnmodifiable {
        /// The IAM user name.
        user: String,
    },

    /// IAM answered `LimitExceeded` (too many attempts to change the password).
    #[error("IAM refused to change the password of user {user}: LimitExceeded")]
    LimitExceeded {
        /// The IAM user name.
        user: String,
    },

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,

    /// A secret or event names another account, and cross-account rotation is off.
    #[error("{subject} is in account {account}, not the function's account {home}, and cross-account rotation is off (set MEMBER_ROLE_NAME and MEMBER_EXTERNAL_ID)")]
    CrossAccountOff {
        /// The secret ARN or the event's subject.
        subject: String,
        /// The account it is in.
        account: String,
        /// The function's own account.
        home: String,
    },

    /// An event from one member account names a secret or user in another account.
    #[error("an event from account {event_account} names {subject} in account {account}: an event may only act in the account it came from")]
    AccountMismatch {
        /// The secret or user the event names.
        subject: String,
        /// The account the subject is in.
        account: String,
        /// The event's own `account`.
        event_account: String,
    },

    /// STS refused `AssumeRole` into the member account's role.
    #[error("could not assume {role_arn} in account {account}: {code}: {message} (the role must exist, trust this function's role with the external id, and the account must be in the organisation)")]
    MemberRoleRefused {
        /// The member account.
        account: String,
        /// The role the function tried to assume.
        role_arn: String,
        /// STS's error code (`AccessDenied`, ...).
        code: String,
        /// STS's message.
        message: String,
    },

    /// Any other AWS API error, with its code and message.
    #[error("{service} {operation} failed: {code}: {message}")]
    Aws {
        /// `iam` or `secretsmanager`.
        service: &'static str,
        /// The API action, e.g. `UpdateLoginProfile`.
        operation: &'static str,
        /// The AWS error code, or the kind of transport failure.
        code: String,
        /// The AWS error message.
        message: String,
    },
}

impl RotationError {
    /// The stable `error_type` reported to Lambda for this variant.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "InvalidEvent",
            Self::InvalidConfig(_) => "InvalidConfig",
            Self::SecretNotFound { .. } => "SecretNotFound",
            Self::RotationNotEnabled { .. } => "RotationNotEnabled",
            Self::UnknownVersion { .. } => "UnknownVersion",
            Self::VersionNotPending { .. } => "VersionNotPending",
            Self::CurrentValueMissing { .. } => "CurrentValueMissing",
            Self::PendingValueMissing { .. } => "PendingValueMissing",
            Self::InvalidSecretValue { .. } => "InvalidSecretValue",
            Self::UserMismatch { .. } => "UserMismatch",
            Self::UserNotFound { .. } => "UserNotFound",
            Self::BindingTagMissing { .. } => "BindingTagMissing",
            Self::BindingTagMismatch { .. } => "BindingTagMismatch",
            Self::LoginProfileMissing { .. } => "LoginProfileMissing",
            Self::PolicyUnsatisfiable(_) => "PolicyUnsatisfiable",
            Self::PasswordPolicyViolation { .. } => "PasswordPolicyViolation",
            Self::SecretArnTooLong { .. } => "SecretArnTooLong",
            Self::NotApplied { .. } => "PendingNotApplied",
            Self::RotatedByAnotherFunction { .. } => "RotatedByAnotherFunction",
            Self::SecretNamesAnotherUser { .. } => "SecretNamesAnotherUser",
            Self::ResetRetriesExhausted { .. } => "ResetRetriesExhausted",
            Self::ReenrolmentRequired { .. } => "ReenrolmentRequired",
            Self::CurrentPasswordMissing { .. } => "CurrentPasswordMissing",
            Self::InvalidCredentialsSecret { .. } => "InvalidCredentialsSecret",
            Self::CredentialsUserMismatch { .. } => "CredentialsUserMismatch",
            Self::ProbeUntrusted { .. } => "ProbeUntrusted",
            Self::OldPasswordIncorrect { .. } => "OldPasswordIncorrect",
            Self::ChangePasswordNotAllowed { .. } => "ChangePasswordNotAllowed",
            Self::InvalidUserType { .. } => "InvalidUserType",
            Self::ServiceFailure { .. } => "ServiceFailure",
            Self::PendingNotHeld { .. } => "PendingNotHeld",
            Self::EntityTemporarilyUnmodifiable { .. } => "EntityTemporarilyUnmodifiable",
            Self::LimitExceeded { .. } => "LimitExceeded",
            Self::Randomness => "Randomness",
            Self::CrossAccountOff { .. } => "CrossAccountOff",
            Self::AccountMismatch { .. } => "AccountMismatch",
            Self::MemberRoleRefused { .. } => "MemberRoleRefused",
            Self::Aws { .. } => "AwsApiError",
        }
    }
}

impl From<RotationError> for Diagnostic {
    fn from(error: RotationError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The result type of the rotation logic.
pub type Result<T, E = RotationError> = std::result::Result<T, E>;
