//! [`LoginProfiles`], [`SelfService`], the resets' [`Users`] and the audit's
//! [`CredentialReports`] and [`UserDirectory`] over `aws-sdk-iam`.

use std::collections::HashMap;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_runtime::retries::classifiers::AwsErrorCodeClassifier;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::operation::change_password::ChangePasswordError;
use aws_sdk_iam::operation::create_login_profile::CreateLoginProfileError;
use aws_sdk_iam::operation::update_login_profile::UpdateLoginProfileError;
use aws_sdk_iam::types::EntityType;
use aws_sdk_iam::Client;
use secrecy::{ExposeSecret, SecretString};

use super::api_error;
use crate::accounts::Account;
use crate::audit::ports::{CredentialReports, ListedUser, RawCredentialReport, UserDirectory};
use crate::error::{Result, RotationError};
use crate::password::{CharClass, PasswordPolicy};
use crate::ports::{
    AccessKey, CreateOutcome, IamUser, KeyOwner, LoginProfile, LoginProfiles, SelfService,
};
use crate::reset::ports::Users;

const SERVICE: &str = "iam";

/// Error codes the SDK retries with backoff on top of its defaults. IAM answers
/// `EntityTemporarilyUnmodifiable` (409) while a user is being changed
/// elsewhere; nothing was applied, so the call is safe to repeat.
const TRANSIENT_ERRORS: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "EntityTemporarilyUnmodifiable",
];

/// IAM through the AWS SDK: with the function's own credentials, and, for the
/// self-service strategy, with a user's own access key.
#[derive(Debug, Clone)]
pub struct IamLoginProfiles {
    client: Client,
}

impl IamLoginProfiles {
    /// Wraps a client (built once per process).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Builds the client from the shared SDK configuration, teaching the SDK's
    /// retry strategy that `EntityTemporarilyUnmodifiable` is transient.
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        let iam_config = with_retry_classifiers(aws_sdk_iam::config::Builder::from(config)).build();
        Self::new(Client::from_conf(iam_config))
    }

    /// The same client, signing with a user's own access key instead.
    fn as_user(&self, key: &AccessKey) -> Client {
        let credentials = Credentials::new(
            key.access_key_id.expose_secret(),
            key.secret_access_key.expose_secret(),
            None,
            None,
            "changePasswordCredentials",
        );
        let config = self
            .client
            .config()
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        Client::from_conf(config)
    }
}

/// Adds the classifiers that make the SDK retry `EntityTemporarilyUnmodifiable`
/// on the three calls that write a password.
pub fn with_retry_classifiers(
    builder: aws_sdk_iam::config::Builder,
) -> aws_sdk_iam::config::Builder {
    builder
        .retry_classifier(
            AwsErrorCodeClassifier::<UpdateLoginProfileError>::builder()
                .transient_errors(TRANSIENT_ERRORS)
                .build(),
        )
        .retry_classifier(
            AwsErrorCodeClassifier::<CreateLoginProfileError>::builder()
                .transient_errors(TRANSIENT_ERRORS)
                .build(),
        )
        .retry_classifier(
            AwsErrorCodeClassifier::<ChangePasswordError>::builder()
                .transient_errors(TRANSIENT_ERRORS)
                .build(),
        )
}

