//! The binding between an IAM user and the one secret that may hold its password,
//! shared by every use: the tag's name, the check, and "this secret names this
//! function".
//!
//! Anyone who may create a secret and attach the function to it decides what its
//! `username` says; only someone allowed to tag the user decides what the user's tag
//! says. So a user names its secret, and the function acts only where both agree.

use crate::error::{Result, RotationError};
use crate::ports::IamUser;

/// The user tag whose value is the ARN of the user's secret.
pub const BINDING_TAG: &str = "password-rotation:secret-arn";

/// The most characters an IAM tag value holds, so the longest secret ARN a binding
/// tag can name.
pub const MAX_TAG_VALUE_LENGTH: usize = 256;

/// The user must carry the binding tag naming exactly this secret.
pub fn check_binding(user: &IamUser, secret_arn: &str) -> Result<()> {
    match user.tags.get(BINDING_TAG) {
        Some(bound_to) if bound_to == secret_arn => Ok(()),
        Some(bound_to) => Err(RotationError::BindingTagMismatch {
            user: user.name.clone(),
            secret: secret_arn.into(),
            bound_to: bound_to.clone(),
        }),
        None => Err(RotationError::BindingTagMissing {
            user: user.name.clone(),
            secret: secret_arn.into(),
        }),
    }
}

/// A function ARN without its version or alias qualifier.
pub fn unqualified(arn: &str) -> &str {
    // arn:aws:lambda:region:account:function:name[:qualifier]
    match arn.match_indices(':').nth(6) {
        Some((index, _)) => &arn[..index],
        None => arn,
    }
}

/// Whether two function ARNs name the same function (qualifiers aside): a secret's
/// rotation function and this one.
pub fn same_function(a: &str, b: &str) -> bool {
    !a.is_empty() && unqualified(a) == unqualified(b)
}
