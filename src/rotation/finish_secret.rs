//! finishSecret: promote the token's version to `AWSCURRENT` and clear `AWSPENDING`.
//!
//! Only a version whose password IAM accepted (`IAM_APPLIED`, recorded by
//! `setSecret`) is promoted: promoting any other would make `AWSCURRENT` a password
//! IAM does not hold. That also makes an operator's direct `finishSecret` invocation
//! a safe way to finish a rotation that stopped midway.

use super::{Checked, Outcome, Rotator, StepReport};
use crate::error::{Result, RotationError};
use crate::event::RotationEvent;
use crate::ports::{
    LoginProfiles, SecretMetadata, SecretStore, SelfService, AWSCURRENT, AWSPENDING, IAM_APPLIED,
};

impl<S: SecretStore, I: LoginProfiles + SelfService> Rotator<S, I> {
    pub(super) async fn finish_secret(&self, event: &RotationEvent) -> Result<StepReport> {
        let outcome = match self.check_secret(event).await? {
            Checked::AlreadyCurrent(metadata) => {
                // A crash between the two label moves below leaves the label behind.
                self.clear_pending(&metadata, &event.token).await?;
                Outcome::AlreadyCurrent
            }
            Checked::Pending(metadata) => {
                if !metadata.has_stage(&event.token, IAM_APPLIED) {
                    return Err(RotationError::NotApplied {
                        secret: metadata.arn,
                        token: event.token.clone(),
                    });
                }
                // Promote first: until AWSCURRENT moves, AWSPENDING is what keeps
                // the password IAM now holds reachable for a retry.
                let previous = metadata.version_with(AWSCURRENT);
                self.store
                    .update_stage(&metadata.arn, AWSCURRENT, Some(&event.token), previous)
                    .await?;
                self.clear_pending(&metadata, &event.token).await?;
                Outcome::Promoted
            }
        };
        self.versions.forget_secret(&event.secret_id);
        Ok(outcome.into())
    }

    async fn clear_pending(&self, metadata: &SecretMetadata, token: &str) -> Result<()> {
        if metadata.has_stage(token, AWSPENDING) {
            self.store
                .update_stage(&metadata.arn, AWSPENDING, None, Some(token))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use crate::rotation::fakes::{
        bound_user, event, rotation, Call, FakeStore, CURRENT, OLD_PASSWORD, TOKEN,
    };
    use crate::rotation::RotationSettings;
    use serde_json::json;

    fn tested() -> FakeStore {
        let store = FakeStore::rotating(json!({"username": "alice", "password": OLD_PASSWORD}));
        store.set_value(
            TOKEN,
            json!({"username": "alice", "password": "New-pass-2"}),
        );
        store.set_stages(TOKEN, &["AWSPENDING", "IAM_APPLIED"]);
        store
    }

    #[tokio::test]
    async fn finish_promotes_the_token_and_leaves_no_pending_label() {
        let store = tested();
        let outcome = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        )
        .finish_secret(&event("finishSecret"))
        .await;
        assert_eq!(outcome.expect("ok"), Outcome::Promoted);
        assert_eq!(
            store.stages(TOKEN),
            vec!["IAM_APPLIED".to_owned(), "AWSCURRENT".to_owned()]
        );
        assert!(store.stages(CURRENT).is_empty());
    }

    #[tokio::test]
    async fn finish_replayed_after_it_completed_writes_nothing() {
        let store = tested();
        let rotator = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        );
        rotator
            .finish_secret(&event("finishSecret"))
            .await
            .expect("first");
        let writes = store.writes();
        assert_eq!(
            rotator
                .finish_secret(&event("finishSecret"))
                .await
                .expect("replay"),
            Outcome::AlreadyCurrent
        );
        assert_eq!(store.writes(), writes);
    }

    #[tokio::test]
    async fn finish_after_a_crash_between_the_label_moves_clears_the_pending_label() {
        let store = tested();
        store.set_stages(TOKEN, &["AWSCURRENT", "AWSPENDING"]);
        let outcome = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        )
        .finish_secret(&event("finishSecret"))
        .await;
        assert_eq!(outcome.expect("ok"), Outcome::AlreadyCurrent);
        assert_eq!(store.stages(TOKEN), vec!["AWSCURRENT".to_owned()]);
        assert_eq!(
            store.calls().last(),
            Some(&Call::UpdateStage("AWSPENDING".into()))
        );
    }

    #[tokio::test]
    async fn finish_refuses_a_pending_version_iam_never_accepted() {
        let store = tested();
        store.set_stages(TOKEN, &["AWSPENDING"]);
        let error = rotation(
            store.clone(),
            bound_user("alice"),
            RotationSettings::default(),
        )
        .finish_secret(&event("finishSecret"))
        .await
        .expect_err("refused");
        assert_eq!(error.error_type(), "PendingNotApplied");
        assert_eq!(store.writes(), 0);
        assert_eq!(store.stages(CURRENT), vec!["AWSCURRENT".to_owned()]);
    }
}
