//! The function's configuration, read once from environment variables at start-up.
//!
//! This module only reads the environment into the settings types their owners
//! define ([`GeneratorSettings`] lives with the generator). The names follow Secrets
//! Manager's own rotation functions (`PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS`, ...),
//! so users can carry their settings over.

use std::time::Duration;

use crate::accounts::{is_account_id, MemberRoleSettings};
use crate::audit::AuditSettings;
use crate::error::{Result, RotationError};
use crate::password::{GeneratorSettings, MAX_PASSWORD_LENGTH};
use crate::reset::settings::{parse_min_interval, SchedulerSettings, MAX_DELAY_MINUTES};
use crate::reset::ResetSettings;
use crate::rotation::RotationSettings;

/// Everything the operator can set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The rotation: password generation, `PASSWORD_RESET_REQUIRED`,
    /// `CREATE_LOGIN_PROFILE`, `REQUIRE_BINDING_TAG`.
    pub rotation: RotationSettings,
    /// Event-triggered resets (`RESET_DRY_RUN`, `RESET_DELAY_MINUTES`, `FUNCTION_ROLE_ARN`).
    pub reset: ResetSettings,
    /// Where reset schedules go (`SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN`).
    pub scheduler: SchedulerSettings,
    /// The bus for outcome events (`OUTCOME_EVENT_BUS`), if any.
    pub outcome_event_bus: Option<String>,
    /// The role in member accounts (`MEMBER_ROLE_NAME`, `MEMBER_EXTERNAL_ID`); `None`:
    /// secrets of the function's own account only.
    pub member_role: Option<MemberRoleSettings>,
    /// The audit (`AUDIT_ACCOUNTS`, `AUDIT_RESET_DRIFT`, `USER_PATH`).
    pub audit: AuditSettings,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let defaults = Self::default();
        let flag = |name: &str, default: bool| parse_bool(name, lookup(name), default);
        let text = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let generator = GeneratorSettings {
            length: parse_length(lookup("PASSWORD_LENGTH"))?,
            exclude_characters: lookup("EXCLUDE_CHARACTERS").unwrap_or_default(),
            exclude_lowercase: flag(
                "EXCLUDE_LOWERCASE",
                defaults.rotation.generator.exclude_lowercase,
            )?,
            exclude_uppercase: flag(
                "EXCLUDE_UPPERCASE",
                defaults.rotation.generator.exclude_uppercase,
            )?,
            exclude_numbers: flag(
                "EXCLUDE_NUMBERS",
                defaults.rotation.generator.exclude_numbers,
            )?,
            exclude_punctuation: flag(
                "EXCLUDE_PUNCTUATION",
                defaults.rotation.generator.exclude_punctuation,
            )?,
            require_each_included_type: flag(
                "REQUIRE_EACH_INCLUDED_TYPE",
                defaults.rotation.generator.require_each_included_type,
            )?,
        };
        let rotation = RotationSettings {
            generator,
            password_reset_required: flag(
                "PASSWORD_RESET_REQUIRED",
                defaults.rotation.password_reset_required,
            )?,
            create_login_profile: flag(
                "CREATE_LOGIN_PROFILE",
                defaults.rotation.create_login_profile,
            )?,
            require_binding_tag: flag(
                "REQUIRE_BINDING_TAG",
                defaults.rotation.require_binding_tag,
            )?,
        };
        Ok(Self {
            rotation,
            reset: ResetSettings {
                dry_run: flag("RESET_DRY_RUN", defaults.reset.dry_run)?,
                delay: parse_delay(lookup("RESET_DELAY_MINUTES"))?,
                function_role_arn: text("FUNCTION_ROLE_ARN"),
                min_interval: parse_min_interval(lookup("RESET_MIN_INTERVAL_MINUTES"))?,
            },
            scheduler: SchedulerSettings {
                group: text("SCHEDULE_GROUP"),
                role_arn: text("SCHEDULER_ROLE_ARN"),
                dead_letter_arn: text("SCHEDULE_DEAD_LETTER_ARN"),
            },
            outcome_event_bus: text("OUTCOME_EVENT_BUS"),
            member_role: parse_member_role(
                text("MEMBER_ROLE_NAME"),
                text("MEMBER_EXTERNAL_ID"),
                text("AWS_LAMBDA_FUNCTION_NAME"),
            )?,
            audit: AuditSettings {
                accounts: parse_accounts(text("AUDIT_ACCOUNTS"))?,
                reset_drift: flag("AUDIT_RESET_DRIFT", defaults.audit.reset_drift)?,
                user_path: parse_user_path(text("USER_PATH"))?,
            },
        })
    }
}