impl LoginProfiles for IamLoginProfiles {
    async fn get_user(&self, user: &str) -> Result<IamUser> {
        let output = self
            .client
            .get_user()
            .user_name(user)
            .send()
            .await
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception())
                {
                    RotationError::UserNotFound { user: user.into() }
                } else {
                    api_error(SERVICE, "GetUser", &error)
                }
            })?;
        let found = output.user();
        let tags: HashMap<String, String> = found
            .map(|u| {
                u.tags()
                    .iter()
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(IamUser {
            name: found.map_or(user, |u| u.user_name()).to_owned(),
            tags,
        })
    }

    async fn get_login_profile(&self, user: &str) -> Result<Option<LoginProfile>> {
        match self.client.get_login_profile().user_name(user).send().await {
            Ok(output) => Ok(output.login_profile().map(|profile| LoginProfile {
                password_reset_required: profile.password_reset_required(),
            })),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(api_error(SERVICE, "GetLoginProfile", &error)),
        }
    }

    async fn update_login_profile(
        &self,
        user: &str,
        password: Option<&SecretString>,
        password_reset_required: bool,
    ) -> Result<()> {
        let result = self
            .client
            .update_login_profile()
            .user_name(user)
            .set_password(password.map(|p| p.expose_secret().to_owned()))
            .password_reset_required(password_reset_required)
            .send()
            .await;
        let Err(error) = result else { return Ok(()) };
        let user = user.to_owned();
        Err(match error.as_service_error() {
            // The user was just read, so "no such entity" is the login profile.
            Some(e) if e.is_no_such_entity_exception() => {
                RotationError::LoginProfileMissing { user }
            }
            Some(e) if e.is_password_policy_violation_exception() => {
                RotationError::PasswordPolicyViolation {
                    user,
                    detail: String::new(),
                }
            }
            Some(e) if e.is_entity_temporarily_unmodifiable_exception() => {
                RotationError::EntityTemporarilyUnmodifiable { user }
            }
            Some(e) if e.is_limit_exceeded_exception() => RotationError::LimitExceeded { user },
            _ => api_error(SERVICE, "UpdateLoginProfile", &error),
        })
    }

    async fn create_login_profile(
        &self,
        user: &str,
        password: &SecretString,
        password_reset_required: bool,
    ) -> Result<CreateOutcome> {
        let result = self
            .client
            .create_login_profile()
            .user_name(user)
            .password(password.expose_secret())
            .password_reset_required(password_reset_required)
            .send()
            .await;
        let Err(error) = result else {
            return Ok(CreateOutcome::Created);
        };
        let user = user.to_owned();
        Err(match error.as_service_error() {
            Some(e) if e.is_entity_already_exists_exception() => {
                return Ok(CreateOutcome::AlreadyExists)
            }
            Some(e) if e.is_no_such_entity_exception() => RotationError::UserNotFound { user },
            Some(e) if e.is_password_policy_violation_exception() => {
                RotationError::PasswordPolicyViolation {
                    user,
                    detail: String::new(),
                }
            }
            Some(e) if e.is_limit_exceeded_exception() => RotationError::LimitExceeded { user },
            _ => api_error(SERVICE, "CreateLoginProfile", &error),
        })
    }

    async fn password_policy(&self) -> Result<Option<PasswordPolicy>> {
        let output = match self.client.get_account_password_policy().send().await {
            Ok(output) => output,
            // No account policy: IAM applies its default rules.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(api_error(SERVICE, "GetAccountPasswordPolicy", &error)),
        };
        Ok(output.password_policy().map(|policy| {
            let required = [
                (CharClass::Lowercase, policy.require_lowercase_characters()),
                (CharClass::Uppercase, policy.require_uppercase_characters()),
                (CharClass::Number, policy.require_numbers()),
                (CharClass::Symbol, policy.require_symbols()),
            ];
            PasswordPolicy {
                minimum_length: policy
                    .minimum_password_length()
                    .map_or(6, |n| n.max(1) as usize),
                required_classes: required
                    .into_iter()
                    .filter(|(_, on)| *on)
                    .map(|(class, _)| class)
                    .collect(),
                minimum_distinct_classes: 0,
                reuse_prevention: policy
                    .password_reuse_prevention()
                    .map_or(0, |n| n.max(0) as usize),
                max_password_age_days: policy
                    .max_password_age()
                    .and_then(|days| u32::try_from(days).ok())
                    .filter(|&days| days > 0),
                hard_expiry: policy.hard_expiry().unwrap_or(false),
            }
        }))
    }
}

impl Users for IamLoginProfiles {
    async fn get_user(&self, user: &str) -> Result<IamUser> {
        LoginProfiles::get_user(self, user).await
    }

    async fn has_login_profile(&self, user: &str) -> Result<bool> {
        Ok(self.get_login_profile(user).await?.is_some())
    }
}

impl SelfService for IamLoginProfiles {
    async fn whoami(&self, key: &AccessKey) -> Result<KeyOwner> {
        let output = self
            .as_user(key)
            .get_user()
            .send()
            .await
            .map_err(|error| api_error(SERVICE, "GetUser", &error))?;
        let user = output.user().ok_or_else(|| RotationError::Aws {
            service: SERVICE,
            operation: "GetUser",
            code: "NoUser".into(),
            message: "GetUser signed with the key returned no user (is it the root user's key?)"
                .into(),
        })?;
        let account = Account::of_arn(user.arn())
            .map(|account| account.id)
            .ok_or_else(|| RotationError::Aws {
                service: SERVICE,
                operation: "GetUser",
                code: "NoAccount".into(),
                message: "GetUser signed with the key returned a user ARN that names no account"
                    .into(),
            })?;
        Ok(KeyOwner {
            user: IamUser {
                name: user.user_name().to_owned(),
                tags: user
                    .tags()
                    .iter()
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                    .collect(),
            },
            account,
        })
    }

