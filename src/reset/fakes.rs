//! In-memory fakes of the reset ports, recording every call.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use secrecy::SecretString;

use super::ports::{
    OneTimeSchedule, RotateOutcome, RotationControl, ScheduleOutcome, Schedules, Users, VersionInfo,
};
use crate::binding::BINDING_TAG;
use crate::error::{Result, RotationError};
use crate::ports::{IamUser, RotationRules, SecretMetadata};

pub const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:iam-password-rotation";
pub const SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:console/alice-AbCdEf";
pub const OWN_ROLE: &str = "arn:aws:iam::123456789012:role/rotation-role";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
pub struct State {
    pub users: HashMap<String, IamUser>,
    pub secrets: HashMap<String, Secret>,
    pub schedules: HashMap<String, OneTimeSchedule>,
    pub calls: Vec<String>,
    /// `AWSCURRENT` values that replace the generated ones (or other secrets' values).
    pub raw_values: HashMap<String, String>,
    /// Secrets the role may not describe (the template's condition: another rotation function).
    pub denied: Vec<String>,
    /// The fake clock; `None`: the system's.
    pub now: Option<SystemTime>,
    /// Users without a login profile.
    pub no_profile: HashSet<String>,
    /// Creation times of the versions each secret's finished rotations promoted.
    pub finished: HashMap<String, Vec<SystemTime>>,
}

#[derive(Clone)]
pub struct Secret {
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    pub current_user: String,
    pub versions: Vec<VersionInfo>,
}

/// IAM, Secrets Manager and Scheduler in memory; clones share state.
#[derive(Clone, Default)]
pub struct FakeAws(pub Arc<Mutex<State>>);

impl FakeAws {
    /// alice, bound to [`SECRET`], which rotates with [`FUNCTION`] and names her.
    pub fn enrolled() -> Self {
        let aws = Self::default();
        aws.add_user("alice", Some(SECRET));
        aws.add_secret(SECRET, "alice", Some(FUNCTION));
        aws
    }

    pub fn add_user(&self, name: &str, bound_to: Option<&str>) {
        let tags = bound_to
            .map(|arn| (BINDING_TAG.to_owned(), arn.to_owned()))
            .into_iter()
            .collect();
        lock(&self.0).users.insert(
            name.into(),
            IamUser {
                name: name.into(),
                tags,
            },
        );
    }

    pub fn add_secret(&self, arn: &str, user: &str, function: Option<&str>) {
        lock(&self.0).secrets.insert(
            arn.into(),
            Secret {
                rotation_enabled: true,
                rotation_lambda_arn: function.map(str::to_owned),
                current_user: user.into(),
                versions: vec![VersionInfo {
                    id: "v-current".into(),
                    stages: vec!["AWSCURRENT".into(), "IAM_APPLIED".into()],
                    created: Some(SystemTime::UNIX_EPOCH),
                }],
            },
        );
    }

    pub fn with_secret(&self, arn: &str, change: impl FnOnce(&mut Secret)) {
        if let Some(secret) = lock(&self.0).secrets.get_mut(arn) {
            change(secret);
        }
    }

    /// A rotation in progress: AWSPENDING on a version created at `created`.
    pub fn rotation_in_progress(&self, arn: &str, created: SystemTime) {
        self.with_secret(arn, |secret| {
            secret.versions.push(VersionInfo {
                id: "v-pending".into(),
                stages: vec!["AWSPENDING".into()],
                created: Some(created),
            })
        });
    }

    /// The `AWSCURRENT` value of `id`, exactly.
    pub fn set_raw_value(&self, id: &str, value: serde_json::Value) {
        lock(&self.0)
            .raw_values
            .insert(id.into(), value.to_string());
    }

    /// The clock the fakes and a resetter built with [`FakeAws::clock`] read.
    pub fn now(&self) -> SystemTime {
        lock(&self.0).now.unwrap_or_else(SystemTime::now)
    }

    /// Sets the fake clock.
    pub fn set_now(&self, now: SystemTime) {
        lock(&self.0).now = Some(now);
    }