fn parse_member_role(
    role: Option<String>,
    external_id: Option<String>,
    function_name: Option<String>,
) -> Result<Option<MemberRoleSettings>> {
    match (role, external_id) {
        (None, None) => Ok(None),
        (Some(role), Some(external_id)) => {
            MemberRoleSettings::new(&role, &external_id, function_name.as_deref()).map(Some)
        }
        (Some(_), None) => Err(RotationError::InvalidConfig(
            "MEMBER_ROLE_NAME is set but MEMBER_EXTERNAL_ID is not: the member role's trust policy requires an external id".into(),
        )),
        (None, Some(_)) => Err(RotationError::InvalidConfig(
            "MEMBER_EXTERNAL_ID is set but MEMBER_ROLE_NAME is not".into(),
        )),
    }
}

fn parse_accounts(raw: Option<String>) -> Result<Option<Vec<String>>> {
    let Some(raw) = raw else { return Ok(None) };
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() || !ids.iter().all(|id| is_account_id(id)) {
        return Err(RotationError::InvalidConfig(format!(
            "AUDIT_ACCOUNTS={raw:?} is not a comma-separated list of 12-digit account ids"
        )));
    }
    Ok(Some(ids))
}

fn parse_user_path(raw: Option<String>) -> Result<String> {
    let Some(path) = raw else {
        return Ok(AuditSettings::default().user_path);
    };
    if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
        return Err(RotationError::InvalidConfig(format!(
            "USER_PATH={path:?} is not an IAM path (it starts and ends with /)"
        )));
    }
    Ok(path)
}

fn parse_length(raw: Option<String>) -> Result<usize> {
    let Some(raw) = raw.filter(|value| !value.trim().is_empty()) else {
        return Ok(GeneratorSettings::default().length);
    };
    match raw.trim().parse::<usize>() {
        Ok(length) if (1..=MAX_PASSWORD_LENGTH).contains(&length) => Ok(length),
        Ok(length) => Err(RotationError::InvalidConfig(format!(
            "PASSWORD_LENGTH={length} is outside 1..={MAX_PASSWORD_LENGTH} (IAM accepts passwords of 1 to 128 characters)"
        ))),
        Err(_) => Err(RotationError::InvalidConfig(format!(
            "PASSWORD_LENGTH={raw:?} is not a whole number"
        ))),
    }
}

fn parse_delay(raw: Option<String>) -> Result<Duration> {
    let Some(raw) = raw.filter(|value| !value.trim().is_empty()) else {
        return Ok(ResetSettings::default().delay);
    };
    match raw.trim().parse::<u64>() {
        Ok(minutes) if (1..=MAX_DELAY_MINUTES).contains(&minutes) => {
            Ok(Duration::from_secs(minutes * 60))
        }
        _ => Err(RotationError::InvalidConfig(format!(
            "RESET_DELAY_MINUTES={raw:?} is not a whole number of minutes in 1..={MAX_DELAY_MINUTES}"
        ))),
    }
}

