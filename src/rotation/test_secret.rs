//! testSecret: check the pending version before anything is promoted.
//!
//! IAM has no API that checks a console password, and `GetLoginProfile` tells only
//! that a profile exists, its reset flag and its creation date (which IAM does not
//! move when the password changes). What IAM does say is whether it accepts a
//! password: `setSecret` records that answer on the version as the `IAM_APPLIED`
//! label. So testSecret checks one of two things:
//!
//! - **After `setSecret`** (the label is on the token): IAM accepted this version's
//!   password. The step then only looks at the login profile, with a short bounded
//!   wait for IAM's eventual consistency, and reports what differs as a warning. It
//!   never fails on the live password policy or the profile: IAM keeps a password it
//!   accepted, and failing here would leave IAM holding `AWSPENDING`'s password while
//!   readers of `AWSCURRENT` are locked out.
//! - **Secrets Manager's test run** (`AWSPENDING` holds `AWSCURRENT`'s value, as
//!   `rotate-secret --no-rotate-immediately` makes it): the setup a real rotation
//!   needs, read-only: the user exists, carries the binding tag, has a login profile
//!   (or may get one), and the generator can meet the account policy.
//!
//! Any other pending version was never applied: promoting it would lock the user
//! out, so the step fails.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::self_service::Held;
use super::set_secret::{strategy, Strategy};
use super::{Checked, Outcome, Rotator, StepReport, Warning};
use crate::binding::check_binding;
use crate::error::{Result, RotationError};
use crate::event::RotationEvent;
use crate::password::PasswordGenerator;
use crate::ports::{
    LoginProfile, LoginProfiles, SecretMetadata, SecretStore, SelfService, IAM_APPLIED,
};
use crate::secret::SecretValue;

