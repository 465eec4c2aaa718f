//! Event-triggered resets: rotate a user's password on demand, after a break-glass
//! sign-in or a secret read, and when the password drifts.
//!
//! A reset never writes a password itself: it starts a rotation with `RotateSecret`,
//! and Secrets Manager runs the four steps of [`crate::rotation`] as for a scheduled
//! rotation, so every guarantee of the rotation holds. This module only decides
//! whether, when and for which secret (the decision table is `docs/resets.md`):
//!
//! - the user's binding tag names the secret (no `ListSecrets`), and the secret's
//!   `AWSCURRENT` names the user back;
//! - the secret rotates with this function, and rotation is on;
//! - a rotation in progress is never disturbed: the reset waits for it through a
//!   one-time schedule, a bounded number of times;
//! - a trigger that a rotation started after it already covers is coalesced, and
//!   so are repeated delayed triggers (one schedule per secret).

pub mod event;
pub mod ports;
pub mod settings;

#[cfg(test)]
pub(crate) mod fakes;

use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::binding::{check_binding, same_function, unqualified, BINDING_TAG};
use crate::error::{Result, RotationError};
use crate::outcome::{self, metrics, OutcomeEvent};
use crate::ports::{SecretMetadata, AWSCURRENT, AWSPENDING};
use crate::secret::{SecretValue, CREDENTIALS_KEY};
pub use event::{Fact, ResetRequest, Subject, Trigger};
use ports::{OneTimeSchedule, RotateOutcome, RotationControl, ScheduleOutcome, Schedules, Users};
pub use settings::ResetSettings;
use settings::{MAX_ATTEMPTS, RETRY_DELAY};

/// What a reset decided for one user and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `RotateSecret` started a rotation: the new version.
    RotationStarted(String),
    /// A delayed reset was scheduled for this time.
    Scheduled(SystemTime),
    /// A rotation is in progress: the reset tries again then (attempt `n`).
    RetryScheduled(SystemTime, u32),
    /// Nothing to do: a rotation or schedule already covers it (why).
    Coalesced(String),
    /// Not a reset: why (a failed sign-in, the function's own call, a user not enrolled...).
    Skipped(String),
    /// Reported only, never acted on (`DeleteLoginProfile`).
    Reported(String),
}

impl Decision {
    /// The decision's name in responses, logs, metrics and outcome events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RotationStarted(_) => "rotation_started",
            Self::Scheduled(_) => "scheduled",
            Self::RetryScheduled(..) => "retry_scheduled",
            Self::Coalesced(_) => "coalesced",
            Self::Skipped(_) => "skipped",
            Self::Reported(_) => "reported",
        }
    }

    /// A short explanation for the log line and the response.
    pub fn detail(&self) -> String {
        match self {
            Self::RotationStarted(version) => format!("rotation of version {version} started"),
            Self::Scheduled(at) => format!(
                "reset scheduled for {}",
                humantime::format_rfc3339_seconds(*at)
            ),
            Self::RetryScheduled(at, attempt) => format!(
                "a rotation is in progress: attempt {attempt} of {MAX_ATTEMPTS} scheduled for {}",
                humantime::format_rfc3339_seconds(*at)
            ),
            Self::Coalesced(why) | Self::Skipped(why) | Self::Reported(why) => why.clone(),
        }
    }
}

/// The decision for one subject of a request, or why it was refused.
#[derive(Debug)]
pub struct Decided {
    /// The IAM user, when known.
    pub user: Option<String>,
    /// The secret ARN (or id), when known.
    pub secret: Option<String>,
    /// The decision, or the refusal.
    pub decision: Result<Decision>,
}

/// Everything one reset request decided.
#[derive(Debug)]
pub struct ResetReport {
    /// What asked for it.
    pub trigger: Trigger,
    /// Whether nothing was written (`RESET_DRY_RUN`).
    pub dry_run: bool,
    /// One entry per subject.
    pub decisions: Vec<Decided>,
}

