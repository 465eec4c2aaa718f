//! How the function reaches member accounts, as the operator sets it.

use crate::error::{Result, RotationError};

/// The session name used when the function's name is unknown (outside Lambda).
pub const DEFAULT_SESSION_NAME: &str = "iam-password-rotation";

/// The member role (`MEMBER_ROLE_NAME`, `MEMBER_EXTERNAL_ID`; `docs/organizations.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRoleSettings {
    /// The role's name in every member account (`path/name` allowed).
    pub role_name: String,
    /// The external id the member role's trust policy requires.
    pub external_id: String,
    /// The `RoleSessionName`: the function's name, so a member account's CloudTrail
    /// shows which central function acted.
    pub session_name: String,
}

impl MemberRoleSettings {
    /// Validates the operator's values against STS's limits.
    pub fn new(role_name: &str, external_id: &str, function_name: Option<&str>) -> Result<Self> {
        let name_ok = |name: &str| {
            (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        };
        let (path, name) = role_name.rsplit_once('/').unwrap_or(("", role_name));
        if !name_ok(name) || path.len() > 512 || path.starts_with('/') {
            return Err(RotationError::InvalidConfig(format!(
                "MEMBER_ROLE_NAME={role_name:?} is not a role name (1-64 of letters, digits and +=,.@_-, optionally after a path)"
            )));
        }
        let external_ok = (2..=1224).contains(&external_id.len())
            && external_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b));
        if !external_ok {
            // The external id is not a secret, but it is not echoed either: only its length.
            return Err(RotationError::InvalidConfig(format!(
                "MEMBER_EXTERNAL_ID ({} characters) is not an external id: 2-1224 of letters, digits and +=,.@:/_-",
                external_id.len()
            )));
        }
        Ok(Self {
            role_name: role_name.to_owned(),
            external_id: external_id.to_owned(),
            session_name: session_name(function_name),
        })
    }
}

/// The function's name as a `RoleSessionName` (2-64 of `[\w+=,.@-]`).
fn session_name(function_name: Option<&str>) -> String {
    let name: String = function_name
        .unwrap_or(DEFAULT_SESSION_NAME)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect();
    if name.len() < 2 {
        DEFAULT_SESSION_NAME.to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_named_after_the_function_within_stss_limits() {
        let settings = MemberRoleSettings::new("rotation", "o-abc123def4", Some("my-rotation"))
            .expect("valid");
        assert_eq!(settings.session_name, "my-rotation");
        let long = "f".repeat(80);
        let settings =
            MemberRoleSettings::new("rotation", "o-abc123def4", Some(&long)).expect("valid");
        assert_eq!(settings.session_name.len(), 64);
        let settings = MemberRoleSettings::new("ops/rotation", "o-abc123def4", None).expect("ok");
        assert_eq!(settings.session_name, DEFAULT_SESSION_NAME);
    }

    #[test]
    fn role_names_and_external_ids_outside_stss_limits_are_refused_by_name() {
        for (role, external, expected) in [
            ("", "o-abc123def4", "MEMBER_ROLE_NAME"),
            ("bad name", "o-abc123def4", "MEMBER_ROLE_NAME"),
            (&"r".repeat(65), "o-abc123def4", "MEMBER_ROLE_NAME"),
            ("/abs/role", "o-abc123def4", "MEMBER_ROLE_NAME"),
            ("role", "x", "MEMBER_EXTERNAL_ID"),
            ("role", "has space", "MEMBER_EXTERNAL_ID"),
        ] {
            let error = MemberRoleSettings::new(role, external, None).expect_err("refused");
            assert!(error.to_string().contains(expected), "{error}");
            assert!(!error.to_string().contains("has space"));
        }
    }
}