/// Reads of `GetLoginProfile` while IAM's view catches up with `setSecret`'s write.
const PROFILE_READS: u32 = 5;
/// The wait before the second read; each later wait doubles (0.25 + 0.5 + 1 + 2 s).
const FIRST_WAIT: Duration = Duration::from_millis(250);

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    pub(super) async fn test_secret(&self, event: &RotationEvent) -> Result<StepReport> {
        let metadata = match self.check_secret(event).await? {
            Checked::AlreadyCurrent(_) => return Ok(Outcome::AlreadyCurrent.into()),
            Checked::Pending(metadata) => metadata,
        };
        let (pending, current) = self.pending_and_current(&metadata, &event.token).await?;
        let strategy = strategy(&metadata, &event.token, &pending)?;
        if metadata.has_stage(&event.token, IAM_APPLIED) {
            return match strategy {
                Strategy::UpdateLoginProfile => self.test_applied(pending.username()).await,
                Strategy::ChangePassword(credentials) => {
                    self.test_held(&metadata, &event.token, &pending, &credentials)
                        .await
                }
            };
        }
        let same_password = match (pending.password(), current.password()) {
            (Some(p), Some(c)) => p.expose_secret() == c.expose_secret(),
            (None, None) => true,
            _ => false,
        };
        if same_password {
            return match strategy {
                Strategy::UpdateLoginProfile => {
                    self.test_setup(&metadata, pending.username()).await
                }
                Strategy::ChangePassword(credentials) => {
                    self.test_self_service_setup(&metadata, &current, &credentials)
                        .await
                }
            };
        }
        Err(RotationError::NotApplied {
            secret: metadata.arn.clone(),
            token: event.token.clone(),
        })
    }

    /// Both values, parsed; they must name the same user.
    async fn pending_and_current(
        &self,
        metadata: &SecretMetadata,
        token: &str,
    ) -> Result<(SecretValue, SecretValue)> {
        let raw = self.read_version(metadata, token).await?.ok_or_else(|| {
            RotationError::PendingValueMissing {
                secret: metadata.arn.clone(),
                token: token.into(),
            }
        })?;
        let pending = super::parse_value(metadata, token, &raw)?;
        let current = self.current_of(metadata, token, &pending).await?;
        Ok((pending, current))
    }

    /// After IAM accepted the pending password: the login profile, with a bounded
    /// wait for IAM's eventual consistency; anything still off is a warning.
    async fn test_applied(&self, user: &str) -> Result<StepReport> {
        let expected = self.settings.password_reset_required;
        let mut wait = FIRST_WAIT;
        let mut profile = self.iam.get_login_profile(user).await?;
        for _ in 1..PROFILE_READS {
            if profile.is_some_and(|p| p.password_reset_required == expected) {
                break;
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
            profile = self.iam.get_login_profile(user).await?;
        }
        let warning = match profile {
            None => Some(Warning::LoginProfileNotVisible { user: user.into() }),
            Some(LoginProfile {
                password_reset_required: actual,
            }) if actual != expected => Some(Warning::ResetFlagDiffers {
                user: user.into(),
                actual,
                expected,
            }),
            Some(_) => None,
        };
        Ok(StepReport {
            outcome: Outcome::Tested,
            warnings: warning.into_iter().collect(),
        })
    }

    /// The self-service strategy after `setSecret`: IAM holds the pending password,
    /// checked with the probe, which writes nothing.
    async fn test_held(
        &self,
        metadata: &SecretMetadata,
        token: &str,
        pending: &SecretValue,
        credentials: &str,
    ) -> Result<StepReport> {
        let user = pending.username();
        let password = pending
            .password()
            .ok_or_else(|| RotationError::InvalidSecretValue {
                secret: metadata.arn.clone(),
                version: token.into(),
                reason: "it has no \"password\"".into(),
            })?;
        let key = self.access_key(metadata, credentials).await?;
        match self.probe(&key, user, password).await? {
            Held::Yes => Ok(Outcome::Tested.into()),
            Held::No => Err(RotationError::PendingNotHeld {
                secret: metadata.arn.clone(),
                token: token.into(),
                user: user.into(),
            }),
        }
    }

    /// The test run of the self-service strategy: the key is the user's, the user is
    /// bound, IAM holds the current password (the real rotation's `OldPassword`), and
    /// the generator can meet the policy. Read-only.
    async fn test_self_service_setup(
        &self,
        metadata: &SecretMetadata,
        current: &SecretValue,
        credentials: &str,
    ) -> Result<StepReport> {
        self.check_binding_fits(metadata)?;
        let user = current.username();
        let (key, old) = self.user_key(metadata, current, credentials).await?;
        if self.probe(&key, user, old).await? == Held::No {
            return Err(RotationError::OldPasswordIncorrect { user: user.into() });
        }
        let policy = self.policy().await?;
        PasswordGenerator::new(&self.settings.generator, &policy)?;
        Ok(StepReport {
            outcome: Outcome::SetupVerified,
            warnings: self.expiry_warning(&policy, metadata).into_iter().collect(),
        })
    }

    /// Secrets Manager's test run: would a real rotation of this secret succeed?
    /// Read-only; fails with the error the real rotation would meet.
    async fn test_setup(&self, metadata: &SecretMetadata, user: &str) -> Result<StepReport> {
        self.check_binding_fits(metadata)?;
        let found = self.iam.get_user(user).await?;
        if self.settings.require_binding_tag {
            check_binding(&found, &metadata.arn)?;
        }
        if self.iam.get_login_profile(user).await?.is_none() && !self.settings.create_login_profile
        {
            return Err(RotationError::LoginProfileMissing { user: user.into() });
        }
        let policy = self.policy().await?;
        PasswordGenerator::new(&self.settings.generator, &policy)?;
        Ok(StepReport {
            outcome: Outcome::SetupVerified,
            warnings: self.expiry_warning(&policy, metadata).into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::password::{CharClass, PasswordPolicy};
    use crate::ports::RotationRules;
    use crate::rotation::fakes::{
        bound_user, event, long_arn, rotation, Call, FakeIam, FakeStore, ARN, CURRENT,
        OLD_PASSWORD, TOKEN,
    };
    use crate::rotation::RotationSettings;
    use crate::rotation::Warning;
    use serde_json::json;

    const NEW_PASSWORD: &str = "New-pass-2-abcdefghij";

    /// setSecret applied the pending password and recorded it: IAM holds it now.
    fn applied() -> (FakeStore, FakeIam) {
        let store = FakeStore::rotating(json!({"username": "alice", "password": OLD_PASSWORD}));
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": NEW_PASSWORD}),
        );
        store.set_stages(TOKEN, &["AWSPENDING", "IAM_APPLIED"]);
        let iam = FakeIam::default();
        iam.add_user("alice", Some(ARN), Some(NEW_PASSWORD));
        (store, iam)
    }

    /// Secrets Manager's test run: AWSPENDING holds AWSCURRENT's value.
    fn test_run(current: serde_json::Value) -> FakeStore {
        let store = FakeStore::rotating(current.clone());
        store.set_value(TOKEN, current);
        store
    }

    fn strict_policy(minimum_length: usize) -> PasswordPolicy {
        PasswordPolicy {
            minimum_length,
            required_classes: CharClass::ALL.into_iter().collect(),
            ..PasswordPolicy::iam_default()
        }
    }

    #[tokio::test]
    async fn an_applied_pending_version_passes_reading_only_the_login_profile() {
        let (store, iam) = applied();
        let report = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("ok");
        assert_eq!(report, Outcome::Tested);
        assert!(report.warnings.is_empty());
        assert_eq!(store.writes() + iam.writes(), 0);
        assert_eq!(iam.calls(), vec![Call::GetLoginProfile]);
    }

    #[tokio::test]
    async fn a_policy_tightened_after_iam_accepted_the_password_does_not_stop_the_rotation() {
        let (store, iam) = applied();
        iam.set_policy(Some(strict_policy(64)));
        let report = rotation(store, iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("IAM keeps a password it accepted");
        assert_eq!(report, Outcome::Tested);
        assert!(!iam.calls().contains(&Call::GetPolicy));
    }

    #[tokio::test]
    async fn a_pending_version_iam_never_accepted_fails_without_writing() {
        let (store, iam) = applied();
        store.set_stages(TOKEN, &["AWSPENDING"]);
        store.set_stages(CURRENT, &["AWSCURRENT", "IAM_APPLIED"]);
        let error = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("not applied");
        assert_eq!(error.error_type(), "PendingNotApplied");
        assert!(error.to_string().contains(TOKEN) && error.to_string().contains(ARN));
        assert_eq!(store.writes() + iam.writes(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_login_profile_iam_does_not_show_yet_is_read_again_until_it_does() {
        let (store, iam) = applied();
        iam.hide_profile_reads(2);
        let report = rotation(store, iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("ok");
        assert_eq!(report, Outcome::Tested);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(iam.calls(), vec![Call::GetLoginProfile; 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_reset_flag_is_read_again_until_iam_shows_the_new_one() {
        let (store, iam) = applied();
        iam.set_reset_required("alice", true);
        iam.stale_flag_reads(3);
        let config = RotationSettings {
            password_reset_required: true,
            ..RotationSettings::default()
        };
        let report = rotation(store, iam.clone(), config)
            .test_secret(&event("testSecret"))
            .await
            .expect("ok");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(iam.calls(), vec![Call::GetLoginProfile; 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn what_stays_off_after_the_bounded_wait_is_a_warning_not_a_failure() {
        let (store, iam) = applied();
        iam.hide_profile_reads(100);
        let started = tokio::time::Instant::now();
        let report = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("IAM accepted the password: the rotation completes");
        assert_eq!(
            report.warnings,
            vec![Warning::LoginProfileNotVisible {
                user: "alice".into()
            }]
        );
        assert_eq!(iam.calls().len(), 5);
        assert_eq!(started.elapsed().as_millis(), 250 + 500 + 1000 + 2000);

        let (store, iam) = applied();
        iam.set_reset_required("alice", true);
        let report = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("ok");
        assert_eq!(report.warnings[0].warning_type(), "ResetFlagDiffers");
        assert!(report.warnings[0]
            .to_string()
            .contains("PASSWORD_RESET_REQUIRED=false"));
    }

    #[tokio::test]
    async fn the_test_run_passes_for_every_valid_setup_and_writes_nothing() {
        let with_password = json!({"username": "alice", "password": OLD_PASSWORD});
        let setups: Vec<(&str, FakeStore, FakeIam, RotationSettings)> = vec![
            (
                "a secret with only a username",
                test_run(json!({"username": "alice"})),
                bound_user("alice"),
                RotationSettings::default(),
            ),
            (
                "no login profile yet, creation on",
                test_run(json!({"username": "alice"})),
                {
                    let iam = FakeIam::default();
                    iam.add_user("alice", Some(ARN), None);
                    iam
                },
                RotationSettings {
                    create_login_profile: true,
                    ..RotationSettings::default()
                },
            ),
            (
                "a reset flag other than configured",
                test_run(with_password.clone()),
                {
                    let iam = bound_user("alice");
                    iam.set_reset_required("alice", true);
                    iam
                },
                RotationSettings::default(),
            ),
            (
                "a current password below a policy set later",
                test_run(with_password.clone()),
                {
                    let iam = bound_user("alice");
                    iam.set_policy(Some(strict_policy(40)));
                    iam
                },
                RotationSettings::default(),
            ),
            (
                "no binding tag, binding off",
                test_run(with_password.clone()),
                {
                    let iam = FakeIam::default();
                    iam.add_user("alice", None, Some(OLD_PASSWORD));
                    iam
                },
                RotationSettings {
                    require_binding_tag: false,
                    ..RotationSettings::default()
                },
            ),
        ];
        for (setup, store, iam, config) in setups {
            let report = rotation(store.clone(), iam.clone(), config)
                .test_secret(&event("testSecret"))
                .await
                .unwrap_or_else(|error| panic!("{setup}: {error}"));
            assert_eq!(report, Outcome::SetupVerified, "{setup}");
            assert_eq!(store.writes() + iam.writes(), 0, "{setup}");
        }
    }

    #[tokio::test]
    async fn the_test_run_fails_where_the_real_rotation_would_and_writes_nothing() {
        let value = json!({"username": "alice", "password": OLD_PASSWORD});
        let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ";
        let mut no_symbols = RotationSettings::default();
        no_symbols.generator.exclude_punctuation = true;
        let cases: Vec<(&str, FakeIam, RotationSettings, Option<String>)> = vec![
            (
                "UserNotFound",
                FakeIam::default(),
                RotationSettings::default(),
                None,
            ),
            (
                "BindingTagMissing",
                {
                    let iam = FakeIam::default();
                    iam.add_user("alice", None, Some(OLD_PASSWORD));
                    iam
                },
                RotationSettings::default(),
                None,
            ),
            (
                "BindingTagMismatch",
                {
                    let iam = FakeIam::default();
                    iam.add_user("alice", Some(other), Some(OLD_PASSWORD));
                    iam
                },
                RotationSettings::default(),
                None,
            ),
            (
                "LoginProfileMissing",
                {
                    let iam = FakeIam::default();
                    iam.add_user("alice", Some(ARN), None);
                    iam
                },
                RotationSettings::default(),
                None,
            ),
            (
                "PolicyUnsatisfiable",
                {
                    let iam = bound_user("alice");
                    iam.set_policy(Some(strict_policy(8)));
                    iam
                },
                no_symbols,
                None,
            ),
            (
                "SecretArnTooLong",
                bound_user("alice"),
                RotationSettings::default(),
                Some(long_arn()),
            ),
        ];
        for (expected, iam, config, arn) in cases {
            let store = test_run(value.clone());
            if let Some(arn) = arn {
                store.set_arn(&arn);
            }
            let error = rotation(store.clone(), iam.clone(), config)
                .test_secret(&event("testSecret"))
                .await
                .expect_err(expected);
            assert_eq!(error.error_type(), expected, "{error}");
            assert_eq!(store.writes() + iam.writes(), 0, "{expected}");
        }
    }

    #[tokio::test]
    async fn the_test_run_warns_when_passwords_expire_before_the_next_rotation() {
        let store = test_run(json!({"username": "alice", "password": OLD_PASSWORD}));
        store.set_rotation_rules(RotationRules {
            automatically_after_days: Some(90),
            schedule_expression: None,
        });
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            max_password_age_days: Some(60),
            hard_expiry: true,
            ..PasswordPolicy::iam_default()
        }));
        let report = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("a warning, not a failure");
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(
            report.warnings[0].warning_type(),
            "PasswordsExpireBeforeRotation"
        );
        assert!(report.warnings[0].to_string().contains("HardExpiry"));
    }

    #[tokio::test]
    async fn a_pending_value_for_another_user_fails() {
        let (store, iam) = applied();
        store.set_value(TOKEN, json!({"username": "bob", "password": NEW_PASSWORD}));
        let error = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "UserMismatch");
    }

    #[tokio::test]
    async fn test_on_a_secret_with_rotation_disabled_fails() {
        let (store, iam) = applied();
        store.set_rotation_enabled(false);
        let error = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), "RotationNotEnabled");
    }
}
