//! In-memory fakes of the two ports, for unit tests of the rotation logic.
//!
//! They keep state like the real services do (versions and labels, users,
//! passwords with reuse history) and record every call, so tests can assert
//! what a step wrote and what it left alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::Rotator;
use crate::error::{Result, RotationError};
use crate::event::RotationEvent;
use crate::password::PasswordPolicy;
use crate::ports::{
    AccessKey, CreateOutcome, IamUser, LoginProfile, LoginProfiles, PutOutcome, RotationRules,
    SecretMetadata, SecretStore, SelfService, AWSCURRENT, AWSPENDING,
};
use crate::rotation::RotationSettings;

/// The secret under rotation.
pub const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo-AbCdEf";
/// The version that is `AWSCURRENT` before the rotation.
pub const CURRENT: &str = "version-current";
/// The rotation's token (the pending version).
pub const TOKEN: &str = "version-pending";
/// The rotation token every test event carries.
pub const ROTATION_TOKEN: &str = "rt-create";
/// The password the user starts with.
pub const OLD_PASSWORD: &str = "Old-pass-1";

/// A port call, as recorded by the fakes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Describe,
    GetVersion(String),
    Put,
    UpdateStage(String),
    GetUser,
    GetLoginProfile,
    UpdateLoginProfile,
    CreateLoginProfile,
    GetPolicy,
    WhoAmI,
    ChangePassword,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct StoreState {
    arn: Option<String>,
    /// `AWSCURRENT` values of other secrets (the self-service credentials).
    others: HashMap<String, String>,
    rotation_rules: RotationRules,
    rotation_enabled: bool,
    stages: HashMap<String, Vec<String>>,
    values: HashMap<String, String>,
    rotation_tokens: Vec<Option<String>>,
    calls: Vec<Call>,
    conflict_on_put: bool,
}

/// Secrets Manager in memory; clones share state.
#[derive(Clone, Default)]
pub struct FakeStore(Arc<Mutex<StoreState>>);

impl FakeStore {
    /// A secret whose rotation just started: `current` is `AWSCURRENT`, and
    /// [`TOKEN`] is an `AWSPENDING` placeholder with no value.
    pub fn rotating(current: Value) -> Self {
        let store = Self::default();
        {
            let mut state = lock(&store.0);
            state.rotation_enabled = true;
            state.stages.insert(CURRENT.into(), vec![AWSCURRENT.into()]);
            state.stages.insert(TOKEN.into(), vec![AWSPENDING.into()]);
            state.values.insert(CURRENT.into(), current.to_string());
        }
        store
    }

    pub fn set_value(&self, version: &str, value: Value) {
        lock(&self.0)
            .values
            .insert(version.into(), value.to_string());
    }

    pub fn set_stages(&self, version: &str, stages: &[&str]) {
        let mut state = lock(&self.0);
        for labels in state.stages.values_mut() {
            labels.retain(|label| !stages.contains(&label.as_str()));
        }
        state.stages.insert(
            version.into(),
            stages.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    /// Another secret's `AWSCURRENT` value (a credentials secret).
    pub fn set_other_secret(&self, id: &str, value: Value) {
        lock(&self.0).others.insert(id.into(), value.to_string());
    }

    /// The ARN `DescribeSecret` reports (the events still name [`ARN`]).
    pub fn set_arn(&self, arn: &str) {
        lock(&self.0).arn = Some(arn.into());
    }

    pub fn set_rotation_rules(&self, rules: RotationRules) {
        lock(&self.0).rotation_rules = rules;
    }

    pub fn set_rotation_enabled(&self, enabled: bool) {
        lock(&self.0).rotation_enabled = enabled;
    }

    pub fn conflict_on_put(&self) {
        lock(&self.0).conflict_on_put = true;
    }

    pub fn value_json(&self, version: &str) -> Option<Value> {
        lock(&self.0)
            .values
            .get(version)
            .map(|raw| serde_json::from_str(raw).expect("stored JSON"))
    }

    pub fn stages(&self, version: &str) -> Vec<String> {
        lock(&self.0)
            .stages
            .get(version)
            .cloned()
            .unwrap_or_default()
    }

    pub fn rotation_tokens(&self) -> Vec<Option<String>> {
        lock(&self.0).rotation_tokens.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.0).calls.clone()
    }

    pub fn writes(&self) -> usize {
        self.calls()
            .iter()
            .filter(|call| matches!(call, Call::Put | Call::UpdateStage(_)))
            .count()
    }

    fn record(&self, call: Call) -> MutexGuard<'_, StoreState> {
        let mut state = lock(&self.0);
        state.calls.push(call);
        state
    }
}

