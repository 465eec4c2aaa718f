//! The self-service strategy: the user's own `ChangePassword`, signed with the
//! user's access key, so the function needs no IAM write permission.
//!
//! A secret opts in with `"changePasswordCredentials": "<secret ARN>"`; that secret
//! holds `{"accessKeyId", "secretAccessKey"}`. Before every use of the key (a change
//! or a probe) it must prove to be the named user's, in the secret's own account
//! (`GetUser` signed with it), and the user must be bound to the secret: one check,
//! [`Rotator::proven_key`], for setSecret and testSecret alike.
//!
//! What the design relies on (see docs/self-service.md): IAM's `ChangePassword`
//! checks `OldPassword` before it judges `NewPassword`, and never accepts a
//! one-character password (an account policy's minimum length is 6 to 128; with no
//! policy it is 8). So `ChangePassword(OldPassword = p, NewPassword = "x")` changes
//! nothing and answers `PasswordPolicyViolation` exactly when IAM holds `p`: the
//! probe that lets a retry after a crash, and testSecret, see which password IAM
//! holds without writing anything. AWS does not document the order, so each probe
//! follows a negative control: a random wrong `OldPassword` must be refused as
//! wrong, else the probe is not trusted ([`RotationError::ProbeUntrusted`]).

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::Rotator;
use crate::accounts::Account;
use crate::binding::check_binding;
use crate::error::{Result, RotationError};
use crate::password::{GeneratorSettings, PasswordGenerator, PasswordPolicy};
use crate::ports::{AccessKey, KeyOwner, LoginProfiles, SecretMetadata, SecretStore, SelfService};
use crate::secret::SecretValue;

/// A password IAM never accepts (below any policy's minimum): the probe's `NewPassword`.
const PROBE: &str = "x";

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// IAM holds the probed password.
    Yes,
    /// IAM refused it as the old password.
    No,
}

