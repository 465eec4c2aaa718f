//! The self-service strategy: the user's own `ChangePassword`, signed with the
//! user's access key, so the function needs no IAM write permission.
//!
//! A secret opts in with `"changePasswordCredentials": "<secret ARN>"`; that secret
//! holds `{"accessKeyId", "secretAccessKey"}`. Before any change the key must
//! prove to be the named user's (`GetUser` signed with it).
//!
//! What the design relies on (see `docs/rotation.md`, "Which strategy"): IAM's
//! `ChangePassword` checks `OldPassword` before it judges `NewPassword`, and never
//! accepts a one-character password (an account policy's minimum length is 6 to
//! 128; with no policy it is 8). So `ChangePassword(OldPassword = p, NewPassword =
//! "x")` changes nothing and answers `PasswordPolicyViolation` exactly when IAM
//! holds `p`: the probe that lets a retry after a crash, and testSecret, see which
//! password IAM holds without writing anything.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::Rotator;
use crate::binding::check_binding;
use crate::error::{Result, RotationError};
use crate::ports::{AccessKey, LoginProfiles, SecretMetadata, SecretStore, SelfService};
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

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    /// The access key in the credentials secret `credentials`, for `metadata`'s secret.
    pub(super) async fn access_key(
        &self,
        metadata: &SecretMetadata,
        credentials: &str,
    ) -> Result<AccessKey> {
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

    /// Proves the key is `user`'s; the user as IAM returns it (tags included).
    pub(super) async fn key_owner(
        &self,
        key: &AccessKey,
        user: &str,
        credentials: &str,
    ) -> Result<crate::ports::IamUser> {
        let owner = self.iam.whoami(key).await?;
        if owner.name != user {
            return Err(RotationError::CredentialsUserMismatch {
                user: user.into(),
                credentials: credentials.into(),
                key_owner: owner.name,
            });
        }
        Ok(owner)
    }

    /// The user's key, proven to be the user's (and the user bound, when required),
    /// with the current password it changes from.
    pub(super) async fn user_key<'v>(
        &self,
        metadata: &SecretMetadata,
        current: &'v SecretValue,
        credentials: &str,
    ) -> Result<(AccessKey, &'v SecretString)> {
        let old = current
            .password()
            .ok_or_else(|| RotationError::CurrentPasswordMissing {
                secret: metadata.arn.clone(),
            })?;
        let key = self.access_key(metadata, credentials).await?;
        let owner = self
            .key_owner(&key, current.username(), credentials)
            .await?;
        if self.settings.require_binding_tag {
            check_binding(&owner, &metadata.arn)?;
        }
        Ok((key, old))
    }

    /// Whether IAM holds `password`, asked so that nothing changes.
    pub(super) async fn probe(
        &self,
        key: &AccessKey,
        user: &str,
        password: &SecretString,
    ) -> Result<Held> {
        match self
            .iam
            .change_password(key, user, password, &SecretString::from(PROBE))
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
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::ports::AccessKey;
    use crate::rotation::fakes::{
        bound_user, event, rotation, Call, FakeIam, FakeStore, ARN, OLD_PASSWORD, TOKEN,
    };
    use crate::rotation::Outcome;
    use crate::rotation::RotationSettings;

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
        // ChangePassword(current -> pending) refused, the probe refused: nothing changed.
        assert_eq!(history_len(&iam), 3);
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