/// Decides and starts resets.
pub struct Resetter<U, R, S> {
    users: U,
    secrets: R,
    schedules: S,
    settings: ResetSettings,
    /// `PASSWORD_RESET_REQUIRED`: a user's own password change is then expected.
    password_reset_required: bool,
    now: fn() -> SystemTime,
}

/// The secret a reset is for, once the binding checks passed.
struct Target {
    user: String,
    metadata: SecretMetadata,
    current: SecretValue,
}

impl<U: Users, R: RotationControl, S: Schedules> Resetter<U, R, S> {
    /// A resetter over the given ports; built once per process.
    pub fn new(
        users: U,
        secrets: R,
        schedules: S,
        settings: ResetSettings,
        password_reset_required: bool,
    ) -> Self {
        Self {
            users,
            secrets,
            schedules,
            settings,
            password_reset_required,
            now: SystemTime::now,
        }
    }

    /// Decides every subject of `request`. `function_arn` is this function's ARN
    /// (the invocation's, qualifier stripped): the rotation function secrets must name
    /// and the target of the schedules.
    pub async fn handle(&self, request: &ResetRequest, function_arn: &str) -> Result<ResetReport> {
        let mut decisions = Vec::with_capacity(request.subjects.len());
        for subject in &request.subjects {
            decisions.push(self.decide(request, subject, function_arn).await?);
        }
        Ok(ResetReport {
            trigger: request.trigger,
            dry_run: self.dry_run(request),
            decisions,
        })
    }

    /// One subject. An error here is a failure of the whole invocation (a
    /// configuration error, an AWS error); refusals are recorded in [`Decided`].
    async fn decide(
        &self,
        request: &ResetRequest,
        subject: &Subject,
        function_arn: &str,
    ) -> Result<Decided> {
        let (user, secret) = match subject {
            Subject::User(user) => (Some(user.clone()), None),
            Subject::Secret(secret) => (None, Some(secret.clone())),
        };
        let decided = |user: Option<String>, secret: Option<String>, decision| Decided {
            user,
            secret,
            decision,
        };
        if let Some(skip) = self.fact_decision(request)? {
            return Ok(decided(user, secret, Ok(skip)));
        }
        let target = match self.resolve(subject, function_arn).await {
            Ok(target) => target,
            Err(error) => {
                return match not_ours(request.trigger, &error) {
                    Some(skip) => Ok(decided(user, secret, Ok(skip))),
                    None if is_refusal(&error) => Ok(decided(user, secret, Err(error))),
                    None => Err(error),
                }
            }
        };
        if self.own_change_password(request, &target).await? {
            return Ok(decided(
                Some(target.user),
                Some(target.metadata.arn),
                Ok(Decision::Skipped(
                    "the function's own ChangePassword, made with the user's key".into(),
                )),
            ));
        }
        let decision = match self.act(request, &target, function_arn).await {
            Err(error) if !is_refusal(&error) => return Err(error),
            other => other,
        };
        Ok(decided(
            Some(target.user),
            Some(target.metadata.arn),
            decision,
        ))
    }

    /// Whether `request` is decided and reported only (`RESET_DRY_RUN`, or an audit's dry run).
    fn dry_run(&self, request: &ResetRequest) -> bool {
        self.settings.dry_run || request.dry_run
    }