/// A user's access key that passed the checks made before every use: it is the
/// user's, in the secret's own account, and the user is bound to the secret (when
/// required). Only [`Rotator::proven_key`] makes one, and every `ChangePassword`
/// (a change or a probe) takes one, so no call is signed with an unchecked key.
pub(super) struct UserKey {
    key: AccessKey,
    user: String,
}

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    /// The access key in the credentials secret `credentials`, for `metadata`'s secret.
    async fn access_key(&self, metadata: &SecretMetadata, credentials: &str) -> Result<AccessKey> {
        let invalid = |reason: &str| RotationError::InvalidCredentialsSecret {
            secret: metadata.arn.clone(),
            credentials: credentials.into(),
            reason: reason.into(),
        };
        let raw = self
            .store
            .get_current(credentials)
            .await?
            .ok_or_else(|| invalid("it has no AWSCURRENT value"))?;
        let value: Value =
            serde_json::from_str(raw.expose_secret()).map_err(|_| invalid("it is not JSON"))?;
        let field = |name: &str| match value.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(SecretString::from(text.as_str())),
            _ => Err(invalid(&format!("it has no string \"{name}\""))),
        };
        Ok(AccessKey {
            access_key_id: field("accessKeyId")?,
            secret_access_key: field("secretAccessKey")?,
        })
    }

    /// The key in `credentials`, proven to be `user`'s in the account of `metadata`'s
    /// secret (`GetUser` signed with it), the user bound to the secret when required:
    /// the one check setSecret and testSecret make before they use a key.
    pub(super) async fn proven_key(
        &self,
        metadata: &SecretMetadata,
        user: &str,
        credentials: &str,
    ) -> Result<UserKey> {
        let key = self.access_key(metadata, credentials).await?;
        let owner = self.iam.whoami(&key).await?;
        check_owner(&owner, user, &metadata.arn, credentials)?;
        if self.settings.require_binding_tag {
            check_binding(&owner.user, &metadata.arn)?;
        }
        Ok(UserKey {
            key,
            user: user.into(),
        })
    }

    /// The user's proven key, with the current password it changes from.
    pub(super) async fn user_key<'v>(
        &self,
        metadata: &SecretMetadata,
        current: &'v SecretValue,
        credentials: &str,
    ) -> Result<(UserKey, &'v SecretString)> {
        let old = current
            .password()
            .ok_or_else(|| RotationError::CurrentPasswordMissing {
                secret: metadata.arn.clone(),
            })?;
        let key = self
            .proven_key(metadata, current.username(), credentials)
            .await?;
        Ok((key, old))
    }

    /// `ChangePassword(old, new)` signed with the proven key.
    pub(super) async fn change_password(
        &self,
        key: &UserKey,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<()> {
        self.iam
            .change_password(&key.key, &key.user, old, new)
            .await
    }

    /// Whether IAM holds `password`, asked so that nothing changes; after the
    /// negative control shows that IAM's answers can tell.
    pub(super) async fn probe(&self, key: &UserKey, password: &SecretString) -> Result<Held> {
        self.control(key).await?;
        match self
            .change_password(key, password, &SecretString::from(PROBE))
            .await
        {
            Err(RotationError::PasswordPolicyViolation { .. }) => Ok(Held::Yes),
            Err(RotationError::OldPasswordIncorrect { .. }) => Ok(Held::No),
            Err(other) => Err(other),
            // IAM accepted a one-character password: its documented minimum is 6.
            Ok(()) => Err(RotationError::Aws {
                service: "iam",
                operation: "ChangePassword",
                code: "UnexpectedAcceptance".into(),
                message: "IAM accepted a one-character password, which no password policy allows; set the password again with UpdateLoginProfile".into(),
            }),
        }
    }

    /// The negative control: the probe means something only if IAM judges
    /// `OldPassword` before `NewPassword`, which AWS does not document. A random
    /// password (from the generator, never logged) as `OldPassword` must be refused
    /// as wrong; any other answer makes every probe's answer meaningless.
    async fn control(&self, key: &UserKey) -> Result<()> {
        let wrong = PasswordGenerator::new(
            &GeneratorSettings::default(),
            &PasswordPolicy::iam_default(),
        )?
        .generate()?;
        let untrusted = |answer: &str| RotationError::ProbeUntrusted {
            user: key.user.clone(),
            answer: answer.into(),
        };
        match self
            .change_password(key, &wrong, &SecretString::from(PROBE))
            .await
        {
            Err(RotationError::OldPasswordIncorrect { .. }) => Ok(()),
            Err(violation @ RotationError::PasswordPolicyViolation { .. }) => {
                Err(untrusted(violation.error_type()))
            }
            Err(other) => Err(other),
            Ok(()) => Err(untrusted("success")),
        }
    }
}

