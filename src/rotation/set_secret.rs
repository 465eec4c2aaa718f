//! setSecret: apply the pending password to the IAM user named by the secret.

use secrecy::{ExposeSecret, SecretString};

use super::{Checked, Outcome, Rotator};
use crate::error::{Result, RotationError};
use crate::event::RotationEvent;
use crate::ports::{CreateOutcome, IamUser, LoginProfiles, SecretStore};

/// The tag that binds an IAM user to the one secret allowed to set its password.
pub const BINDING_TAG: &str = "password-rotation:secret-arn";

impl<S: SecretStore, I: LoginProfiles> Rotator<S, I> {
    pub(super) async fn set_secret(&self, event: &RotationEvent) -> Result<Outcome> {
        let metadata = match self.check_secret(event).await? {
            Checked::AlreadyCurrent(_) => return Ok(Outcome::AlreadyCurrent),
            Checked::Pending(metadata) => metadata,
        };
        let (pending, password) = self.pending_value(&metadata, &event.token).await?;
        // Never touch a user the current version does not name.
        let current = self.current_value(&metadata).await?;
        if pending.username() != current.username() {
            return Err(RotationError::UserMismatch {
                secret: metadata.arn.clone(),
                token: event.token.clone(),
                pending_user: pending.username().into(),
                current_user: current.username().into(),
            });
        }
        let user = self.iam.get_user(pending.username()).await?;
        if self.config.require_binding_tag {
            check_binding(&user, &metadata.arn)?;
        }
        self.apply(&user.name, &password).await
    }

    async fn apply(&self, user: &str, password: &SecretString) -> Result<Outcome> {
        let reset = self.config.password_reset_required;
        match self
            .iam
            .update_login_profile(user, Some(password), reset)
            .await
        {
            Ok(()) => Ok(Outcome::Applied),
            Err(RotationError::LoginProfileMissing { .. }) if self.config.create_login_profile => {
                match self.iam.create_login_profile(user, password, reset).await? {
                    CreateOutcome::Created => Ok(Outcome::ProfileCreated),
                    // Created by a racing attempt in between: update it after all.
                    CreateOutcome::AlreadyExists => {
                        self.iam
                            .update_login_profile(user, Some(password), reset)
                            .await?;
                        Ok(Outcome::Applied)
                    }
                }
            }
            Err(RotationError::PasswordPolicyViolation { .. }) => {
                self.refused_as_reuse(user, password).await
            }
            Err(other) => Err(other),
        }
    }

    /// IAM refused the pending password. If the account prevents reuse and the
    /// password meets every other rule, IAM refused it because the user already
    /// has it: an earlier attempt of this step applied it (or this is Secrets
    /// Manager's test run, where the pending password is the current one).
    async fn refused_as_reuse(&self, user: &str, password: &SecretString) -> Result<Outcome> {
        let refused = || RotationError::PasswordPolicyViolation { user: user.into() };
        let policy = self.policy().await?;
        if policy.reuse_prevention == 0 || policy.check(password.expose_secret()).is_err() {
            return Err(refused());
        }
        // The earlier attempt may have been cut off before the reset flag was set.
        let reset = self.config.password_reset_required;
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
}

fn check_binding(user: &IamUser, secret_arn: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::config::Config;
    use crate::error::RotationError;
    use crate::password::{CharClass, PasswordPolicy};
    use crate::rotation::fakes::{
        bound_user, event, rotation, FakeIam, FakeStore, ARN, CURRENT, OLD_PASSWORD, TOKEN,
    };
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
        }
    }

    #[tokio::test]
    async fn set_applies_the_pending_password_to_the_bound_user() {
        let iam = bound_user("alice");
        let rotator = rotation(pending_store(), iam.clone(), Config::default());
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
        let config = Config {
            password_reset_required: true,
            ..Config::default()
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
        rotation(store.clone(), iam.clone(), Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("first");
        let retry = rotation(store, iam.clone(), Config::default())
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
        rotation(store.clone(), iam.clone(), Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("first");
        let config = Config {
            password_reset_required: true,
            ..Config::default()
        };
        rotation(store, iam.clone(), config)
            .set_secret(&event("setSecret"))
            .await
            .expect("retry");
        assert_eq!(iam.reset_required("alice"), Some(true));
    }

    #[tokio::test]
    async fn a_real_policy_violation_is_reported() {
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 64,
            ..reuse_policy()
        }));
        let error = rotation(pending_store(), iam.clone(), Config::default())
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
        }]);
        let error = rotation(pending_store(), iam, Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "PasswordPolicyViolation");
    }

    #[tokio::test]
    async fn an_unbound_user_is_refused_before_any_iam_write() {
        let iam = FakeIam::default();
        iam.add_user("alice", None, Some(OLD_PASSWORD));
        let error = rotation(pending_store(), iam.clone(), Config::default())
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
        let error = rotation(pending_store(), iam.clone(), Config::default())
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
        let config = Config {
            require_binding_tag: false,
            ..Config::default()
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
        let error = rotation(store, iam.clone(), Config::default())
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
        let error = rotation(pending_store(), iam.clone(), Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "LoginProfileMissing");
        let config = Config {
            create_login_profile: true,
            ..Config::default()
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
        let error = rotation(pending_store(), FakeIam::default(), Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "UserNotFound");
        assert!(error.to_string().contains("alice"));
    }

    #[tokio::test]
    async fn set_before_create_reports_the_missing_pending_value() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": OLD_PASSWORD}));
        let error = rotation(store, bound_user("alice"), Config::default())
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
            let error = rotation(pending_store(), iam.clone(), Config::default())
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
        let error = rotation(store.clone(), bound_user("alice"), Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "VersionNotPending");
        store.set_stages(TOKEN, &["AWSCURRENT"]);
        store.set_stages(CURRENT, &["AWSPREVIOUS"]);
        let iam = bound_user("alice");
        let outcome = rotation(store, iam.clone(), Config::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("ok");
        assert_eq!(outcome, Outcome::AlreadyCurrent);
        assert!(iam.calls().is_empty());
    }
}