    /// Decisions the event alone settles, before any AWS call.
    fn fact_decision(&self, request: &ResetRequest) -> Result<Option<Decision>> {
        let skip = |why: &str| Ok(Some(Decision::Skipped(why.into())));
        match &request.fact {
            Fact::FailedSignIn => return skip("the console sign-in failed: a failed sign-in never resets"),
            Fact::FailedCall(code) => {
                return skip(&format!("the call failed ({code}): it changed nothing"))
            }
            Fact::LoginProfileDeleted => {
                return Ok(Some(Decision::Reported(
                    "DeleteLoginProfile is never undone (it may be a containment action): reported only".into(),
                )))
            }
            Fact::OwnPasswordChange if self.password_reset_required => {
                return skip("the user's own ChangePassword with PASSWORD_RESET_REQUIRED=true is the expected first sign-in")
            }
            Fact::OwnPasswordChange | Fact::Request => {}
        }
        if matches!(request.trigger, Trigger::Drift | Trigger::SecretRead)
            && request.attempt.is_none()
        {
            let own = self.settings.function_role_arn.as_deref().ok_or_else(|| {
                RotationError::InvalidConfig(
                    "FUNCTION_ROLE_ARN is not set: without it the function cannot tell its own calls from drift or a checkout".into(),
                )
            })?;
            if request.actor_role.as_deref() == Some(own) {
                return skip("the function's own call");
            }
        }
        Ok(None)
    }

    /// Finds the user and its secret, and checks that this function may reset them.
    async fn resolve(&self, subject: &Subject, function_arn: &str) -> Result<Target> {
        match subject {
            Subject::User(name) => {
                let user = self.users.get_user(name).await?;
                let bound_to =
                    user.tags
                        .get(BINDING_TAG)
                        .ok_or_else(|| RotationError::BindingTagMissing {
                            user: user.name.clone(),
                            secret: "(none)".into(),
                        })?;
                let metadata = self.rotating_secret(bound_to, function_arn).await?;
                let current = self.current(&metadata).await?;
                if current.username() != user.name {
                    return Err(RotationError::SecretNamesAnotherUser {
                        user: user.name,
                        secret: metadata.arn,
                        named: current.username().into(),
                    });
                }
                Ok(Target {
                    user: user.name,
                    metadata,
                    current,
                })
            }
            Subject::Secret(id) => {
                let metadata = self.rotating_secret(id, function_arn).await?;
                let current = self.current(&metadata).await?;
                let user = self.users.get_user(current.username()).await?;
                check_binding(&user, &metadata.arn)?;
                Ok(Target {
                    user: user.name,
                    metadata,
                    current,
                })
            }
        }
    }

    /// `DescribeSecret`: the secret exists, rotates, and with this function.
    async fn rotating_secret(&self, secret_id: &str, function_arn: &str) -> Result<SecretMetadata> {
        let metadata = self
            .secrets
            .describe(secret_id)
            .await
            .map_err(|error| match error {
                // The role may describe only secrets that name this function as their
                // rotation function (the template's condition): a denial means another one.
                RotationError::Aws { code, .. } if is_access_denied(&code) => {
                    RotationError::RotatedByAnotherFunction {
                        secret: secret_id.into(),
                        rotation_function: "another function (this function may not describe it)"
                            .into(),
                    }
                }
                other => other,
            })?;
        let rotation_function = metadata.rotation_lambda_arn.clone().unwrap_or_default();
        if !same_function(&rotation_function, function_arn) {
            return Err(RotationError::RotatedByAnotherFunction {
                secret: metadata.arn,
                rotation_function,
            });
        }
        if !metadata.rotation_enabled {
            return Err(RotationError::RotationNotEnabled {
                secret: metadata.arn,
            });
        }
        Ok(metadata)
    }

    /// The secret's `AWSCURRENT` value (it names the user).
    async fn current(&self, metadata: &SecretMetadata) -> Result<SecretValue> {
        let missing = || RotationError::CurrentValueMissing {
            secret: metadata.arn.clone(),
        };
        let raw: SecretString = self
            .secrets
            .current_value(&metadata.arn)
            .await?
            .ok_or_else(missing)?;
        let version = metadata
            .version_with(AWSCURRENT)
            .unwrap_or(AWSCURRENT)
            .to_owned();
        SecretValue::parse(&raw).map_err(|reason| RotationError::InvalidSecretValue {
            secret: metadata.arn.clone(),
            version,
            reason,
        })
    }

