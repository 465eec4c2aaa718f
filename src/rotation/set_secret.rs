//! setSecret: apply the pending password to the IAM user named by the secret, and
//! record IAM's acceptance on the version (the `IAM_APPLIED` staging label).

use secrecy::{ExposeSecret, SecretString};

use super::self_service::Held;
use super::{Checked, Outcome, Rotator, StepReport};
use crate::binding::check_binding;
use crate::error::{Result, RotationError};
use crate::event::RotationEvent;
use crate::ports::{
    CreateOutcome, LoginProfiles, SecretMetadata, SecretStore, SelfService, IAM_APPLIED,
};
use crate::secret::{SecretValue, CREDENTIALS_KEY};

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    pub(super) async fn set_secret(&self, event: &RotationEvent) -> Result<StepReport> {
        let metadata = match self.check_secret(event).await? {
            Checked::AlreadyCurrent(_) => return Ok(Outcome::AlreadyCurrent.into()),
            Checked::Pending(metadata) => metadata,
        };
        // IAM accepted this version's password already (an earlier attempt, or a
        // replay): nothing to write, whatever the password policy says now.
        if metadata.has_stage(&event.token, IAM_APPLIED) {
            return Ok(Outcome::AlreadyApplied.into());
        }
        self.check_binding_fits(&metadata)?;
        let (pending, password) = self.pending_value(&metadata, &event.token).await?;
        // Never touch a user the current version does not name.
        let current = self.current_of(&metadata, &event.token, &pending).await?;
        // The one seam between the two ways to apply a password.
        let outcome = match strategy(&metadata, &event.token, &pending)? {
            Strategy::UpdateLoginProfile => {
                let user = self.iam.get_user(pending.username()).await?;
                if self.settings.require_binding_tag {
                    check_binding(&user, &metadata.arn)?;
                }
                self.apply(&user.name, &password).await?
            }
            Strategy::ChangePassword(credentials) => {
                self.change_own_password(&metadata, &current, &password, &credentials)
                    .await?
            }
        };
        self.record_applied(&metadata, &event.token).await?;
        Ok(outcome.into())
    }

    /// The self-service strategy: `ChangePassword(current, pending)` with the user's key.
    async fn change_own_password(
        &self,
        metadata: &SecretMetadata,
        current: &SecretValue,
        password: &SecretString,
        credentials: &str,
    ) -> Result<Outcome> {
        let user = current.username();
        let (key, old) = self.user_key(metadata, current, credentials).await?;
        match self.iam.change_password(&key, user, old, password).await {
            Ok(()) => Ok(Outcome::Applied),
            // The old password no longer works: an earlier attempt may have changed it
            // to the pending one and stopped before recording it. Ask IAM, writing nothing.
            Err(
                refused @ (RotationError::OldPasswordIncorrect { .. }
                | RotationError::ChangePasswordNotAllowed { .. }),
            ) => match self.probe(&key, user, password).await {
                Ok(Held::Yes) => {
                    tracing::info!(
                        user,
                        "IAM already holds the pending password: applied before"
                    );
                    Ok(Outcome::AlreadyApplied)
                }
                Ok(Held::No) => Err(RotationError::OldPasswordIncorrect { user: user.into() }),
                Err(_) => Err(refused),
            },
            Err(other) => Err(other),
        }
    }

    /// Sets the password: `UpdateLoginProfile`, or `CreateLoginProfile` for a user
    /// without a console password when `CREATE_LOGIN_PROFILE=true`.
    async fn apply(&self, user: &str, password: &SecretString) -> Result<Outcome> {
        match self.update(user, password).await {
            Err(RotationError::LoginProfileMissing { .. })
                if self.settings.create_login_profile =>
            {
                let reset = self.settings.password_reset_required;
                match self.iam.create_login_profile(user, password, reset).await? {
                    CreateOutcome::Created => Ok(Outcome::ProfileCreated),
                    // A racing attempt created it, or IAM created it for this call and
                    // the SDK's retry of a lost response found it: set the password
                    // (a reuse refusal then means it is already this one).
                    CreateOutcome::AlreadyExists => self.update(user, password).await,
                }
            }
            other => other,
        }
    }

    /// `UpdateLoginProfile`, with a refusal under reuse prevention taken for what it is.
    async fn update(&self, user: &str, password: &SecretString) -> Result<Outcome> {
        let reset = self.settings.password_reset_required;
        match self
            .iam
            .update_login_profile(user, Some(password), reset)
            .await
        {
            Ok(()) => Ok(Outcome::Applied),
            Err(RotationError::PasswordPolicyViolation { .. }) => {
                self.refused_as_reuse(user, password).await
            }
            Err(other) => Err(other),
        }
    }

    /// IAM refused the pending password, and no `IAM_APPLIED` label says it was
    /// accepted before. If the account prevents reuse and the password meets every
    /// other rule, IAM refused it because the user already has it: an earlier attempt
    /// applied it and stopped before recording it (a crash, or a response lost and
    /// retried by the SDK within this very call).
    async fn refused_as_reuse(&self, user: &str, password: &SecretString) -> Result<Outcome> {
        let policy = self.policy().await?;
        let refused = |detail: String| RotationError::PasswordPolicyViolation {
            user: user.into(),
            detail,
        };
        if let Err(reason) = policy.check(password.expose_secret()) {
            return Err(refused(format!(
                ": the pending password no longer meets the policy ({reason}), which changed since createSecret generated it; IAM still holds the password it held before this rotation, unless an earlier attempt applied this one and stopped before recording it"
            )));
        }
        if policy.reuse_prevention == 0 {
            return Err(refused(String::new()));
        }
        // The earlier attempt may have been cut off before the reset flag was set.
        let reset = self.settings.password_reset_required;
        let profile = self.iam.get_login_profile(user).await?;
        if profile.is_some_and(|profile| profile.password_reset_required != reset) {
            self.iam.update_login_profile(user, None, reset).await?;
        }
        tracing::info!(
            user,
            "IAM refused the pending password as a reuse: it is already applied"
        );
        Ok(Outcome::AlreadyApplied)
    }

    /// Moves the `IAM_APPLIED` label to the token: IAM holds its password now.
    async fn record_applied(&self, metadata: &SecretMetadata, token: &str) -> Result<()> {
        let holder = metadata.version_with(IAM_APPLIED);
        let moved = self
            .store
            .update_stage(&metadata.arn, IAM_APPLIED, Some(token), holder)
            .await;
        match moved {
            Ok(()) => Ok(()),
            // A concurrent attempt of the same rotation may have moved it first.
            Err(error) => {
                let now = self.store.describe(&metadata.arn).await?;
                if now.has_stage(token, IAM_APPLIED) {
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// How the pending password reaches IAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Strategy {
    /// `UpdateLoginProfile` with the function's own role (the default).
    UpdateLoginProfile,
    /// The user's own `ChangePassword`, with the key in this credentials secret.
    ChangePassword(String),
}

/// The strategy the pending value asks for (`changePasswordCredentials`).
pub(super) fn strategy(
    metadata: &SecretMetadata,
    version: &str,
    value: &SecretValue,
) -> Result<Strategy> {
    match value.other_string(CREDENTIALS_KEY) {
        Ok(Some(credentials)) => Ok(Strategy::ChangePassword(credentials)),
        Ok(None) => Ok(Strategy::UpdateLoginProfile),
        Err(reason) => Err(RotationError::InvalidSecretValue {
            secret: metadata.arn.clone(),
            version: version.into(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::error::RotationError;
    use crate::password::{CharClass, PasswordPolicy};
    use crate::rotation::fakes::{
        bound_user, event, long_arn, rotation, FakeIam, FakeStore, ARN, CURRENT, OLD_PASSWORD,
        TOKEN,
    };
    use crate::rotation::RotationSettings;
    use serde_json::json;

    const NEW_PASSWORD: &str = "New-pass-2-abcdefghij";

    fn pending_store() -> FakeStore {
        let store = FakeStore::rotating(json!({"username": "alice", "password": OLD_PASSWORD}));
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": NEW_PASSWORD}),
        );
        store
    }

    fn reuse_policy() -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: 8,
            required_classes: [CharClass::Uppercase, CharClass::Number]
                .into_iter()
                .collect(),
            minimum_distinct_classes: 0,
            reuse_prevention: 3,
            max_password_age_days: None,
            hard_expiry: false,
        }
    }

    #[tokio::test]
    async fn set_applies_the_pending_password_to_the_bound_user() {
        let iam = bound_user("alice");
        let rotator = rotation(pending_store(), iam.clone(), RotationSettings::default());
        assert_eq!(
            rotator.set_secret(&event("setSecret")).await.expect("ok"),
            Outcome::Applied
        );
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
        assert_eq!(iam.reset_required("alice"), Some(false));
    }

    #[tokio::test]
    async fn set_passes_the_configured_reset_flag() {
        let iam = bound_user("alice");
        let config = RotationSettings {
            password_reset_required: true,
            ..RotationSettings::default()
        };
        rotation(pending_store(), iam.clone(), config)
            .set_secret(&event("setSecret"))
            .await
            .expect("ok");
        assert_eq!(iam.reset_required("alice"), Some(true));
    }

    #[tokio::test]
    async fn a_retried_set_succeeds_when_reuse_prevention_refuses_the_same_password() {
        let iam = bound_user("alice");
        iam.set_policy(Some(reuse_policy()));
        let store = pending_store();
        rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("first");
        let retry = rotation(store, iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await;
        assert_eq!(retry.expect("retry succeeds"), Outcome::AlreadyApplied);
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
    }

    #[tokio::test]
    async fn a_retry_after_a_crash_sets_the_reset_flag_the_first_attempt_missed() {
        let iam = bound_user("alice");
        iam.set_policy(Some(reuse_policy()));
        let store = pending_store();
        rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("first");
        // The first attempt died before it recorded IAM's acceptance.
        store.set_stages(TOKEN, &["AWSPENDING"]);
        let config = RotationSettings {
            password_reset_required: true,
            ..RotationSettings::default()
        };
        rotation(store, iam.clone(), config)
            .set_secret(&event("setSecret"))
            .await
            .expect("retry");
        assert_eq!(iam.reset_required("alice"), Some(true));
    }

    #[tokio::test]
    async fn set_records_iam_acceptance_by_moving_the_iam_applied_label_to_the_token() {
        let store = pending_store();
        store.set_stages(CURRENT, &["AWSCURRENT", "IAM_APPLIED"]);
        rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        )
        .set_secret(&event("setSecret"))
        .await
        .expect("ok");
        assert_eq!(
            store.stages(TOKEN),
            vec!["AWSPENDING".to_owned(), "IAM_APPLIED".to_owned()]
        );
        assert_eq!(store.stages(CURRENT), vec!["AWSCURRENT".to_owned()]);
    }

    #[tokio::test]
    async fn a_set_replayed_after_iam_accepted_writes_nothing_whatever_the_policy_says_now() {
        let iam = bound_user("alice");
        iam.set_policy(Some(reuse_policy()));
        let store = pending_store();
        rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("first");
        // A CIS roll-out tightens the policy before the retry.
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 64,
            ..reuse_policy()
        }));
        let (iam_writes, store_writes) = (iam.writes(), store.writes());
        let replay = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("IAM accepted it: the step is done");
        assert_eq!(replay, Outcome::AlreadyApplied);
        assert_eq!((iam.writes(), store.writes()), (iam_writes, store_writes));
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
    }

    #[tokio::test]
    async fn a_retry_refused_under_a_policy_tightened_since_create_names_the_rule_and_the_way_out()
    {
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 64,
            ..reuse_policy()
        }));
        let error = rotation(pending_store(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "PasswordPolicyViolation");
        let message = error.to_string();
        assert!(
            message.contains("shorter than 64") && message.contains("changed since createSecret"),
            "{message}"
        );
        assert!(!message.contains(NEW_PASSWORD));
        assert_eq!(iam.password("alice").as_deref(), Some(OLD_PASSWORD));
    }

    #[tokio::test]
    async fn a_lost_create_login_profile_response_converges_in_the_same_attempt() {
        for reuse_prevention in [0, 3] {
            let iam = FakeIam::default();
            iam.add_user("alice", Some(ARN), None);
            iam.set_policy(Some(PasswordPolicy {
                reuse_prevention,
                ..reuse_policy()
            }));
            iam.lose_create_response();
            let store = pending_store();
            let config = RotationSettings {
                create_login_profile: true,
                ..RotationSettings::default()
            };
            let outcome = rotation(store.clone(), iam.clone(), config)
                .set_secret(&event("setSecret"))
                .await
                .expect("converges");
            let expected = if reuse_prevention == 0 {
                Outcome::Applied
            } else {
                Outcome::AlreadyApplied
            };
            assert_eq!(outcome, expected);
            assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
            assert!(store.stages(TOKEN).contains(&"IAM_APPLIED".to_owned()));
        }
    }

    #[tokio::test]
    async fn a_secret_arn_too_long_for_the_binding_tag_is_refused_before_any_iam_call() {
        let store = pending_store();
        store.set_arn(&long_arn());
        let iam = bound_user("alice");
        let error = rotation(store, iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "SecretArnTooLong");
        assert!(
            error.to_string().contains("257 characters")
                && error.to_string().contains("at most 256")
        );
        assert!(iam.calls().is_empty());
    }

    #[tokio::test]
    async fn a_real_policy_violation_is_reported() {
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 64,
            ..reuse_policy()
        }));
        let error = rotation(pending_store(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "PasswordPolicyViolation");
        assert_eq!(iam.password("alice").as_deref(), Some(OLD_PASSWORD));
    }

    #[tokio::test]
    async fn a_violation_without_reuse_prevention_is_not_taken_for_a_retry() {
        let iam = bound_user("alice");
        iam.fail_updates(vec![RotationError::PasswordPolicyViolation {
            user: "alice".into(),
            detail: String::new(),
        }]);
        let error = rotation(pending_store(), iam, RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "PasswordPolicyViolation");
    }

    #[tokio::test]
    async fn an_unbound_user_is_refused_before_any_iam_write() {
        let iam = FakeIam::default();
        iam.add_user("alice", None, Some(OLD_PASSWORD));
        let error = rotation(pending_store(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "BindingTagMissing");
        assert!(error.to_string().contains("alice") && error.to_string().contains(ARN));
        assert_eq!(iam.writes(), 0);
    }

    #[tokio::test]
    async fn a_user_bound_to_another_secret_is_refused_before_any_iam_write() {
        let iam = FakeIam::default();
        iam.add_user(
            "alice",
            Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ"),
            Some(OLD_PASSWORD),
        );
        let error = rotation(pending_store(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "BindingTagMismatch");
        assert_eq!(iam.writes(), 0);
    }

    #[tokio::test]
    async fn the_binding_check_can_be_turned_off() {
        let iam = FakeIam::default();
        iam.add_user("alice", None, Some(OLD_PASSWORD));
        let config = RotationSettings {
            require_binding_tag: false,
            ..RotationSettings::default()
        };
        rotation(pending_store(), iam.clone(), config)
            .set_secret(&event("setSecret"))
            .await
            .expect("ok");
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
    }

    #[tokio::test]
    async fn a_pending_value_naming_another_user_is_refused() {
        let store = pending_store();
        store.set_value(
            TOKEN,
            json!({"username": "mallory", "password": NEW_PASSWORD}),
        );
        let iam = bound_user("mallory");
        let error = rotation(store, iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "UserMismatch");
        assert_eq!(iam.writes(), 0);
    }

    #[tokio::test]
    async fn a_missing_login_profile_is_an_error_unless_creation_is_allowed() {
        let iam = FakeIam::default();
        iam.add_user("alice", Some(ARN), None);
        let error = rotation(pending_store(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "LoginProfileMissing");
        let config = RotationSettings {
            create_login_profile: true,
            ..RotationSettings::default()
        };
        let outcome = rotation(pending_store(), iam.clone(), config)
            .set_secret(&event("setSecret"))
            .await
            .expect("ok");
        assert_eq!(outcome, Outcome::ProfileCreated);
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
    }

    #[tokio::test]
    async fn an_unknown_user_is_reported_by_name() {
        let error = rotation(
            pending_store(),
            FakeIam::default(),
            RotationSettings::default(),
        )
        .set_secret(&event("setSecret"))
        .await
        .expect_err("refused");
        assert_eq!(error.error_type(), "UserNotFound");
        assert!(error.to_string().contains("alice"));
    }

    #[tokio::test]
    async fn set_before_create_reports_the_missing_pending_value() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": OLD_PASSWORD}));
        let error = rotation(store, bound_user("alice"), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "PendingValueMissing");
    }

    #[tokio::test]
    async fn iam_errors_after_the_sdk_retries_are_passed_on() {
        for failure in [
            RotationError::EntityTemporarilyUnmodifiable {
                user: "alice".into(),
            },
            RotationError::LimitExceeded {
                user: "alice".into(),
            },
        ] {
            let expected = failure.error_type();
            let iam = bound_user("alice");
            iam.fail_updates(vec![failure]);
            let error = rotation(pending_store(), iam.clone(), RotationSettings::default())
                .set_secret(&event("setSecret"))
                .await
                .expect_err("fails");
            assert_eq!(error.error_type(), expected);
            assert_eq!(iam.password("alice").as_deref(), Some(OLD_PASSWORD));
        }
    }

    #[tokio::test]
    async fn set_for_a_version_not_pending_is_refused_and_for_a_current_one_does_nothing() {
        let store = pending_store();
        store.set_stages(TOKEN, &[]);
        let error = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        )
        .set_secret(&event("setSecret"))
        .await
        .expect_err("refused");
        assert_eq!(error.error_type(), "VersionNotPending");
        store.set_stages(TOKEN, &["AWSCURRENT"]);
        store.set_stages(CURRENT, &["AWSPREVIOUS"]);
        let iam = bound_user("alice");
        let outcome = rotation(store, iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("ok");
        assert_eq!(outcome, Outcome::AlreadyCurrent);
        assert!(iam.calls().is_empty());
    }
}