    /// A clock reading the fake one.
    pub fn clock(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let aws = self.clone();
        move || aws.now()
    }

    /// Removes or restores the user's login profile.
    pub fn set_profile(&self, user: &str, exists: bool) {
        let mut state = lock(&self.0);
        if exists {
            state.no_profile.remove(user);
        } else {
            state.no_profile.insert(user.into());
        }
    }

    /// Whether the user has a login profile.
    pub fn has_profile(&self, user: &str) -> bool {
        !lock(&self.0).no_profile.contains(user)
    }

    /// Creation times of the versions that finished a rotation (`AWSCURRENT` or
    /// `AWSPREVIOUS`, IAM-applied when promoted), the first version excluded.
    pub fn finished_rotations(&self, arn: &str) -> Vec<SystemTime> {
        lock(&self.0).finished.get(arn).cloned().unwrap_or_default()
    }

    /// `setSecret`: IAM accepted the pending password (`IAM_APPLIED` moves to it).
    pub fn apply_pending(&self, arn: &str) -> bool {
        let mut applied = false;
        self.with_secret(arn, |secret| {
            if let Some(index) = pending_index(secret) {
                for version in &mut secret.versions {
                    version.stages.retain(|s| s != "IAM_APPLIED");
                }
                secret.versions[index].stages.push("IAM_APPLIED".into());
                applied = true;
            }
        });
        applied
    }

    /// `finishSecret`: the pending version, IAM-applied, becomes `AWSCURRENT`.
    pub fn finish_pending(&self, arn: &str) -> Option<String> {
        let mut finished = None;
        self.with_secret(arn, |secret| {
            let Some(index) = pending_index(secret) else {
                return;
            };
            if !secret.versions[index]
                .stages
                .iter()
                .any(|s| s == "IAM_APPLIED")
            {
                return;
            }
            for version in &mut secret.versions {
                if version.stages.iter().any(|s| s == "AWSCURRENT") {
                    version.stages.retain(|s| s != "AWSCURRENT");
                    version.stages.push("AWSPREVIOUS".into());
                } else {
                    version.stages.retain(|s| s != "AWSPREVIOUS");
                }
            }
            let version = &mut secret.versions[index];
            version.stages.retain(|s| s != "AWSPENDING");
            version.stages.push("AWSCURRENT".into());
            finished = version.created;
        });
        if let Some(created) = finished {
            lock(&self.0)
                .finished
                .entry(arn.into())
                .or_default()
                .push(created);
        }
        finished.map(|_| arn.to_owned())
    }

    pub fn calls(&self) -> Vec<String> {
        lock(&self.0).calls.clone()
    }

    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                matches!(
                    c.as_str(),
                    "RotateSecret"
                        | "CreateSchedule"
                        | "UpdateSchedule"
                        | "DeleteSchedule"
                        | "UpdateSecretVersionStage"
                )
            })
            .collect()
    }

    pub fn schedules(&self) -> Vec<OneTimeSchedule> {
        lock(&self.0).schedules.values().cloned().collect()
    }

    fn record(&self, call: &str) -> MutexGuard<'_, State> {
        let mut state = lock(&self.0);
        state.calls.push(call.into());
        state
    }
}

/// The version of a rotation in progress: `AWSPENDING`, not `AWSCURRENT`.
fn pending_index(secret: &Secret) -> Option<usize> {
    secret.versions.iter().position(|v| {
        v.stages.iter().any(|s| s == "AWSPENDING") && !v.stages.iter().any(|s| s == "AWSCURRENT")
    })
}

impl Users for FakeAws {
    async fn has_login_profile(&self, user: &str) -> Result<bool> {
        let state = self.record("GetLoginProfile");
        Ok(!state.no_profile.contains(user))
    }

    async fn get_user(&self, user: &str) -> Result<IamUser> {
        let state = self.record("GetUser");
        state
            .users
            .get(user)
            .cloned()
            .ok_or_else(|| RotationError::UserNotFound { user: user.into() })
    }
}

