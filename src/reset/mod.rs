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
//! - a trigger at time `T` is covered only by a finished rotation whose password IAM
//!   accepted (`IAM_APPLIED` on `AWSCURRENT`) and that started after `T`;
//! - a rotation in progress is never disturbed: the reset waits for it through the
//!   secret's one schedule, a bounded number of times;
//! - the secret's one schedule fires no later than its first trigger asked and covers
//!   the latest trigger merged into it; a trigger inside `RESET_MIN_INTERVAL_MINUTES`
//!   of the last rotation waits for the interval's end;
//! - a user without a login profile is never reset (containment stands), and
//!   `DeleteLoginProfile` cancels the secret's pending reset;
//! - `RotateSecret`'s token is derived from the trigger, so a repeated delivery starts
//!   no second rotation.

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
use crate::ports::{SecretMetadata, AWSCURRENT, AWSPENDING, IAM_APPLIED};
use crate::secret::{SecretValue, CREDENTIALS_KEY};
pub use event::{Fact, ResetRequest, Subject, Trigger};
use ports::{
    OneTimeSchedule, RotateOutcome, RotationControl, ScheduleOutcome, Schedules, Users, VersionInfo,
};
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
    /// The last rotation started less than `RESET_MIN_INTERVAL_MINUTES` ago: the reset
    /// waits for the interval's end.
    IntervalWait(SystemTime),
    /// Nothing to do: a rotation or schedule already covers it (why).
    Coalesced(String),
    /// Not a reset: why (a failed sign-in, the function's own call, a user not enrolled...).
    Skipped(String),
    /// Reported only, never acted on (`DeleteLoginProfile`).
    Reported(String),
    /// The event cannot concern a user or secret of this function: skipped, and no
    /// outcome event is published for it.
    NotOurs(String),
}