impl SecretStore for FakeStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata> {
        let state = self.record(Call::Describe);
        if secret_id != ARN {
            return Err(RotationError::SecretNotFound {
                secret: secret_id.into(),
            });
        }
        Ok(SecretMetadata {
            arn: state.arn.clone().unwrap_or_else(|| ARN.into()),
            rotation_enabled: state.rotation_enabled,
            versions: state.stages.clone(),
            rotation_rules: state.rotation_rules.clone(),
            rotation_lambda_arn: None,
        })
    }

    async fn get_version(
        &self,
        _secret_id: &str,
        version_id: &str,
    ) -> Result<Option<SecretString>> {
        let state = self.record(Call::GetVersion(version_id.into()));
        Ok(state
            .values
            .get(version_id)
            .map(|raw| SecretString::from(raw.as_str())))
    }

    async fn get_current(&self, secret_id: &str) -> Result<Option<SecretString>> {
        let state = self.record(Call::GetVersion(secret_id.into()));
        Ok(state
            .others
            .get(secret_id)
            .map(|raw| SecretString::from(raw.as_str())))
    }

    async fn put_pending(
        &self,
        _secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome> {
        let mut state = self.record(Call::Put);
        state
            .rotation_tokens
            .push(rotation_token.map(|t| t.expose_secret().to_owned()));
        if state.conflict_on_put || state.values.contains_key(token) {
            return Ok(PutOutcome::AlreadyExists);
        }
        state
            .values
            .insert(token.into(), value.expose_secret().to_owned());
        let labels = state.stages.entry(token.into()).or_default();
        if !labels.iter().any(|l| l == AWSPENDING) {
            labels.push(AWSPENDING.into());
        }
        Ok(PutOutcome::Stored)
    }

    async fn update_stage(
        &self,
        _secret_id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> Result<()> {
        let mut state = self.record(Call::UpdateStage(stage.into()));
        if let Some(from) = remove_from {
            if let Some(labels) = state.stages.get_mut(from) {
                labels.retain(|label| label != stage);
            }
        }
        if let Some(to) = move_to {
            for labels in state.stages.values_mut() {
                labels.retain(|label| label != stage);
            }
            state
                .stages
                .entry(to.into())
                .or_default()
                .push(stage.into());
        }
        Ok(())
    }
}

#[derive(Default)]
struct IamState {
    users: HashMap<String, IamUser>,
    passwords: HashMap<String, Vec<String>>,
    reset_required: HashMap<String, bool>,
    policy: Option<PasswordPolicy>,
    calls: Vec<Call>,
    update_failures: Vec<RotationError>,
    /// The next this many `GetLoginProfile` calls see no profile (eventual consistency).
    hidden_profile_reads: usize,
    /// The next this many `GetLoginProfile` calls see the opposite reset flag.
    stale_flag_reads: usize,
    /// `CreateLoginProfile` creates the profile, then answers as the SDK's retry of a
    /// lost response would: `EntityAlreadyExists`.
    lose_create_response: bool,
    /// Access key ids and the users they belong to.
    keys: HashMap<String, String>,
    /// `ChangePassword` is denied (the user lacks iam:ChangePassword).
    change_denied: bool,
}

/// IAM in memory; clones share state.
#[derive(Clone, Default)]
pub struct FakeIam(Arc<Mutex<IamState>>);

/// IAM with one user, bound to [`ARN`], whose console password is [`OLD_PASSWORD`].
pub fn bound_user(name: &str) -> FakeIam {
    let iam = FakeIam::default();
    iam.add_user(name, Some(ARN), Some(OLD_PASSWORD));
    iam
}

impl FakeIam {
    pub fn add_user(&self, name: &str, bound_to: Option<&str>, password: Option<&str>) {
        let mut state = lock(&self.0);
        let tags = bound_to
            .map(|arn| ("password-rotation:secret-arn".to_owned(), arn.to_owned()))
            .into_iter()
            .collect();
        state.users.insert(
            name.into(),
            IamUser {
                name: name.into(),
                tags,
            },
        );
        if let Some(password) = password {
            state.passwords.insert(name.into(), vec![password.into()]);
            state.reset_required.insert(name.into(), false);
        }
    }

    pub fn set_policy(&self, policy: Option<PasswordPolicy>) {
        lock(&self.0).policy = policy;
    }

    /// The next `UpdateLoginProfile` calls fail with these errors, in order.
    pub fn fail_updates(&self, errors: Vec<RotationError>) {
        lock(&self.0).update_failures = errors;
    }

    /// The next `reads` `GetLoginProfile` calls do not see the profile yet.
    pub fn hide_profile_reads(&self, reads: usize) {
        lock(&self.0).hidden_profile_reads = reads;
    }

    /// The next `reads` `GetLoginProfile` calls report the reset flag before the last write.
    pub fn stale_flag_reads(&self, reads: usize) {
        lock(&self.0).stale_flag_reads = reads;
    }

    /// `CreateLoginProfile` applies, then answers `EntityAlreadyExists` (a lost response).
    pub fn lose_create_response(&self) {
        lock(&self.0).lose_create_response = true;
    }

    /// An access key of `user` (its secret half is not checked).
    pub fn add_key(&self, access_key_id: &str, user: &str) {
        lock(&self.0).keys.insert(access_key_id.into(), user.into());
    }

    /// Every `ChangePassword` is denied, as for a user without iam:ChangePassword.
    pub fn deny_change_password(&self) {
        lock(&self.0).change_denied = true;
    }

    pub fn set_reset_required(&self, user: &str, reset: bool) {
        lock(&self.0).reset_required.insert(user.into(), reset);
    }

    pub fn password(&self, user: &str) -> Option<String> {
        lock(&self.0)
            .passwords
            .get(user)
            .and_then(|history| history.last().cloned())
    }

    pub fn reset_required(&self, user: &str) -> Option<bool> {
        lock(&self.0).reset_required.get(user).copied()
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.0).calls.clone()
    }

    pub fn writes(&self) -> usize {
        self.calls()
            .iter()
            .filter(|call| {
                matches!(
                    call,
                    Call::UpdateLoginProfile | Call::CreateLoginProfile | Call::ChangePassword
                )
            })
            .count()
    }

    fn record(&self, call: Call) -> MutexGuard<'_, IamState> {
        let mut state = lock(&self.0);
        state.calls.push(call);
        state
    }

    /// IAM's checks on a new password: the policy, and its reuse prevention.
    fn admit(state: &IamState, user: &str, password: &str) -> Result<()> {
        let policy = state
            .policy
            .clone()
            .unwrap_or_else(PasswordPolicy::iam_default);
        let history = state.passwords.get(user).cloned().unwrap_or_default();
        let recent = history.iter().rev().take(policy.reuse_prevention);
        if policy.check(password).is_err() || recent.into_iter().any(|old| old == password) {
            return Err(RotationError::PasswordPolicyViolation {
                user: user.into(),
                detail: String::new(),
            });
        }
        Ok(())
    }
}

