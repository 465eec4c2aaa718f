//! How resets behave, as the operator sets it.

use std::time::Duration;

use crate::error::{Result, RotationError};

/// The reset settings (`RESET_*`, `FUNCTION_ROLE_ARN`; see `docs/resets.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSettings {
    /// Evaluate and report every trigger, rotate and schedule nothing.
    pub dry_run: bool,
    /// How long a console sign-in or a secret read keeps its password.
    pub delay: Duration,
    /// The function's own role: its calls are never drift nor a checkout.
    pub function_role_arn: Option<String>,
    /// The shortest time between two rotations a trigger starts on one secret
    /// (`RESET_MIN_INTERVAL_MINUTES`): triggers inside it wait for its end.
    pub min_interval: Duration,
}

impl Default for ResetSettings {
    fn default() -> Self {
        Self {
            dry_run: false,
            delay: Duration::from_secs(60 * 60),
            function_role_arn: None,
            min_interval: Duration::from_secs(DEFAULT_MIN_INTERVAL_MINUTES * 60),
        }
    }
}

/// Where schedules go and whom Scheduler acts as (`SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN`,
/// `SCHEDULE_DEAD_LETTER_ARN`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// The schedule group.
    pub group: Option<String>,
    /// The role EventBridge Scheduler assumes to invoke the function.
    pub role_arn: Option<String>,
    /// The SQS queue Scheduler sends an invocation to when its retries are spent.
    pub dead_letter_arn: Option<String>,
}

/// The longest delay `RESET_DELAY_MINUTES` may set: one day.
pub const MAX_DELAY_MINUTES: u64 = 24 * 60;
/// How long a reset waits for a rotation in progress before it tries again.
pub const RETRY_DELAY: Duration = Duration::from_secs(5 * 60);
/// How many times a reset tries (the first included) before it gives up: one hour.
pub const MAX_ATTEMPTS: u32 = 12;
/// `RESET_MIN_INTERVAL_MINUTES` when unset.
pub const DEFAULT_MIN_INTERVAL_MINUTES: u64 = 15;
/// The longest minimum interval `RESET_MIN_INTERVAL_MINUTES` may set: one day.
pub const MAX_MIN_INTERVAL_MINUTES: u64 = 24 * 60;

/// `RESET_MIN_INTERVAL_MINUTES`: whole minutes in `0..=1440` (0: no minimum); blank or
/// unset is the default.
pub fn parse_min_interval(raw: Option<String>) -> Result<Duration> {
    let Some(raw) = raw.filter(|value| !value.trim().is_empty()) else {
        return Ok(ResetSettings::default().min_interval);
    };
    match raw.trim().parse::<u64>() {
        Ok(minutes) if minutes <= MAX_MIN_INTERVAL_MINUTES => Ok(Duration::from_secs(minutes * 60)),
        _ => Err(RotationError::InvalidConfig(format!(
            "RESET_MIN_INTERVAL_MINUTES={raw:?} is not a whole number of minutes in 0..={MAX_MIN_INTERVAL_MINUTES}"
        ))),
    }
}