impl RotationControl for FakeAws {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata> {
        let state = self.record("DescribeSecret");
        if state.denied.iter().any(|id| id == secret_id) {
            return Err(RotationError::Aws {
                service: "secretsmanager",
                operation: "DescribeSecret",
                code: "AccessDeniedException".into(),
                message: "not authorized".into(),
            });
        }
        let secret = state
            .secrets
            .get(secret_id)
            .ok_or_else(|| RotationError::SecretNotFound {
                secret: secret_id.into(),
            })?;
        Ok(SecretMetadata {
            arn: secret_id.into(),
            rotation_enabled: secret.rotation_enabled,
            versions: secret
                .versions
                .iter()
                .map(|v| (v.id.clone(), v.stages.clone()))
                .collect(),
            rotation_rules: RotationRules::default(),
            rotation_lambda_arn: secret.rotation_lambda_arn.clone(),
        })
    }

    async fn current_value(&self, secret_id: &str) -> Result<Option<SecretString>> {
        let state = self.record("GetSecretValue");
        if let Some(raw) = state.raw_values.get(secret_id) {
            return Ok(Some(SecretString::from(raw.as_str())));
        }
        Ok(state.secrets.get(secret_id).map(|secret| {
            SecretString::from(
                serde_json::json!({"username": secret.current_user, "password": "pw-1"})
                    .to_string(),
            )
        }))
    }

    async fn versions(&self, secret_id: &str) -> Result<Vec<VersionInfo>> {
        let state = self.record("ListSecretVersionIds");
        Ok(state
            .secrets
            .get(secret_id)
            .map(|s| s.versions.clone())
            .unwrap_or_default())
    }

    async fn label(&self, secret_id: &str, label: &str, version: &str) -> Result<()> {
        let mut state = self.record("UpdateSecretVersionStage");
        if let Some(secret) = state.secrets.get_mut(secret_id) {
            for v in &mut secret.versions {
                v.stages.retain(|s| s != label);
                if v.id == version {
                    v.stages.push(label.into());
                }
            }
        }
        Ok(())
    }

    async fn rotate(&self, secret_id: &str, token: &str) -> Result<RotateOutcome> {
        let mut state = self.record("RotateSecret");
        let now = state.now.unwrap_or_else(SystemTime::now);
        let Some(secret) = state.secrets.get_mut(secret_id) else {
            return Err(RotationError::SecretNotFound {
                secret: secret_id.into(),
            });
        };
        if pending_index(secret).is_some() {
            return Ok(RotateOutcome::InProgress);
        }
        if secret.versions.iter().any(|v| v.id == token) {
            return Ok(RotateOutcome::AlreadyStarted);
        }
        secret.versions.push(VersionInfo {
            id: token.into(),
            stages: vec!["AWSPENDING".into()],
            created: Some(now),
        });
        Ok(RotateOutcome::Started(token.into()))
    }
}

impl Schedules for FakeAws {
    async fn get(&self, name: &str) -> Result<Option<OneTimeSchedule>> {
        Ok(self.record("GetSchedule").schedules.get(name).cloned())
    }

    async fn update(&self, schedule: &OneTimeSchedule) -> Result<()> {
        let mut state = self.record("UpdateSchedule");
        match state.schedules.get_mut(&schedule.name) {
            Some(existing) => {
                *existing = schedule.clone();
                Ok(())
            }
            None => Err(RotationError::Aws {
                service: "scheduler",
                operation: "UpdateSchedule",
                code: "ResourceNotFoundException".into(),
                message: "no such schedule".into(),
            }),
        }
    }

    async fn create(&self, schedule: &OneTimeSchedule) -> Result<ScheduleOutcome> {
        let mut state = self.record("CreateSchedule");
        if state.schedules.contains_key(&schedule.name) {
            return Ok(ScheduleOutcome::AlreadyExists);
        }
        state
            .schedules
            .insert(schedule.name.clone(), schedule.clone());
        Ok(ScheduleOutcome::Created)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.record("DeleteSchedule").schedules.remove(name);
        Ok(())
    }
}
