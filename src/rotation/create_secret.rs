//! createSecret: generate a password that meets the account policy and store it
//! as the token's `AWSPENDING` value.

use super::{Checked, Outcome, Rotator, StepReport};
use crate::error::Result;
use crate::event::RotationEvent;
use crate::password::PasswordGenerator;
use crate::ports::{LoginProfiles, PutOutcome, SecretStore, SelfService};

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    pub(super) async fn create_secret(&self, event: &RotationEvent) -> Result<StepReport> {
        let metadata = match self.check_secret(event).await? {
            Checked::AlreadyCurrent(_) => return Ok(Outcome::AlreadyCurrent.into()),
            Checked::Pending(metadata) => metadata,
        };
        // A secret no binding tag can name would fail in setSecret: fail before any write.
        self.check_binding_fits(&metadata)?;
        // A retry must never replace a value stored for this token: setSecret
        // may already have applied it to IAM.
        if self.read_version(&metadata, &event.token).await?.is_some() {
            return Ok(Outcome::AlreadyCreated.into());
        }
        let current = self.current_value(&metadata).await?;
        let policy = self.policy().await?;
        // Fails before any write when the configuration cannot meet the policy.
        let generator = PasswordGenerator::new(&self.settings.generator, &policy)?;
        let pending = current
            .with_password(generator.generate()?)
            .to_secret_string();
        let stored = self
            .store
            .put_pending(
                &metadata.arn,
                &event.token,
                &pending,
                event.rotation_token.as_ref(),
            )
            .await?;
        let outcome = match stored {
            PutOutcome::Stored => {
                self.versions.insert(&metadata.arn, &event.token, pending);
                Outcome::Created
            }
            // Another attempt stored a value for this token first; that one stands.
            PutOutcome::AlreadyExists => Outcome::AlreadyCreated,
        };
        Ok(StepReport {
            outcome,
            warnings: self
                .expiry_warning(&policy, &metadata)
                .into_iter()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::password::{CharClass, PasswordPolicy};
    use crate::ports::RotationRules;
    use crate::ports::{AWSCURRENT, AWSPENDING};
    use crate::rotation::fakes::{
        bound_user, event, long_arn, rotation, Call, FakeIam, FakeStore, ARN, TOKEN,
    };
    use crate::rotation::RotationSettings;
    use serde_json::json;

    #[tokio::test]
    async fn create_stores_a_pending_value_with_a_new_password_and_the_other_keys() {
        let (store, iam) = (
            FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1", "db": "x"})),
            bound_user("alice"),
        );
        let rotator = rotation(store.clone(), iam, RotationSettings::default());
        assert_eq!(
            rotator
                .create_secret(&event("createSecret"))
                .await
                .expect("ok"),
            super::Outcome::Created
        );
        let pending = store.value_json(TOKEN).expect("stored");
        assert_eq!(pending["username"], "alice");
        assert_eq!(pending["db"], "x");
        let password = pending["password"].as_str().expect("password");
        assert_ne!(password, "Old-pass-1");
        assert_eq!(password.chars().count(), 32);
        assert!(store.stages(TOKEN).contains(&AWSPENDING.to_owned()));
        assert_eq!(store.rotation_tokens(), vec![Some("rt-create".to_owned())]);
    }

    #[tokio::test]
    async fn create_on_a_secret_without_a_password_yet_stores_one() {
        let store = FakeStore::rotating(json!({"username": "alice"}));
        let rotator = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        );
        rotator
            .create_secret(&event("createSecret"))
            .await
            .expect("ok");
        assert!(store.value_json(TOKEN).expect("stored")["password"].is_string());
    }

    #[tokio::test]
    async fn a_retried_create_keeps_the_value_already_stored_for_the_token() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        let rotator = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        );
        let event = event("createSecret");
        rotator.create_secret(&event).await.expect("first");
        let first = store.value_json(TOKEN);
        // A fresh process (empty cache) retries.
        let fresh = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        );
        assert_eq!(
            fresh.create_secret(&event).await.expect("retry"),
            super::Outcome::AlreadyCreated
        );
        assert_eq!(store.value_json(TOKEN), first);
        assert_eq!(store.writes(), 1);
    }

    #[tokio::test]
    async fn a_token_conflict_from_a_racing_attempt_counts_as_created() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        store.conflict_on_put();
        let rotator = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        );
        let outcome = rotator
            .create_secret(&event("createSecret"))
            .await
            .expect("ok");
        assert_eq!(outcome, super::Outcome::AlreadyCreated);
    }

    #[tokio::test]
    async fn create_follows_the_account_policy() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 60,
            required_classes: CharClass::ALL.into_iter().collect(),
            minimum_distinct_classes: 0,
            reuse_prevention: 5,
            max_password_age_days: None,
            hard_expiry: false,
        }));
        let rotator = rotation(store.clone(), iam, RotationSettings::default());
        rotator
            .create_secret(&event("createSecret"))
            .await
            .expect("ok");
        let pending = store.value_json(TOKEN).expect("stored");
        assert_eq!(
            pending["password"]
                .as_str()
                .expect("password")
                .chars()
                .count(),
            60
        );
    }

    #[tokio::test]
    async fn an_unsatisfiable_configuration_fails_before_any_write() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            minimum_length: 8,
            required_classes: [CharClass::Symbol].into_iter().collect(),
            minimum_distinct_classes: 0,
            reuse_prevention: 0,
            max_password_age_days: None,
            hard_expiry: false,
        }));
        let mut config = RotationSettings::default();
        config.generator.exclude_punctuation = true;
        let rotator = rotation(store.clone(), iam, config);
        let error = rotator
            .create_secret(&event("createSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "PolicyUnsatisfiable");
        assert_eq!(store.writes(), 0);
    }

    #[tokio::test]
    async fn create_for_a_token_already_current_does_nothing() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        store.set_stages(TOKEN, &[AWSCURRENT]);
        let rotator = rotation(
            store.clone(),
            FakeIam::default(),
            RotationSettings::default(),
        );
        let outcome = rotator
            .create_secret(&event("createSecret"))
            .await
            .expect("ok");
        assert_eq!(outcome, super::Outcome::AlreadyCurrent);
        assert_eq!(store.writes(), 0);
        assert_eq!(store.calls(), vec![Call::Describe]);
    }

    #[tokio::test]
    async fn create_refuses_an_invalid_current_value_without_writing() {
        let store = FakeStore::rotating(json!(["not", "an", "object"]));
        let rotator = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        );
        let error = rotator
            .create_secret(&event("createSecret"))
            .await
            .expect_err("refused");
        assert_eq!(error.error_type(), "InvalidSecretValue");
        assert!(error.to_string().contains(ARN));
        assert_eq!(store.writes(), 0);
    }

    #[tokio::test]
    async fn a_secret_arn_too_long_for_the_binding_tag_fails_before_any_write_unless_binding_is_off(
    ) {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        store.set_arn(&long_arn());
        let error = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        )
        .create_secret(&event("createSecret"))
        .await
        .expect_err("refused");
        assert_eq!(error.error_type(), "SecretArnTooLong");
        assert_eq!(store.writes(), 0);
        let unbound = RotationSettings {
            require_binding_tag: false,
            ..RotationSettings::default()
        };
        rotation(store.clone(), bound_user("alice"), unbound)
            .create_secret(&event("createSecret"))
            .await
            .expect("no tag to hold it");
        assert_eq!(store.writes(), 1);
    }

    #[tokio::test]
    async fn create_warns_when_passwords_expire_before_the_next_rotation() {
        let store = FakeStore::rotating(json!({"username": "alice", "password": "Old-pass-1"}));
        store.set_rotation_rules(RotationRules {
            automatically_after_days: None,
            schedule_expression: Some("rate(30 days)".into()),
        });
        let iam = bound_user("alice");
        iam.set_policy(Some(PasswordPolicy {
            max_password_age_days: Some(14),
            ..PasswordPolicy::iam_default()
        }));
        let report = rotation(store.clone(), iam, RotationSettings::default())
            .create_secret(&event("createSecret"))
            .await
            .expect("a warning, not a failure");
        assert_eq!(report, super::Outcome::Created);
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0]
            .to_string()
            .contains("MaxPasswordAge (14 days)"));
        assert_eq!(store.writes(), 1);
    }
}
