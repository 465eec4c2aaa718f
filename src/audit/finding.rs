//! What the audit reports: one finding per problem, identifiers only.

use std::time::SystemTime;

/// The kinds of finding, each a stable name for logs, metrics and outcome events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// The password changed after its secret's last rotation: drift no event reported.
    PasswordDrift,
    /// The user's binding tag names a secret that does not exist or is being deleted.
    SecretMissing,
    /// The bound secret does not rotate.
    RotationDisabled,
    /// The bound secret is rotated by another function.
    RotatedByAnotherFunction,
    /// A rotation started and has not finished for longer than a rotation can take.
    RotationFailing,
    /// The last rotation is older than the secret's schedule allows.
    RotationOverdue,
    /// A console user (under the audited path) with no binding tag.
    NotEnrolled,
    /// The member account could not be audited (its role refused, say).
    AccountUnreachable,
}

impl FindingKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 8] = [
        Self::PasswordDrift,
        Self::SecretMissing,
        Self::RotationDisabled,
        Self::RotatedByAnotherFunction,
        Self::RotationFailing,
        Self::RotationOverdue,
        Self::NotEnrolled,
        Self::AccountUnreachable,
    ];

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordDrift => "password_drift",
            Self::SecretMissing => "secret_missing",
            Self::RotationDisabled => "rotation_disabled",
            Self::RotatedByAnotherFunction => "rotated_by_another_function",
            Self::RotationFailing => "rotation_failing",
            Self::RotationOverdue => "rotation_overdue",
            Self::NotEnrolled => "console_user_not_enrolled",
            Self::AccountUnreachable => "account_unreachable",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is wrong.
    pub kind: FindingKind,
    /// The account it is in.
    pub account: String,
    /// The IAM user, when the finding is about one.
    pub user: Option<String>,
    /// The secret, when the finding is about one.
    pub secret: Option<String>,
    /// A sentence for the operator (identifiers and dates, never a value).
    pub detail: String,
    /// For drift: when the password changed (a reset's trigger time).
    pub changed: Option<SystemTime>,
}
