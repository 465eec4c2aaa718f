//! [`SecretStore`], the resets' [`RotationControl`] and the audit's [`SecretInventory`]
//! over `aws-sdk-secretsmanager`.

use aws_sdk_secretsmanager::operation::rotate_secret::RotateSecretError;
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

use super::api_error;
use crate::audit::ports::{SecretInventory, SecretSummary};
use crate::error::{Result, RotationError};
use crate::ports::{
    PutOutcome, RotationRules, SecretMetadata, SecretStore, AWSCURRENT, AWSPENDING,
};
use crate::reset::ports::{RotateOutcome, RotationControl, VersionInfo};

const SERVICE: &str = "secretsmanager";

/// Secrets Manager through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    /// Wraps a client (built once per process).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Builds the client from the shared SDK configuration.
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

/// A secret's rotation rules, as `DescribeSecret` and `ListSecrets` give them.
fn rotation_rules(rules: Option<&RotationRulesType>) -> RotationRules {
    rules
        .map(|rules| RotationRules {
            automatically_after_days: rules.automatically_after_days(),
            schedule_expression: rules.schedule_expression().map(str::to_owned),
        })
        .unwrap_or_default()
}

impl SecretStore for SecretsManagerStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata> {
        let output = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    RotationError::SecretNotFound {
                        secret: secret_id.into(),
                    }
                } else {
                    api_error(SERVICE, "DescribeSecret", &error)
                }
            })?;
        Ok(SecretMetadata {
            arn: output.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: output.rotation_enabled().unwrap_or(false),
            versions: output.version_ids_to_stages().cloned().unwrap_or_default(),
            rotation_rules: rotation_rules(output.rotation_rules()),
            rotation_lambda_arn: output.rotation_lambda_arn().map(str::to_owned),
        })
    }

    async fn get_version(&self, secret_id: &str, version_id: &str) -> Result<Option<SecretString>> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_id(version_id)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            // The rotation placeholder has no value until createSecret stores one.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(api_error(SERVICE, "GetSecretValue", &error)),
        };
        match output.secret_string() {
            Some(value) => Ok(Some(SecretString::from(value))),
            None => Err(RotationError::InvalidSecretValue {
                secret: secret_id.into(),
                version: version_id.into(),
                reason: "it holds SecretBinary, not a SecretString".into(),
            }),
        }
    }

    async fn get_current(&self, secret_id: &str) -> Result<Option<SecretString>> {
        RotationControl::current_value(self, secret_id).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome> {
        let result = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose_secret())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(|t| t.expose_secret().to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(error) => Err(api_error(SERVICE, "PutSecretValue", &error)),
        }
    }

    async fn update_stage(
        &self,
        secret_id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> Result<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(move_to.map(str::to_owned))
            .set_remove_from_version_id(remove_from.map(str::to_owned))
            .send()
            .await
            .map_err(|error| api_error(SERVICE, "UpdateSecretVersionStage", &error))?;
        Ok(())
    }
}

impl RotationControl for SecretsManagerStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata> {
        SecretStore::describe(self, secret_id).await
    }

    async fn label(&self, secret_id: &str, label: &str, version: &str) -> Result<()> {
        self.update_stage(secret_id, label, Some(version), None)
            .await
    }

    async fn current_value(&self, secret_id: &str) -> Result<Option<SecretString>> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.secret_string().map(SecretString::from)),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(api_error(SERVICE, "GetSecretValue", &error)),
        }
    }

    async fn versions(&self, secret_id: &str) -> Result<Vec<VersionInfo>> {
        let mut versions = Vec::new();
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(secret_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| api_error(SERVICE, "ListSecretVersionIds", &error))?;
            versions.extend(page.versions().iter().map(|version| {
                VersionInfo {
                    id: version.version_id().unwrap_or_default().to_owned(),
                    stages: version.version_stages().to_vec(),
                    created: version
                        .created_date()
                        .and_then(|date| std::time::SystemTime::try_from(*date).ok()),
                }
            }));
        }
        Ok(versions)
    }

    async fn rotate(&self, secret_id: &str, token: &str) -> Result<RotateOutcome> {
        let result = self
            .client
            .rotate_secret()
            .secret_id(secret_id)
            .client_request_token(token)
            .send()
            .await;
        match result {
            Ok(output) => Ok(RotateOutcome::Started(
                output.version_id().unwrap_or_default().to_owned(),
            )),
            // Secrets Manager's answer while AWSPENDING is on another version than
            // AWSCURRENT: "A previous rotation isn't complete. That rotation will be
            // reattempted." Other InvalidRequestExceptions stay errors.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(RotateSecretError::InvalidRequestException(e))
                        if e.message().is_some_and(|m| m.to_ascii_lowercase().contains("previous rotation"))
                ) =>
            {
                Ok(RotateOutcome::InProgress)
            }
            Err(error)
                if error
                    .as_service_error()
                    .and_then(aws_sdk_secretsmanager::error::ProvideErrorMetadata::code)
                    == Some("ResourceExistsException") =>
            {
                Ok(RotateOutcome::AlreadyStarted)
            }
            Err(error) => Err(api_error(SERVICE, "RotateSecret", &error)),
        }
    }
}

impl SecretInventory for SecretsManagerStore {
    async fn list_secrets(&self) -> Result<Vec<SecretSummary>> {
        let mut secrets = Vec::new();
        let mut pages = self
            .client
            .list_secrets()
            .include_planned_deletion(true)
            .max_results(100)
            .into_paginator()
            .send();
        let time = |date: Option<&aws_sdk_secretsmanager::primitives::DateTime>| {
            date.and_then(|date| std::time::SystemTime::try_from(*date).ok())
        };
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| api_error(SERVICE, "ListSecrets", &error))?;
            secrets.extend(page.secret_list().iter().map(|entry| {
                SecretSummary {
                    arn: entry.arn().unwrap_or_default().to_owned(),
                    rotation_enabled: entry.rotation_enabled().unwrap_or(false),
                    rotation_lambda_arn: entry.rotation_lambda_arn().map(str::to_owned),
                    rotation_rules: rotation_rules(entry.rotation_rules()),
                    last_rotated: time(entry.last_rotated_date()),
                    created: time(entry.created_date()),
                    versions: entry
                        .secret_versions_to_stages()
                        .cloned()
                        .unwrap_or_default(),
                    deleted: entry.deleted_date().is_some(),
                }
            }));
        }
        Ok(secrets)
    }
}