/// The key's owner must be `user` in the account of the secret (from its ARN,
/// which AWS sets): a user of the same name in another account is someone else.
fn check_owner(owner: &KeyOwner, user: &str, secret_arn: &str, credentials: &str) -> Result<()> {
    let account = Account::of_arn(secret_arn)
        .map(|account| account.id)
        .unwrap_or_default();
    if owner.user.name == user && owner.account == account {
        return Ok(());
    }
    let key_owner = if owner.account == account {
        owner.user.name.clone()
    } else {
        format!("{} of account {}", owner.user.name, owner.account)
    };
    Err(RotationError::CredentialsUserMismatch {
        user: user.into(),
        account,
        credentials: credentials.into(),
        key_owner,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::ports::AccessKey;
    use crate::rotation::fakes::{
        bound_user, event, rotation, Call, FakeIam, FakeStore, ARN, OLD_PASSWORD, TOKEN,
    };
    use crate::rotation::{Outcome, RotationSettings, Warning};

    const NEW_PASSWORD: &str = "New-pass-2-abcdefghij";
    const CREDENTIALS: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice-key-XyZ";

    /// alice opts in with her own key; createSecret has stored the pending value.
    fn self_service() -> (FakeStore, FakeIam) {
        let store = FakeStore::rotating(
            json!({"username": "alice", "password": OLD_PASSWORD, "changePasswordCredentials": CREDENTIALS}),
        );
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": NEW_PASSWORD, "changePasswordCredentials": CREDENTIALS}),
        );
        store.set_other_secret(
            CREDENTIALS,
            json!({"accessKeyId": "AKIAALICEKEY", "secretAccessKey": "alice-secret-key-material"}),
        );
        let iam = bound_user("alice");
        iam.add_key("AKIAALICEKEY", "alice");
        (store, iam)
    }

    fn history_len(iam: &FakeIam) -> usize {
        iam.calls()
            .iter()
            .filter(|c| **c == Call::ChangePassword)
            .count()
    }

    #[tokio::test]
    async fn set_changes_the_password_with_the_users_own_key_and_no_iam_write_of_its_own() {
        let (store, iam) = self_service();
        let outcome = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("applied");
        assert_eq!(outcome, Outcome::Applied);
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
        assert_eq!(iam.calls(), vec![Call::WhoAmI, Call::ChangePassword]);
        assert!(store.stages(TOKEN).contains(&"IAM_APPLIED".to_owned()));
    }

    #[tokio::test]
    async fn a_retry_after_a_crash_behind_change_password_finds_it_applied_and_writes_nothing() {
        let (store, iam) = self_service();
        rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("first");
        // The first attempt died before it recorded IAM's acceptance.
        store.set_stages(TOKEN, &["AWSPENDING"]);
        let retry = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect("converges");
        assert_eq!(retry, Outcome::AlreadyApplied);
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
        // ChangePassword(current -> pending) refused, the control and the probe refused:
        // nothing changed.
        assert_eq!(history_len(&iam), 4);
        assert!(store.stages(TOKEN).contains(&"IAM_APPLIED".to_owned()));
    }

    #[tokio::test]
    async fn a_key_of_another_user_is_refused_before_any_change() {
        let (store, iam) = self_service();
        iam.add_user("bob", None, Some("Bob-pass-1"));
        iam.add_key("AKIAALICEKEY", "bob");
        let error = rotation(store, iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "CredentialsUserMismatch");
        assert!(error.to_string().contains("belongs to bob"));
        assert_eq!(iam.writes(), 0);
    }

    #[tokio::test]
    async fn each_refusal_of_the_strategy_is_named_and_changes_nothing() {
        type Arrange = Box<dyn Fn(&FakeStore, &FakeIam)>;
        let cases: Vec<(&str, Arrange)> = vec![
            (
                "CurrentPasswordMissing",
                Box::new(|store, _| {
                    store.set_value(
                        "version-current",
                        json!({"username": "alice", "changePasswordCredentials": CREDENTIALS}),
                    );
                }),
            ),
            (
                "OldPasswordIncorrect",
                Box::new(|_, iam| {
                    iam.add_user("alice", Some(ARN), Some("Changed-Outside-1"));
                }),
            ),
            (
                "ChangePasswordNotAllowed",
                Box::new(|_, iam| iam.deny_change_password()),
            ),
            (
                "InvalidCredentialsSecret",
                Box::new(|store, _| {
                    store.set_other_secret(CREDENTIALS, json!({"accessKeyId": "AKIAALICEKEY"}));
                }),
            ),
            (
                "BindingTagMissing",
                Box::new(|_, iam| {
                    iam.add_user("alice", None, Some(OLD_PASSWORD));
                }),
            ),
        ];
        for (expected, arrange) in cases {
            let (store, iam) = self_service();
            arrange(&store, &iam);
            let before = iam.password("alice");
            let error = rotation(store.clone(), iam.clone(), RotationSettings::default())
                .set_secret(&event("setSecret"))
                .await
                .expect_err(expected);
            assert_eq!(error.error_type(), expected, "{error}");
            assert_eq!(iam.password("alice"), before, "{expected}");
            assert!(!store.stages(TOKEN).contains(&"IAM_APPLIED".to_owned()));
            let message = error.to_string();
            assert!(
                !message.contains("alice-secret-key-material") && !message.contains("AKIAALICEKEY"),
                "{message}"
            );
            assert!(
                !message.contains(NEW_PASSWORD) && !message.contains(OLD_PASSWORD),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn test_secret_checks_that_iam_holds_the_pending_password_without_changing_it() {
        let (store, iam) = self_service();
        let rotator = rotation(store.clone(), iam.clone(), RotationSettings::default());
        rotator
            .set_secret(&event("setSecret"))
            .await
            .expect("applied");
        assert_eq!(
            rotator
                .test_secret(&event("testSecret"))
                .await
                .expect("held"),
            Outcome::Tested
        );
        assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
        // Someone changes it between setSecret and testSecret: testSecret sees it.
        iam.add_user("alice", Some(ARN), Some("Changed-Outside-1"));
        iam.add_key("AKIAALICEKEY", "alice");
        let error = rotator
            .test_secret(&event("testSecret"))
            .await
            .expect_err("not held");
        assert_eq!(error.error_type(), "PendingNotHeld");
    }

    #[tokio::test]
    async fn the_test_run_of_the_strategy_checks_the_key_the_binding_and_the_current_password() {
        let (store, iam) = self_service();
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": OLD_PASSWORD, "changePasswordCredentials": CREDENTIALS}),
        );
        let report = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("the setup works");
        assert_eq!(report, Outcome::SetupVerified);
        assert_eq!(iam.password("alice").as_deref(), Some(OLD_PASSWORD));
        iam.add_user("alice", Some(ARN), Some("Changed-Outside-1"));
        iam.add_key("AKIAALICEKEY", "alice");
        let error = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("IAM does not hold AWSCURRENT's password");
        assert_eq!(error.error_type(), "OldPasswordIncorrect");
    }

    /// setSecret has applied the pending password and recorded it.
    fn applied() -> (FakeStore, FakeIam) {
        let (store, iam) = self_service();
        store.set_stages(TOKEN, &["AWSPENDING", "IAM_APPLIED"]);
        iam.add_user("alice", Some(ARN), Some(NEW_PASSWORD));
        (store, iam)
    }

    const BOB_CREDENTIALS: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:bob-key-XyZ";

    /// bob is enrolled too, with his own key in his own credentials secret.
    fn with_bob(store: &FakeStore, iam: &FakeIam) {
        iam.add_user(
            "bob",
            Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:bob-AbC"),
            Some("Bob-pass-1"),
        );
        iam.add_key("AKIABOBKEY", "bob");
        store.set_other_secret(
            BOB_CREDENTIALS,
            json!({"accessKeyId": "AKIABOBKEY", "secretAccessKey": "bob-secret-key-material"}),
        );
    }

    #[tokio::test]
    async fn test_secret_refuses_a_pending_value_naming_another_users_key_before_any_probe() {
        let (store, iam) = applied();
        with_bob(&store, &iam);
        // A writer of alice's secret stages a guess of bob's password with bob's key.
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": "Guess-of-bobs-1", "changePasswordCredentials": BOB_CREDENTIALS}),
        );
        let error = rotation(store, iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "CredentialsUserMismatch");
        assert!(error.to_string().contains("belongs to bob"), "{error}");
        assert!(iam.change_password_keys().is_empty());
    }

    #[tokio::test]
    async fn test_secret_refuses_the_users_own_key_when_the_user_is_not_bound_to_the_secret() {
        let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ";
        for (expected, bound_to) in [
            ("BindingTagMismatch", Some(other)),
            ("BindingTagMissing", None),
        ] {
            let (store, iam) = applied();
            iam.add_user("alice", bound_to, Some(NEW_PASSWORD));
            let error = rotation(store, iam.clone(), RotationSettings::default())
                .test_secret(&event("testSecret"))
                .await
                .expect_err(expected);
            assert_eq!(error.error_type(), expected);
            assert!(iam.change_password_keys().is_empty(), "{expected}");
        }
    }

    #[tokio::test]
    async fn a_key_of_a_user_of_the_same_name_in_another_account_is_refused() {
        for step in ["setSecret", "testSecret"] {
            let (store, iam) = if step == "setSecret" {
                self_service()
            } else {
                applied()
            };
            iam.add_key_in("AKIAALICEKEY", "alice", "999999999999");
            let rotator = rotation(store.clone(), iam.clone(), RotationSettings::default());
            let error = match step {
                "setSecret" => rotator.set_secret(&event(step)).await,
                _ => rotator.test_secret(&event(step)).await,
            }
            .expect_err(step);
            assert_eq!(error.error_type(), "CredentialsUserMismatch", "{step}");
            let message = error.to_string();
            assert!(
                message.contains("alice of account 999999999999")
                    && message.contains("of account 123456789012"),
                "{message}"
            );
            assert!(iam.change_password_keys().is_empty(), "{step}");
        }
    }

    #[tokio::test]
    async fn after_iam_applied_a_probe_that_cannot_be_made_is_a_warning_not_a_failure() {
        type Arrange = Box<dyn Fn(&FakeIam)>;
        let cases: Vec<(&str, Arrange)> = vec![
            (
                "ChangePasswordNotAllowed",
                Box::new(|iam| iam.deny_change_password()),
            ),
            (
                "AwsApiError",
                Box::new(|iam| iam.delete_key("AKIAALICEKEY")),
            ),
        ];
        for (expected, arrange) in cases {
            let (store, iam) = applied();
            arrange(&iam);
            let report = rotation(store.clone(), iam.clone(), RotationSettings::default())
                .test_secret(&event("testSecret"))
                .await
                .unwrap_or_else(|error| panic!("{expected}: {error}"));
            assert_eq!(report, Outcome::Tested);
            let [Warning::PendingNotChecked {
                user, error_type, ..
            }] = report.warnings.as_slice()
            else {
                panic!("{expected}: {:?}", report.warnings);
            };
            assert_eq!((user.as_str(), *error_type), ("alice", expected));
            assert_eq!(store.writes(), 0);
            assert_eq!(iam.password("alice").as_deref(), Some(NEW_PASSWORD));
        }
    }

    #[tokio::test]
    async fn after_iam_applied_only_a_wrong_old_password_fails_the_step() {
        let (store, iam) = applied();
        iam.add_user("alice", Some(ARN), Some("Changed-Outside-1"));
        let error = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("IAM does not hold it");
        assert_eq!(error.error_type(), "PendingNotHeld");
    }

    #[tokio::test]
    async fn every_probe_follows_a_control_with_a_fresh_random_wrong_old_password() {
        let (store, iam) = applied();
        let rotator = rotation(store, iam.clone(), RotationSettings::default());
        for _ in 0..2 {
            rotator
                .test_secret(&event("testSecret"))
                .await
                .expect("held");
        }
        let olds = iam.change_password_olds();
        assert_eq!(olds.len(), 4, "a control and a probe each time");
        let (controls, probes): (Vec<_>, Vec<_>) =
            olds.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        assert!(probes.iter().all(|(_, old)| *old == NEW_PASSWORD));
        assert_ne!(controls[0].1, controls[1].1);
        for (_, old) in controls {
            assert_eq!(old.chars().count(), 32);
            assert!(old != NEW_PASSWORD && old != OLD_PASSWORD);
        }
    }

    #[tokio::test]
    async fn when_iam_judges_the_new_password_first_the_probe_is_not_trusted() {
        // The test run refuses the strategy.
        let (store, iam) = self_service();
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": OLD_PASSWORD, "changePasswordCredentials": CREDENTIALS}),
        );
        iam.check_new_password_first();
        let error = rotation(store, iam.clone(), RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect_err("untrusted");
        assert_eq!(error.error_type(), "ProbeUntrusted");
        assert!(
            error.to_string().contains("PasswordPolicyViolation"),
            "{error}"
        );
        assert_eq!(iam.password("alice").as_deref(), Some(OLD_PASSWORD));

        // A retried setSecret does not take the refusal for an earlier success.
        let (store, iam) = self_service();
        iam.check_new_password_first();
        iam.add_user("alice", Some(ARN), Some("Changed-Outside-1"));
        let error = rotation(store.clone(), iam.clone(), RotationSettings::default())
            .set_secret(&event("setSecret"))
            .await
            .expect_err("untrusted");
        assert_eq!(error.error_type(), "ProbeUntrusted");
        assert!(!store.stages(TOKEN).contains(&"IAM_APPLIED".to_owned()));

        // After IAM_APPLIED the rotation completes, with the check named as not made.
        let (store, iam) = applied();
        iam.check_new_password_first();
        let report = rotation(store, iam, RotationSettings::default())
            .test_secret(&event("testSecret"))
            .await
            .expect("IAM accepted the password");
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].to_string().contains("ProbeUntrusted"));
    }

    #[test]
    fn an_access_key_never_shows_in_debug_output() {
        let key = AccessKey {
            access_key_id: "AKIAALICEKEY".into(),
            secret_access_key: "alice-secret-key-material".into(),
        };
        let debug = format!("{key:?}");
        assert!(
            !debug.contains("AKIA") && !debug.contains("material"),
            "{debug}"
        );
    }
}
