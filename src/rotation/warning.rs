//! Warnings: conditions a step reports in its log line without failing.
//!
//! A warning names users, secrets and settings, never a secret value. Each has a
//! stable type, like the errors, so alarms can key on it.

use std::fmt;

use crate::password::ExpiryGap;

/// Something the operator should know that must not stop the rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The account's passwords expire before the secret's next rotation.
    PasswordsExpireBeforeRotation(ExpiryGap),
    /// IAM accepted the pending password, but the user's login profile was not
    /// visible through every read of the bounded wait (deleted since?).
    LoginProfileNotVisible {
        /// The IAM user name.
        user: String,
    },
    /// IAM accepted the pending password, but the login profile's reset flag stayed
    /// other than `PASSWORD_RESET_REQUIRED` through the bounded wait (changed since?).
    ResetFlagDiffers {
        /// The IAM user name.
        user: String,
        /// The flag IAM reports.
        actual: bool,
        /// The configured flag.
        expected: bool,
    },
    /// The self-service strategy: IAM accepted the pending password, but testSecret
    /// could not ask IAM whether it still holds it (the key deleted, `ChangePassword`
    /// denied, a probe IAM's answers cannot back, ...).
    PendingNotChecked {
        /// The IAM user name.
        user: String,
        /// The stable type of the error that stopped the check.
        error_type: &'static str,
        /// The error's message (identifiers only, as every error).
        reason: String,
    },
}

impl Warning {
    /// The stable type of the warning, for alarms.
    pub fn warning_type(&self) -> &'static str {
        match self {
            Self::PasswordsExpireBeforeRotation(_) => "PasswordsExpireBeforeRotation",
            Self::LoginProfileNotVisible { .. } => "LoginProfileNotVisible",
            Self::ResetFlagDiffers { .. } => "ResetFlagDiffers",
            Self::PendingNotChecked { .. } => "PendingNotChecked",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PasswordsExpireBeforeRotation(gap) => gap.fmt(f),
            Self::LoginProfileNotVisible { user } => write!(
                f,
                "IAM accepted the new password of user {user}, but its login profile was not visible afterwards (deleted since?); the rotation completes, so that AWSCURRENT holds the last password IAM accepted"
            ),
            Self::ResetFlagDiffers {
                user,
                actual,
                expected,
            } => write!(
                f,
                "IAM accepted the new password of user {user}, but its login profile reports PasswordResetRequired={actual}, not PASSWORD_RESET_REQUIRED={expected} (changed since?)"
            ),
            Self::PendingNotChecked {
                user,
                error_type,
                reason,
            } => write!(
                f,
                "IAM accepted the new password of user {user} (IAM_APPLIED), but testSecret could not check that IAM still holds it ({error_type}: {reason}); the rotation completes, so that AWSCURRENT holds the last password IAM accepted"
            ),
        }
    }
}

/// The types of `warnings`, comma-separated, for the log line.
pub(super) fn types(warnings: &[Warning]) -> String {
    warnings
        .iter()
        .map(Warning::warning_type)
        .collect::<Vec<_>>()
        .join(",")
}

/// The messages of `warnings`, for the log line.
pub(super) fn messages(warnings: &[Warning]) -> String {
    warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
