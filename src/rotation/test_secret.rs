//! testSecret: check the pending version before anything is promoted.
//!
//! IAM has no API that checks a console password, so the test checks everything
//! around it: the pending value is sound and names the current user, the user's
//! login profile exists with the configured reset flag, and the password meets
//! the live account policy.

use secrecy::ExposeSecret;

use super::{Checked, Outcome, Rotator};
use crate::error::{Result, RotationError};
use crate::event::RotationEvent;
use crate::ports::{LoginProfiles, SecretStore};

impl<S: SecretStore, I: LoginProfiles> Rotator<S, I> {
    pub(super) async fn test_secret(&self, event: &RotationEvent) -> Result<Outcome> {
        let metadata = match self.check_secret(event).await? {
            Checked::AlreadyCurrent(_) => return Ok(Outcome::AlreadyCurrent),
            Checked::Pending(metadata) => metadata,
        };
        let (pending, password) = self.pending_value(&metadata, &event.token).await?;
        let current = self.current_value(&metadata).await?;
        let user = pending.username();
        if user != current.username() {
            return Err(RotationError::UserMismatch {
                secret: metadata.arn.clone(),
                token: event.token.clone(),
                pending_user: user.into(),
                current_user: current.username().into(),
            });
        }
        let profile = self
            .iam
            .get_login_profile(user)
            .await?
            .ok_or_else(|| RotationError::LoginProfileMissing { user: user.into() })?;
        let expected = self.config.password_reset_required;
        if profile.password_reset_required != expected {
            return Err(RotationError::ResetRequiredMismatch {
                user: user.into(),
                actual: profile.password_reset_required,
                expected,
            });
        }
        let policy = self.policy().await?;
        policy.check(password.expose_secret()).map_err(|reason| {
            RotationError::PendingPasswordRejected {
                secret: metadata.arn.clone(),
                token: event.token.clone(),
                reason,
            }
        })?;
        Ok(Outcome::Tested)
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::config::Config;
    use crate::password::PasswordPolicy;
    use crate::rotation::fakes::{
        bound_user, event, rotation, FakeIam, FakeStore, OLD_PASSWORD, TOKEN,
    };
    use serde_json::json;

    const NEW_PASSWORD: &str = "New-pass-2-abcdefghij";

    fn applied() -> (FakeStore, FakeIam) {
        let store = FakeStore::rotating(json!({"username": "alice", "password": OLD_PASSWORD}));
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": NEW_PASSWORD}),
        );
        (store, bound_user("alice"))
    }

    #[tokio::test]
    async fn a_sound_pending_version_passes_and_nothing_is_written() {
        let (store, iam) = applied();
        let outcome = rotation(store.clone(), iam.clone(), Config::default())
            .test_secret(&event("testSecret"))
            .await;
        assert_eq!(outcome.expect("ok"), Outcome::Tested);
        assert_eq!(store.writes() + iam.writes(), 0);
    }

    #[tokio::test]
    async fn the_test_run_with_pending_equal_to_current_passes() {
        let (store, iam) = applied();
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": OLD_PASSWORD}),
        );
        rotation(store, iam, Config::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("ok");
    }

    #[tokio::test]
    async fn a_pending_password_below_the_live_policy_fails_without_echoing_it() {
        let (store, iam) = applied();
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 30,
            ..PasswordPolicy::iam_default()
        }));
        let error = rotation(store, iam, Config::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "PendingPasswordRejected");
        assert!(error.to_string().contains("shorter than 30"));
        assert!(!error.to_string().contains(NEW_PASSWORD));
    }

    #[tokio::test]
    async fn a_reset_flag_other_than_configured_fails() {
        let (store, iam) = applied();
        let config = Config {
            password_reset_required: true,
            ..Config::default()
        };
        let error = rotation(store, iam, config)
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "ResetRequiredMismatch");
    }

    #[tokio::test]
    async fn a_user_without_login_profile_fails() {
        let (store, _) = applied();
        let iam = FakeIam::default();
        iam.add_user("alice", None, None);
        let error = rotation(store, iam, Config::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "LoginProfileMissing");
    }

    #[tokio::test]
    async fn a_pending_value_without_password_or_for_another_user_fails() {
        let (store, iam) = applied();
        store.set_value(TOKEN, json!({"username": "alice"}));
        let error = rotation(store.clone(), iam.clone(), Config::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "InvalidSecretValue");
        store.set_value(TOKEN, json!({"username": "bob", "password": NEW_PASSWORD}));
        let error = rotation(store, iam, Config::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "UserMismatch");
    }

    #[tokio::test]
    async fn test_on_a_secret_with_rotation_disabled_fails() {
        let (store, iam) = applied();
        store.set_rotation_enabled(false);
        let error = rotation(store, iam, Config::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "RotationNotEnabled");
    }
}