impl LoginProfiles for FakeIam {
    async fn get_user(&self, user: &str) -> Result<IamUser> {
        let state = self.record(Call::GetUser);
        state
            .users
            .get(user)
            .cloned()
            .ok_or_else(|| RotationError::UserNotFound { user: user.into() })
    }

    async fn get_login_profile(&self, user: &str) -> Result<Option<LoginProfile>> {
        let mut state = self.record(Call::GetLoginProfile);
        if state.hidden_profile_reads > 0 {
            state.hidden_profile_reads -= 1;
            return Ok(None);
        }
        let stale = state.stale_flag_reads > 0;
        state.stale_flag_reads = state.stale_flag_reads.saturating_sub(1);
        Ok(state
            .reset_required
            .get(user)
            .map(|&password_reset_required| LoginProfile {
                password_reset_required: password_reset_required != stale,
            }))
    }

    async fn update_login_profile(
        &self,
        user: &str,
        password: Option<&SecretString>,
        password_reset_required: bool,
    ) -> Result<()> {
        let mut state = self.record(Call::UpdateLoginProfile);
        if !state.update_failures.is_empty() {
            return Err(state.update_failures.remove(0));
        }
        if !state.passwords.contains_key(user) {
            return Err(RotationError::LoginProfileMissing { user: user.into() });
        }
        if let Some(password) = password {
            Self::admit(&state, user, password.expose_secret())?;
            state
                .passwords
                .entry(user.into())
                .or_default()
                .push(password.expose_secret().to_owned());
        }
        state
            .reset_required
            .insert(user.into(), password_reset_required);
        Ok(())
    }