impl Decision {
    /// The decision's name in responses, logs, metrics and outcome events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RotationStarted(_) => "rotation_started",
            Self::Scheduled(_) | Self::IntervalWait(_) => "scheduled",
            Self::RetryScheduled(..) => "retry_scheduled",
            Self::Coalesced(_) => "coalesced",
            Self::Skipped(_) | Self::NotOurs(_) => "skipped",
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
            Self::IntervalWait(at) => format!(
                "a rotation started less than RESET_MIN_INTERVAL_MINUTES ago: reset scheduled for the interval's end, {}",
                humantime::format_rfc3339_seconds(*at)
            ),
            Self::Coalesced(why) | Self::Skipped(why) | Self::Reported(why) | Self::NotOurs(why) => {
                why.clone()
            }
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
    /// The decision, or the refusal (see [`is_refusal`]) or failure.
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
    now: Box<dyn Fn() -> SystemTime + Send + Sync>,
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
            now: Box::new(SystemTime::now),
        }
    }

    /// The same resetter reading time from `clock` (tests run it on a fake clock).
    #[cfg(test)]
    pub(crate) fn with_clock(
        mut self,
        clock: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> Self {
        self.now = Box::new(clock);
        self
    }

    /// Decides every subject of `request`. `function_arn` is this function's ARN
    /// (the invocation's, qualifier stripped): the rotation function secrets must name
    /// and the target of the schedules. A subject that fails (an AWS error) is recorded
    /// and the others are still decided; the caller fails the invocation after recording
    /// them all, and its retry starts no second rotation (the token is the trigger's).
    pub async fn handle(&self, request: &ResetRequest, function_arn: &str) -> Result<ResetReport> {
        let mut decisions = Vec::with_capacity(request.subjects.len());
        for subject in &request.subjects {
            let decided = match self.decide(request, subject, function_arn).await {
                Ok(decided) => decided,
                Err(error) => {
                    let (user, secret) = match subject {
                        Subject::User(user) => (Some(user.clone()), None),
                        Subject::Secret(secret) => (None, Some(secret.clone())),
                    };
                    Decided {
                        user,
                        secret,
                        decision: Err(error),
                    }
                }
            };
            decisions.push(decided);
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
        if request.fact == Fact::LoginProfileDeleted {
            return self.contain(request, subject).await;
        }
        let resolved = self.resolve(request, subject, function_arn).await;
        if request.attempt.is_some() && resolved.is_err() && !self.dry_run(request) {
            // A schedule that fired for a secret no longer ours (unbound, rotation off...):
            // nothing to reset, and the schedule goes.
            if let Subject::Secret(id) = subject {
                self.schedules.delete(&schedule_name(id)).await?;
            }
        }
        let target = match resolved {
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
        if matches!(request.trigger, Trigger::Drift | Trigger::Audit)
            && !matches!(target.current.other_string(CREDENTIALS_KEY), Ok(None))
        {
            // Self-service: the rotation sends the secret's password as OldPassword, and
            // after drift IAM no longer holds it, so a rotation could only fail.
            return Ok(decided(
                Some(target.user.clone()),
                Some(target.metadata.arn.clone()),
                Err(RotationError::ReenrolmentRequired {
                    secret: target.metadata.arn,
                    user: target.user,
                }),
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
            Fact::FailedSignIn => {
                return skip("the console sign-in failed: a failed sign-in never resets")
            }
            Fact::FailedCall(code) => {
                return skip(&format!("the call failed ({code}): it changed nothing"))
            }
            Fact::NotOurs(why) => return Ok(Some(Decision::NotOurs(why.clone()))),
            Fact::OwnPasswordChange | Fact::Request | Fact::LoginProfileDeleted => {}
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
                return Ok(Some(Decision::NotOurs("the function's own call".into())));
            }
        }
        Ok(None)
    }

    /// Finds the user and its secret, and checks that this function may reset them.
    async fn resolve(
        &self,
        request: &ResetRequest,
        subject: &Subject,
        function_arn: &str,
    ) -> Result<Target> {
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
                let id = match request.trigger {
                    // A read forwarded from another region names the replica.
                    Trigger::SecretRead => primary_arn(id, function_arn),
                    _ => id.clone(),
                };
                let metadata = self.rotating_secret(&id, function_arn).await?;
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

    /// `DeleteLoginProfile`: never undone. When the user has no login profile now, the
    /// secret's pending reset is cancelled (it would otherwise give the console back).
    async fn contain(&self, request: &ResetRequest, subject: &Subject) -> Result<Decided> {
        let Subject::User(name) = subject else {
            return Err(RotationError::InvalidEvent(
                "a DeleteLoginProfile record names a user".into(),
            ));
        };
        let user = match self.users.get_user(name).await {
            Ok(user) => user,
            Err(RotationError::UserNotFound { .. }) => {
                return Ok(Decided {
                    user: Some(name.clone()),
                    secret: None,
                    decision: Ok(Decision::NotOurs("the user no longer exists".into())),
                })
            }
            Err(error) => return Err(error),
        };
        let Some(secret) = user.tags.get(BINDING_TAG).cloned() else {
            return Ok(Decided {
                user: Some(user.name),
                secret: None,
                decision: Ok(Decision::NotOurs(
                    "the user is not enrolled (no binding tag)".into(),
                )),
            });
        };
        let decision = if self.users.has_login_profile(&user.name).await? {
            Decision::Reported(
                "DeleteLoginProfile is reported only; the user has a login profile again, so nothing is cancelled".into(),
            )
        } else {
            if !self.dry_run(request) {
                self.schedules.delete(&schedule_name(&secret)).await?;
            }
            Decision::Reported(
                "DeleteLoginProfile is never undone: reported, and the secret's pending reset (if any) cancelled".into(),
            )
        };
        Ok(Decided {
            user: Some(user.name),
            secret: Some(secret),
            decision: Ok(decision),
        })
    }

    /// The decision for a resolved target, and the write it takes.
    async fn act(
        &self,
        request: &ResetRequest,
        target: &Target,
        function_arn: &str,
    ) -> Result<Decision> {
        let arn = &target.metadata.arn;
        let now = (self.now)();
        let dry_run = self.dry_run(request);
        if !self.users.has_login_profile(&target.user).await? {
            // Containment stands: only Secrets Manager's own rotation may create a profile,
            // and a reset never starts one that would.
            if request.attempt.is_some() && !dry_run {
                self.schedules.delete(&schedule_name(arn)).await?;
            }
            return Ok(Decision::Skipped(
                "the user has no login profile (console access removed or contained): nothing to reset"
                    .into(),
            ));
        }
        // A trigger cannot be later than now (a sender's clock may say otherwise).
        let since = request.time.map_or(now, |time| time.min(now));
        if request.fact == Fact::OwnPasswordChange && self.password_reset_required {
            if let Some(skip) = self.first_change(request, arn, since, dry_run).await? {
                return Ok(skip);
            }
        }
        let attempt = request.attempt.unwrap_or(1);
        if request.trigger.is_delayed() && request.attempt.is_none() {
            let at = since + self.settings.delay;
            if at > now {
                return self
                    .pend(request, target, function_arn, at, since, attempt)
                    .await
                    .map(|pended| match pended {
                        Pended::Written(at) => Decision::Scheduled(at),
                        Pended::Covered(at) => Decision::Coalesced(format!(
                            "the reset of this secret scheduled for {} covers this trigger",
                            humantime::format_rfc3339_seconds(at)
                        )),
                    });
            }
            // Delivered after its delay had passed: decided now.
        }
        let versions = self.secrets.versions(arn).await?;
        let token = rotation_token(request, arn, since);
        if versions.iter().any(|v| v.id == token) {
            self.finish_fired(request, arn, since).await?;
            return Ok(Decision::Coalesced(format!(
                "this trigger already started rotation {token}"
            )));
        }
        if covered(&versions, since) {
            self.finish_fired(request, arn, since).await?;
            return Ok(Decision::Coalesced(
                "a rotation that started after the trigger finished and IAM accepted its password"
                    .into(),
            ));
        }
        if !in_progress(&versions) {
            if let Some(end) = last_rotation(&versions)
                .map(|started| started + self.settings.min_interval)
                .filter(|end| *end > now)
            {
                return match self
                    .pend(request, target, function_arn, end, since, attempt)
                    .await?
                {
                    Pended::Written(at) | Pended::Covered(at) => Ok(Decision::IntervalWait(at)),
                };
            }
            if dry_run {
                return Ok(Decision::RotationStarted("(dry run)".into()));
            }
            match self.secrets.rotate(arn, &token).await? {
                RotateOutcome::Started(version) => {
                    self.finish_fired(request, arn, since).await?;
                    return Ok(Decision::RotationStarted(version));
                }
                RotateOutcome::AlreadyStarted => {
                    self.finish_fired(request, arn, since).await?;
                    return Ok(Decision::Coalesced(format!(
                        "this trigger already started rotation {token}"
                    )));
                }
                RotateOutcome::InProgress => {}
            }
        }
        let attempt = attempt + 1;
        if attempt > MAX_ATTEMPTS {
            self.finish_fired(request, arn, since).await?;
            return Err(RotationError::ResetRetriesExhausted {
                secret: arn.clone(),
                attempts: MAX_ATTEMPTS,
            });
        }
        match self
            .pend(
                request,
                target,
                function_arn,
                now + RETRY_DELAY,
                since,
                attempt,
            )
            .await?
        {
            Pended::Written(at) | Pended::Covered(at) => Ok(Decision::RetryScheduled(at, attempt)),
        }
    }

    /// With `PASSWORD_RESET_REQUIRED=true` the user's own `ChangePassword` after a
    /// rotation is the expected first sign-in: the first one only. The version IAM
    /// accepted records which change used the exemption (a `FIRST_CHANGE_` label named
    /// after the event), so a repeated delivery is skipped again and any other change is
    /// drift. `None`: not exempt.
    async fn first_change(
        &self,
        request: &ResetRequest,
        arn: &str,
        since: SystemTime,
        dry_run: bool,
    ) -> Result<Option<Decision>> {
        let versions = self.secrets.versions(arn).await?;
        let Some(rotated) = versions
            .iter()
            .find(|v| has(v, AWSCURRENT) && has(v, IAM_APPLIED))
            // eventTime has whole seconds: a change in the rotation's own second may follow it.
            .filter(|v| {
                v.created
                    .is_some_and(|created| created < since + Duration::from_secs(1))
            })
        else {
            return Ok(None);
        };
        let label = first_change_label(request, since);
        match rotated
            .stages
            .iter()
            .find(|s| s.starts_with(FIRST_CHANGE_PREFIX))
        {
            Some(used) if *used == label => {}
            Some(_) => return Ok(None),
            None if dry_run => {}
            None => self.secrets.label(arn, &label, &rotated.id).await?,
        }
        Ok(Some(Decision::Skipped(
            "the user's first ChangePassword after a rotation with PASSWORD_RESET_REQUIRED=true is the expected first sign-in".into(),
        )))
    }

    /// Puts the trigger (at `since`) on the secret's one schedule, to fire at `at` at the
    /// latest. A schedule still to fire keeps its time unless `at` is earlier, and comes to
    /// cover the latest trigger; one that fired is re-armed.
    async fn pend(
        &self,
        request: &ResetRequest,
        target: &Target,
        function_arn: &str,
        at: SystemTime,
        since: SystemTime,
        attempt: u32,
    ) -> Result<Pended> {
        if self.dry_run(request) {
            return Ok(Pended::Written(at));
        }
        let name = schedule_name(&target.metadata.arn);
        let mut existing = self.schedules.get(&name).await?;
        if existing.is_none() {
            let schedule = self.schedule_of(request, target, function_arn, at, since, attempt);
            match self.schedules.create(&schedule).await? {
                ScheduleOutcome::Created => return Ok(Pended::Written(at)),
                // Created meanwhile by a concurrent trigger: merge into it.
                ScheduleOutcome::AlreadyExists => existing = self.schedules.get(&name).await?,
            }
        }
        let Some(existing) = existing else {
            return Err(RotationError::Aws {
                service: "scheduler",
                operation: "GetSchedule",
                code: "ResourceNotFoundException".into(),
                message: format!(
                    "schedule {name} was deleted while this trigger was merged into it"
                ),
            });
        };
        let now = (self.now)();
        let fired = request.attempt.is_some();
        let pending = ResetRequest::from_value(
            &serde_json::from_str::<serde_json::Value>(&existing.input).unwrap_or_default(),
        )
        .ok();
        let pending_since = pending.as_ref().and_then(|p| p.time);
        let still_to_fire = existing.at > now;
        let new_at = if still_to_fire {
            existing.at.min(at)
        } else {
            at
        };
        let new_since = pending_since.map_or(since, |p| p.max(since));
        if !fired && still_to_fire && new_at == existing.at && pending_since == Some(new_since) {
            // Nothing changes: a repeated delivery, or an older trigger, writes nothing.
            return Ok(Pended::Covered(existing.at));
        }
        let latest = match &pending {
            Some(p) if pending_since > Some(since) => p,
            _ => request,
        };
        let new_attempt = match (&pending, fired) {
            (Some(p), false) => p.attempt.unwrap_or(1).max(attempt),
            _ => attempt,
        };
        let schedule =
            self.schedule_of(latest, target, function_arn, new_at, new_since, new_attempt);
        self.schedules.update(&schedule).await?;
        Ok(if still_to_fire && new_at == existing.at && !fired {
            Pended::Covered(new_at)
        } else {
            Pended::Written(new_at)
        })
    }

    /// The schedule that sends `request` back at `at`, covering triggers up to `since`.
    fn schedule_of(
        &self,
        request: &ResetRequest,
        target: &Target,
        function_arn: &str,
        at: SystemTime,
        since: SystemTime,
        attempt: u32,
    ) -> OneTimeSchedule {
        let covering = ResetRequest {
            time: Some(since),
            ..request.clone()
        };
        OneTimeSchedule {
            name: schedule_name(&target.metadata.arn),
            at,
            target_arn: unqualified(function_arn).to_owned(),
            input: covering
                .scheduled_event(&target.user, &target.metadata.arn, attempt)
                .to_string(),
        }
    }

    /// After a fired schedule's decision: the schedule goes, unless a later trigger was
    /// merged into it meanwhile (it then covers a later time). One re-armed by an older
    /// trigger goes too: this decision covers that trigger.
    async fn finish_fired(
        &self,
        request: &ResetRequest,
        arn: &str,
        since: SystemTime,
    ) -> Result<()> {
        if request.attempt.is_none() || self.dry_run(request) {
            return Ok(());
        }
        let name = schedule_name(arn);
        let Some(existing) = self.schedules.get(&name).await? else {
            return Ok(());
        };
        let covers = ResetRequest::from_value(
            &serde_json::from_str::<serde_json::Value>(&existing.input).unwrap_or_default(),
        )
        .ok()
        .and_then(|p| p.time);
        if covers.is_some_and(|t| t > since) {
            return Ok(());
        }
        self.schedules.delete(&name).await
    }
}

/// What putting a trigger on the secret's schedule did.
enum Pended {
    /// The schedule was created, moved or re-armed: it fires then.
    Written(SystemTime),
    /// The schedule still to fire then already covers the trigger (or now does).
    Covered(SystemTime),
}

/// Whether a finished rotation that started after `since` covers a trigger at `since`:
/// `AWSCURRENT` is on a version IAM accepted (`IAM_APPLIED`), created at or after
/// `since` + 1 s. CloudTrail's `eventTime` has whole seconds: the trigger happened
/// somewhere in `[since, since + 1 s)`, so only a later second surely came after it.
fn covered(versions: &[VersionInfo], since: SystemTime) -> bool {
    let after = since + Duration::from_secs(1);
    versions.iter().any(|v| {
        v.created.is_some_and(|created| created >= after)
            && has(v, AWSCURRENT)
            && has(v, IAM_APPLIED)
    })
}

/// A rotation in progress: `AWSPENDING` on a version that is not `AWSCURRENT`.
fn in_progress(versions: &[VersionInfo]) -> bool {
    versions
        .iter()
        .any(|v| has(v, AWSPENDING) && !has(v, AWSCURRENT))
}

/// When the last rotation IAM accepted started (the `IAM_APPLIED` version's creation;
/// `AWSCURRENT`'s when no version carries it).
fn last_rotation(versions: &[VersionInfo]) -> Option<SystemTime> {
    versions
        .iter()
        .find(|v| has(v, IAM_APPLIED))
        .or_else(|| versions.iter().find(|v| has(v, AWSCURRENT)))
        .and_then(|v| v.created)
}

fn has(version: &VersionInfo, stage: &str) -> bool {
    version.stages.iter().any(|s| s == stage)
}

/// The label that marks the first password change a required reset allowed.
const FIRST_CHANGE_PREFIX: &str = "FIRST_CHANGE_";

/// `FIRST_CHANGE_` and 16 hex digits naming the change (its event id, else its time).
fn first_change_label(request: &ResetRequest, since: SystemTime) -> String {
    let identity = request
        .event_id
        .clone()
        .unwrap_or_else(|| humantime::format_rfc3339_millis(since).to_string());
    let digest = Sha256::digest(identity.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{FIRST_CHANGE_PREFIX}{hex}")
}

/// `RotateSecret`'s `ClientRequestToken` for a trigger: the same trigger (a repeated
/// delivery, a retried invocation, a schedule fired twice) always gets the same one, so
/// it starts one rotation at most. UUID-shaped, from a SHA-256 of what identifies it.
fn rotation_token(request: &ResetRequest, secret_arn: &str, since: SystemTime) -> String {
    let millis = since
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let identity = match (request.attempt, &request.event_id) {
        (Some(attempt), _) => format!("scheduled\n{millis}\n{attempt}"),
        (None, Some(id)) => format!("event\n{id}"),
        (None, None) => format!("time\n{millis}"),
    };
    let digest = Sha256::digest(
        format!("{}\n{secret_arn}\n{identity}", request.trigger.as_str()).as_bytes(),
    );
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A secret ARN of another region (a replica's, as a read forwarded from that region
/// names it) as the ARN in the function's region: a replica's ARN differs from its
/// primary's only in the region. Names and ARNs of the function's region are unchanged.
fn primary_arn(id: &str, function_arn: &str) -> String {
    let home = function_arn.split(':').nth(3).unwrap_or_default();
    let parts: Vec<&str> = id.splitn(5, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "secretsmanager", region, rest]
            if !home.is_empty() && *region != home =>
        {
            format!("arn:{partition}:secretsmanager:{home}:{rest}")
        }
        _ => id.to_owned(),
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
pub fn is_refusal(error: &RotationError) -> bool {
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
            | RotationError::ReenrolmentRequired { .. }
            // The subject's account cannot be acted in (a Security Hub finding on a
            // member account's user): refused there, the other subjects go on.
            | RotationError::CrossAccountOff { .. }
            | RotationError::MemberRoleRefused { .. }
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
    Some(Decision::NotOurs(why.into()))
}

/// One log line, one metric line and one outcome event per decision.
pub fn record_decisions(request: &ResetRequest, report: &ResetReport) -> Vec<OutcomeEvent> {
    let trigger = request.trigger.as_str();
    report
        .decisions
        .iter()
        .filter_map(|decided| {
            let (decision, detail, error_type) = match &decided.decision {
                Ok(decision) => (decision.as_str(), decision.detail(), None),
                Err(error) if is_refusal(error) => {
                    ("refused", error.to_string(), Some(error.error_type()))
                }
                Err(error) => ("failed", error.to_string(), Some(error.error_type())),
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
            if matches!(decided.decision, Ok(Decision::NotOurs(_))) {
                // Not this function's user or secret: no outcome event.
                return None;
            }
            Some(OutcomeEvent {
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
                decision: if report.dry_run {
                    format!("dry_run:{decision}")
                } else {
                    decision.into()
                },
                error_type: error_type.map(str::to_owned),
                ..OutcomeEvent::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