    async fn change_password(
        &self,
        key: &AccessKey,
        user: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<()> {
        let result = self
            .as_user(key)
            .change_password()
            .old_password(old.expose_secret())
            .new_password(new.expose_secret())
            .send()
            .await;
        let Err(error) = result else { return Ok(()) };
        let user = user.to_owned();
        Err(match error.as_service_error() {
            Some(e) if e.is_password_policy_violation_exception() => {
                RotationError::PasswordPolicyViolation {
                    user,
                    detail: String::new(),
                }
            }
            Some(e) if e.is_entity_temporarily_unmodifiable_exception() => {
                RotationError::EntityTemporarilyUnmodifiable { user }
            }
            Some(e) if e.is_limit_exceeded_exception() => RotationError::LimitExceeded { user },
            Some(e) if e.is_invalid_user_type_exception() => {
                RotationError::InvalidUserType { user }
            }
            Some(e) if e.is_no_such_entity_exception() => {
                RotationError::LoginProfileMissing { user }
            }
            Some(e) if e.is_service_failure_exception() => RotationError::ServiceFailure { user },
            // IAM answers AccessDenied both for a wrong OldPassword and for a user without
            // iam:ChangePassword; only the message tells them apart.
            Some(e) if e.code() == Some("AccessDenied") => {
                let message = e.message().unwrap_or_default().to_owned();
                if message.to_ascii_lowercase().contains("not authorized") {
                    RotationError::ChangePasswordNotAllowed { user, message }
                } else {
                    RotationError::OldPasswordIncorrect { user }
                }
            }
            _ => api_error(SERVICE, "ChangePassword", &error),
        })
    }
}

/// How long the audit waits between reads of a credential report being generated:
/// IAM generates one in seconds for most accounts (15.5 s in all).
const REPORT_WAITS: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

impl CredentialReports for IamLoginProfiles {
    async fn credential_report(&self) -> Result<RawCredentialReport> {
        // A report younger than 4 hours is kept: IAM answers COMPLETE and makes no new one.
        self.client
            .generate_credential_report()
            .send()
            .await
            .map_err(|error| api_error(SERVICE, "GenerateCredentialReport", &error))?;
        let mut waits = REPORT_WAITS.iter();
        loop {
            match self.client.get_credential_report().send().await {
                Ok(output) => {
                    let csv = output
                        .content()
                        .map(|blob| String::from_utf8_lossy(blob.as_ref()).into_owned())
                        .unwrap_or_default();
                    let generated = output
                        .generated_time()
                        .and_then(|date| std::time::SystemTime::try_from(*date).ok());
                    return Ok(RawCredentialReport { generated, csv });
                }
                Err(error)
                    if matches!(error.code(), Some("ReportInProgress" | "ReportNotPresent")) =>
                {
                    match waits.next() {
                        Some(wait) => tokio::time::sleep(*wait).await,
                        None => return Err(api_error(SERVICE, "GetCredentialReport", &error)),
                    }
                }
                Err(error) => return Err(api_error(SERVICE, "GetCredentialReport", &error)),
            }
        }
    }
}

/// Users a page of `GetAccountAuthorizationDetails` holds at most (IAM's `MaxItems`).
pub const USERS_PER_PAGE: i32 = 1000;

impl UserDirectory for IamLoginProfiles {
    async fn users_with_tags(&self) -> Result<Vec<ListedUser>> {
        let mut users = Vec::new();
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::User)
            .max_items(USERS_PER_PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|error| api_error(SERVICE, "GetAccountAuthorizationDetails", &error))?;
            users.extend(page.user_detail_list().iter().map(|user| {
                ListedUser {
                    name: user.user_name().unwrap_or_default().to_owned(),
                    path: user.path().unwrap_or("/").to_owned(),
                    tags: user
                        .tags()
                        .iter()
                        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                        .collect(),
                }
            }));
        }
        Ok(users)
    }
}