    async fn create_login_profile(
        &self,
        user: &str,
        password: &SecretString,
        password_reset_required: bool,
    ) -> Result<CreateOutcome> {
        let mut state = self.record(Call::CreateLoginProfile);
        if state.passwords.contains_key(user) {
            return Ok(CreateOutcome::AlreadyExists);
        }
        Self::admit(&state, user, password.expose_secret())?;
        state
            .passwords
            .insert(user.into(), vec![password.expose_secret().to_owned()]);
        state
            .reset_required
            .insert(user.into(), password_reset_required);
        if state.lose_create_response {
            return Ok(CreateOutcome::AlreadyExists);
        }
        Ok(CreateOutcome::Created)
    }

    async fn password_policy(&self) -> Result<Option<PasswordPolicy>> {
        Ok(self.record(Call::GetPolicy).policy.clone())
    }
}

impl SelfService for FakeIam {
    async fn whoami(&self, key: &AccessKey) -> Result<IamUser> {
        let state = self.record(Call::WhoAmI);
        let owner = state
            .keys
            .get(key.access_key_id.expose_secret())
            .cloned()
            .ok_or_else(|| RotationError::Aws {
                service: "iam",
                operation: "GetUser",
                code: "InvalidClientTokenId".into(),
                message: "The security token included in the request is invalid.".into(),
            })?;
        Ok(state.users.get(&owner).cloned().unwrap_or(IamUser {
            name: owner,
            tags: HashMap::new(),
        }))
    }

    async fn change_password(
        &self,
        key: &AccessKey,
        user: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<()> {
        let mut state = self.record(Call::ChangePassword);
        let Some(owner) = state.keys.get(key.access_key_id.expose_secret()).cloned() else {
            return Err(RotationError::InvalidUserType { user: user.into() });
        };
        if state.change_denied {
            return Err(RotationError::ChangePasswordNotAllowed {
                user: user.into(),
                message: "not authorized to perform: iam:ChangePassword".into(),
            });
        }
        let Some(current) = state.passwords.get(&owner).and_then(|h| h.last().cloned()) else {
            return Err(RotationError::LoginProfileMissing { user: user.into() });
        };
        if current != old.expose_secret() {
            return Err(RotationError::OldPasswordIncorrect { user: user.into() });
        }
        Self::admit(&state, &owner, new.expose_secret())?;
        state
            .passwords
            .entry(owner.clone())
            .or_default()
            .push(new.expose_secret().to_owned());
        state.reset_required.insert(owner, false);
        Ok(())
    }
}

/// A rotator over the fakes.
pub fn rotation(
    store: FakeStore,
    iam: FakeIam,
    settings: RotationSettings,
) -> Rotator<FakeStore, FakeIam> {
    Rotator::new(store, iam, settings)
}

/// A secret ARN of 257 characters: one more than an IAM tag value holds.
pub fn long_arn() -> String {
    let prefix = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";
    let name = "n".repeat(257 - prefix.len() - 7);
    format!("{prefix}{name}-AbCdEf")
}

/// An event for `step` of the rotation of [`ARN`] to [`TOKEN`].
pub fn event(step: &str) -> RotationEvent {
    RotationEvent::from_value(&serde_json::json!({
        "Step": step, "SecretId": ARN, "ClientRequestToken": TOKEN, "RotationToken": ROTATION_TOKEN
    }))
    .expect("valid event")
}