fn parse_bool(name: &str, raw: Option<String>, default: bool) -> Result<bool> {
    let Some(raw) = raw.filter(|value| !value.trim().is_empty()) else {
        return Ok(default);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(RotationError::InvalidConfig(format!(
            "{name}={raw:?} is not true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let config = config(&[]).expect("defaults");
        assert_eq!(config, Config::default());
        assert_eq!(config.rotation.generator.length, 32);
        assert!(config.rotation.require_binding_tag);
        assert!(config.rotation.generator.require_each_included_type);
        assert!(!config.rotation.password_reset_required && !config.rotation.create_login_profile);
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("PASSWORD_LENGTH", "20"),
            ("EXCLUDE_CHARACTERS", "'|"),
            ("EXCLUDE_LOWERCASE", "TRUE"),
            ("EXCLUDE_UPPERCASE", "true"),
            ("EXCLUDE_NUMBERS", "True"),
            ("EXCLUDE_PUNCTUATION", "false"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "false"),
            ("PASSWORD_RESET_REQUIRED", "true"),
            ("CREATE_LOGIN_PROFILE", "true"),
            ("REQUIRE_BINDING_TAG", "false"),
        ])
        .expect("valid");
        assert_eq!(config.rotation.generator.length, 20);
        assert_eq!(config.rotation.generator.exclude_characters, "'|");
        assert!(
            config.rotation.generator.exclude_lowercase
                && config.rotation.generator.exclude_uppercase
        );
        assert!(
            config.rotation.generator.exclude_numbers
                && !config.rotation.generator.exclude_punctuation
        );
        assert!(!config.rotation.generator.require_each_included_type);
        assert!(config.rotation.password_reset_required && config.rotation.create_login_profile);
        assert!(!config.rotation.require_binding_tag);
    }

    #[test]
    fn the_reset_settings_are_read_and_blank_ones_are_unset() {
        let config = config(&[
            ("RESET_DRY_RUN", "true"),
            ("RESET_DELAY_MINUTES", "15"),
            ("FUNCTION_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("SCHEDULE_GROUP", "g"),
            ("SCHEDULER_ROLE_ARN", " "),
            (
                "SCHEDULE_DEAD_LETTER_ARN",
                "arn:aws:sqs:us-east-1:123456789012:dlq",
            ),
            ("OUTCOME_EVENT_BUS", "outcomes"),
        ])
        .expect("valid");
        assert!(config.reset.dry_run);
        assert_eq!(config.reset.delay, Duration::from_secs(15 * 60));
        assert_eq!(
            config.reset.function_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/r")
        );
        assert_eq!(config.scheduler.group.as_deref(), Some("g"));
        assert_eq!(config.scheduler.role_arn, None);
        assert_eq!(
            config.scheduler.dead_letter_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:dlq")
        );
        assert_eq!(config.outcome_event_bus.as_deref(), Some("outcomes"));
    }

    #[test]
    fn the_member_role_and_the_audit_settings_are_read() {
        let config = config(&[
            ("MEMBER_ROLE_NAME", "iam-password-rotation-member"),
            ("MEMBER_EXTERNAL_ID", "o-abc123def4"),
            ("AWS_LAMBDA_FUNCTION_NAME", "central-rotation"),
            ("AUDIT_ACCOUNTS", "222222222222, 333333333333"),
            ("AUDIT_RESET_DRIFT", "true"),
            ("USER_PATH", "/break-glass/"),
        ])
        .expect("valid");
        let member = config.member_role.expect("member role");
        assert_eq!(member.role_name, "iam-password-rotation-member");
        assert_eq!(member.external_id, "o-abc123def4");
        assert_eq!(member.session_name, "central-rotation");
        assert_eq!(
            config.audit.accounts,
            Some(vec!["222222222222".to_owned(), "333333333333".to_owned()])
        );
        assert!(config.audit.reset_drift);
        assert_eq!(config.audit.user_path, "/break-glass/");
    }

    #[test]
    fn invalid_values_are_refused_with_the_variable_named() {
        for (name, value, expected) in [
            ("PASSWORD_LENGTH", "129", "outside 1..=128"),
            ("PASSWORD_LENGTH", "0", "outside 1..=128"),
            ("PASSWORD_LENGTH", "-3", "not a whole number"),
            ("PASSWORD_LENGTH", "twelve", "not a whole number"),
            ("EXCLUDE_NUMBERS", "yes", "not true or false"),
            ("REQUIRE_BINDING_TAG", "0", "not true or false"),
            ("CREATE_LOGIN_PROFILE", "maybe", "not true or false"),
            ("RESET_DRY_RUN", "perhaps", "not true or false"),
            ("RESET_DELAY_MINUTES", "0", "in 1..=1440"),
            ("RESET_DELAY_MINUTES", "1441", "in 1..=1440"),
            ("RESET_DELAY_MINUTES", "soon", "not a whole number"),
            ("MEMBER_ROLE_NAME", "rotation", "MEMBER_EXTERNAL_ID is not"),
            (
                "MEMBER_EXTERNAL_ID",
                "o-abc123def4",
                "MEMBER_ROLE_NAME is not",
            ),
            ("AUDIT_ACCOUNTS", "1234", "12-digit"),
            ("AUDIT_ACCOUNTS", "222222222222,x", "12-digit"),
            ("AUDIT_RESET_DRIFT", "soon", "not true or false"),
            ("USER_PATH", "ops", "starts and ends with /"),
        ] {
            let error = config(&[(name, value)]).expect_err("invalid");
            let message = error.to_string();
            assert!(
                message.contains(name) && message.contains(expected),
                "{message}"
            );
            assert_eq!(error.error_type(), "InvalidConfig");
        }
    }
}