    /// Whether a `ChangePassword` was the function's own, made with the user's key (the
    /// self-service strategy): CloudTrail records it as the user, with that key's id.
    async fn own_change_password(&self, request: &ResetRequest, target: &Target) -> Result<bool> {
        let (Fact::OwnPasswordChange, Some(used)) = (&request.fact, &request.access_key_id) else {
            return Ok(false);
        };
        let Ok(Some(credentials)) = target.current.other_string(CREDENTIALS_KEY) else {
            return Ok(false);
        };
        let Some(raw) = self.secrets.current_value(&credentials).await? else {
            return Ok(false);
        };
        let key: serde_json::Value = serde_json::from_str(raw.expose_secret()).unwrap_or_default();
        Ok(key.get("accessKeyId").and_then(serde_json::Value::as_str) == Some(used.as_str()))
    }

    /// The decision for a resolved target, and the write it takes.
    async fn act(
        &self,
        request: &ResetRequest,
        target: &Target,
        function_arn: &str,
    ) -> Result<Decision> {
        let name = schedule_name(&target.metadata.arn);
        let now = (self.now)();
        let dry_run = self.dry_run(request);
        if request.attempt.is_some() && !dry_run {
            // The schedule that fired this: gone before a retry reuses its name.
            self.schedules.delete(&name).await?;
        }
        if request.trigger.is_delayed() && request.attempt.is_none() {
            let at = now + self.settings.delay;
            return self.schedule(request, target, function_arn, at, 1).await;
        }
        let since = request.time.unwrap_or(now);
        if request.time.is_some() {
            let versions = self.secrets.versions(&target.metadata.arn).await?;
            // CloudTrail's eventTime has whole seconds: the trigger happened somewhere in
            // [since, since + 1 s), so only a version created after that second surely
            // came after it. A rotation in the same second does not count (one rotation
            // too many, never one too few).
            let after = since + Duration::from_secs(1);
            let covered = versions.iter().any(|v| {
                v.created.is_some_and(|created| created >= after)
                    && v.stages.iter().any(|s| s == AWSCURRENT || s == AWSPENDING)
            });
            if covered {
                return Ok(Decision::Coalesced(
                    "a rotation that started after the trigger covers it".into(),
                ));
            }
        }
        let in_progress = target
            .metadata
            .version_with(AWSPENDING)
            .is_some_and(|pending| !target.metadata.has_stage(pending, AWSCURRENT));
        if !in_progress {
            if dry_run {
                return Ok(Decision::RotationStarted("(dry run)".into()));
            }
            match self.secrets.rotate(&target.metadata.arn).await? {
                RotateOutcome::Started(version) => return Ok(Decision::RotationStarted(version)),
                RotateOutcome::InProgress => {}
            }
        }
        let attempt = request.attempt.unwrap_or(1) + 1;
        if attempt > MAX_ATTEMPTS {
            return Err(RotationError::ResetRetriesExhausted {
                secret: target.metadata.arn.clone(),
                attempts: MAX_ATTEMPTS,
            });
        }
        let retry = ResetRequest {
            time: Some(since),
            ..request.clone()
        };
        match self
            .schedule(&retry, target, function_arn, now + RETRY_DELAY, attempt)
            .await?
        {
            Decision::Scheduled(at) => Ok(Decision::RetryScheduled(at, attempt)),
            other => Ok(other),
        }
    }

    /// Creates the secret's one-time schedule (attempt `attempt`), or finds it there.
    async fn schedule(
        &self,
        request: &ResetRequest,
        target: &Target,
        function_arn: &str,
        at: SystemTime,
        attempt: u32,
    ) -> Result<Decision> {
        if self.dry_run(request) {
            return Ok(Decision::Scheduled(at));
        }
        let input = request.scheduled_event(&target.user, &target.metadata.arn, attempt);
        let schedule = OneTimeSchedule {
            name: schedule_name(&target.metadata.arn),
            at,
            target_arn: unqualified(function_arn).to_owned(),
            input: input.to_string(),
        };
        match self.schedules.create(&schedule).await? {
            ScheduleOutcome::Created => Ok(Decision::Scheduled(at)),
            ScheduleOutcome::AlreadyExists => Ok(Decision::Coalesced(
                "a reset of this secret is already scheduled; the earlier one stands".into(),
            )),
        }
    }
}

