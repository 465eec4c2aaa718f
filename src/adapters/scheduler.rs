//! [`Schedules`] over `aws-sdk-scheduler`: one-time schedules that invoke the function.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;

use super::api_error;
use crate::error::{Result, RotationError};
use crate::reset::ports::{OneTimeSchedule, ScheduleOutcome, Schedules};
use crate::reset::settings::SchedulerSettings;

const SERVICE: &str = "scheduler";

/// How often and for how long Scheduler retries an invocation Lambda did not accept
/// (throttling, the function unavailable), as the template's rule targets do.
const RETRY_ATTEMPTS: i32 = 20;
/// At most an hour: a reset later than that is reported through the dead-letter queue.
const RETRY_MAX_AGE_SECONDS: i32 = 3600;

/// EventBridge Scheduler through the AWS SDK.
#[derive(Debug, Clone)]
pub struct EventBridgeSchedules {
    client: Client,
    settings: SchedulerSettings,
}

impl EventBridgeSchedules {
    /// Wraps a client (built once per process).
    pub fn new(client: Client, settings: SchedulerSettings) -> Self {
        Self { client, settings }
    }

    /// Builds the client from the shared SDK configuration.
    pub fn from_conf(config: &aws_config::SdkConfig, settings: SchedulerSettings) -> Self {
        Self::new(Client::new(config), settings)
    }

    fn configured(&self) -> Result<(&str, &str)> {
        match (&self.settings.group, &self.settings.role_arn) {
            (Some(group), Some(role)) => Ok((group, role)),
            _ => Err(RotationError::InvalidConfig(
                "SCHEDULE_GROUP and SCHEDULER_ROLE_ARN must be set for delayed resets and for retries after a rotation in progress".into(),
            )),
        }
    }
}

/// Scheduler's one-time expression: `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
pub fn at_expression(at: std::time::SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    format!("at({})", stamp.trim_end_matches('Z'))
}

/// The target and time window of a reset schedule.
fn target_and_window(
    schedule: &OneTimeSchedule,
    role: &str,
    dead_letter_arn: Option<&str>,
) -> Result<(Target, FlexibleTimeWindow)> {
    let retry = RetryPolicy::builder()
        .maximum_retry_attempts(RETRY_ATTEMPTS)
        .maximum_event_age_in_seconds(RETRY_MAX_AGE_SECONDS)
        .build();
    let dead_letter = dead_letter_arn.map(|arn| DeadLetterConfig::builder().arn(arn).build());
    let target = Target::builder()
        .arn(&schedule.target_arn)
        .role_arn(role)
        .input(&schedule.input)
        .retry_policy(retry)
        .set_dead_letter_config(dead_letter)
        .build()
        .map_err(|error| RotationError::InvalidConfig(format!("schedule target: {error}")))?;
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|error| RotationError::InvalidConfig(format!("schedule window: {error}")))?;
    Ok((target, window))
}

/// The time of `at(yyyy-mm-ddThh:mm:ss)` (UTC).
fn parse_at(expression: &str) -> Option<std::time::SystemTime> {
    let stamp = expression.strip_prefix("at(")?.strip_suffix(')')?;
    humantime::parse_rfc3339_weak(stamp).ok()
}

impl Schedules for EventBridgeSchedules {
    async fn get(&self, name: &str) -> Result<Option<OneTimeSchedule>> {
        let (group, _) = self.configured()?;
        let result = self
            .client
            .get_schedule()
            .name(name)
            .group_name(group)
            .send()
            .await;
        match result {
            Ok(output) => {
                // A schedule this function did not write (no one-time expression or
                // input) is treated as due now, so the next write replaces it.
                let at = output
                    .schedule_expression()
                    .and_then(parse_at)
                    .unwrap_or(std::time::UNIX_EPOCH);
                let target = output.target();
                Ok(Some(OneTimeSchedule {
                    name: name.to_owned(),
                    at,
                    target_arn: target.map(|t| t.arn().to_owned()).unwrap_or_default(),
                    input: target
                        .and_then(|t| t.input())
                        .unwrap_or_default()
                        .to_owned(),
                }))
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(api_error(SERVICE, "GetSchedule", &error)),
        }
    }

    async fn update(&self, schedule: &OneTimeSchedule) -> Result<()> {
        let (group, role) = self.configured()?;
        let (target, window) =
            target_and_window(schedule, role, self.settings.dead_letter_arn.as_deref())?;
        self.client
            .update_schedule()
            .name(&schedule.name)
            .group_name(group)
            .schedule_expression(at_expression(schedule.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::None)
            .target(target)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| api_error(SERVICE, "UpdateSchedule", &error))
    }

    async fn create(&self, schedule: &OneTimeSchedule) -> Result<ScheduleOutcome> {
        let (group, role) = self.configured()?;
        let (target, window) =
            target_and_window(schedule, role, self.settings.dead_letter_arn.as_deref())?;
        let result = self
            .client
            .create_schedule()
            .name(&schedule.name)
            .group_name(group)
            .schedule_expression(at_expression(schedule.at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            // Only the function deletes: a Scheduler delete after firing could remove the
            // schedule the function re-armed under the same name.
            .action_after_completion(ActionAfterCompletion::None)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ScheduleOutcome::Created),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                Ok(ScheduleOutcome::AlreadyExists)
            }
            Err(error) => Err(api_error(SERVICE, "CreateSchedule", &error)),
        }
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let (group, _) = self.configured()?;
        let result = self
            .client
            .delete_schedule()
            .name(name)
            .group_name(group)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(api_error(SERVICE, "DeleteSchedule", &error)),
        }
    }
}