/// The schedule of a secret: one per secret, so repeated triggers coalesce.
pub fn schedule_name(secret_arn: &str) -> String {
    let digest = Sha256::digest(secret_arn.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("reset-{hex}")
}

/// Refusals: the event names something this function may not or need not reset.
/// Nothing was written; the invocation reports them rather than failing on them.
fn is_refusal(error: &RotationError) -> bool {
    matches!(
        error,
        RotationError::UserNotFound { .. }
            | RotationError::BindingTagMissing { .. }
            | RotationError::BindingTagMismatch { .. }
            | RotationError::SecretNamesAnotherUser { .. }
            | RotationError::SecretNotFound { .. }
            | RotationError::RotationNotEnabled { .. }
            | RotationError::RotatedByAnotherFunction { .. }
            | RotationError::CurrentValueMissing { .. }
            | RotationError::InvalidSecretValue { .. }
            | RotationError::ResetRetriesExhausted { .. }
    )
}

fn is_access_denied(code: &str) -> bool {
    code == "AccessDeniedException" || code == "AccessDenied"
}

/// For triggers that report what happened to any user or secret (sign-ins, reads,
/// password changes), a user or secret this function does not manage is no error.
fn not_ours(trigger: Trigger, error: &RotationError) -> Option<Decision> {
    if trigger.is_explicit() {
        return None;
    }
    let why = match error {
        RotationError::BindingTagMissing { .. } => "the user is not enrolled (no binding tag)",
        RotationError::RotatedByAnotherFunction { .. } => {
            "the secret is rotated by another function"
        }
        RotationError::SecretNotFound { .. } => "the secret is not one this function can see",
        RotationError::Aws { code, .. }
            if code == "AccessDeniedException" || code == "AccessDenied" =>
        {
            "the secret is not one this function may read (it rotates only secrets that name it)"
        }
        _ => return None,
    };
    Some(Decision::Skipped(why.into()))
}

/// One log line, one metric line and one outcome event per decision.
pub fn record_decisions(request: &ResetRequest, report: &ResetReport) -> Vec<OutcomeEvent> {
    let trigger = request.trigger.as_str();
    report
        .decisions
        .iter()
        .map(|decided| {
            let (decision, detail, error_type) = match &decided.decision {
                Ok(decision) => (decision.as_str(), decision.detail(), None),
                Err(error) => ("refused", error.to_string(), Some(error.error_type())),
            };
            let user = decided.user.as_deref().unwrap_or("");
            let secret = decided.secret.as_deref().unwrap_or("");
            let event_id = request.event_id.as_deref().unwrap_or("");
            if let Some(error_type) = error_type {
                tracing::warn!(trigger, user, secret, event_id, decision, error_type, detail = %detail, dry_run = report.dry_run, "reset refused");
            } else {
                tracing::info!(trigger, user, secret, event_id, decision, detail = %detail, dry_run = report.dry_run, "reset decided");
            }
            println!("{}", metrics::reset_line(trigger, decision));
            OutcomeEvent {
                detail_type: outcome::RESET_DECISION,
                user: decided.user.clone(),
                secret_arn: decided.secret.clone(),
                version: match &decided.decision {
                    Ok(Decision::RotationStarted(version)) => Some(version.clone()),
                    _ => None,
                },
                trigger: trigger.into(),
                principal: request.principal.clone(),
                event_id: request.event_id.clone(),
                decision: if report.dry_run { format!("dry_run:{decision}") } else { decision.into() },
                error_type: error_type.map(str::to_owned),
                ..OutcomeEvent::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
