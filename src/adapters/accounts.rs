//! [`MemberAccounts`] over STS `AssumeRole`, Organizations `ListAccounts` and
//! `DescribeAccount`, and Lambda `Invoke` (the audit's fan-out).
//!
//! One session per member account, kept for its credentials' lifetime: every step,
//! reset and audit in that account in this process reuses it, so STS sees one
//! `AssumeRole` per account per hour (the default session length), not one per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_organizations::types::AccountStatus;
use aws_sdk_sts::error::ProvideErrorMetadata;

use serde_json::Value;

use super::api_error;
use crate::accounts::ports::MemberAccounts;
use crate::accounts::{Account, MemberRoleSettings};
use crate::error::{Result, RotationError};

/// A session is renewed this long before its credentials expire, so no step starts
/// with credentials about to lapse.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Builds the handlers of one member account from its SDK configuration (signed as
/// the member role) and the role's ARN.
type Build<H> = Box<dyn Fn(&SdkConfig, &str) -> H + Send + Sync>;

struct Session<H> {
    expires: SystemTime,
    handlers: Arc<H>,
}

/// The member accounts, reached by assuming the member role in each.
pub struct AssumedRoles<H> {
    base: SdkConfig,
    /// STS and Organizations, built only with a member role: a function serving its
    /// own account never pays for them.
    clients: Option<(aws_sdk_sts::Client, aws_sdk_organizations::Client)>,
    /// Lambda, to start the audit of one account in an invocation of its own.
    lambda: Option<aws_sdk_lambda::Client>,
    member: Option<(MemberRoleSettings, Build<H>)>,
    sessions: Mutex<HashMap<String, Session<H>>>,
}

impl<H> AssumedRoles<H> {
    /// No member role: only the function's own account is served.
    pub fn new(base: &SdkConfig) -> Self {
        Self {
            base: base.clone(),
            clients: None,
            lambda: None,
            member: None,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The same over given STS and Organizations clients (signed as the function).
    pub fn with_clients(
        base: &SdkConfig,
        sts: aws_sdk_sts::Client,
        organizations: aws_sdk_organizations::Client,
    ) -> Self {
        Self {
            clients: Some((sts, organizations)),
            ..Self::new(base)
        }
    }

    /// The same, starting per-account audits through a given Lambda client.
    pub fn with_lambda(mut self, lambda: aws_sdk_lambda::Client) -> Self {
        self.lambda = Some(lambda);
        self
    }

    /// Serves member accounts through `settings`' role, with handlers from `build`.
    pub fn with_member_role(
        mut self,
        settings: MemberRoleSettings,
        build: impl Fn(&SdkConfig, &str) -> H + Send + Sync + 'static,
    ) -> Self {
        if self.clients.is_none() {
            self.clients = Some((
                aws_sdk_sts::Client::new(&self.base),
                aws_sdk_organizations::Client::new(&self.base),
            ));
        }
        if self.lambda.is_none() {
            self.lambda = Some(aws_sdk_lambda::Client::new(&self.base));
        }
        self.member = Some((settings, Box::new(build)));
        self
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session<H>>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<H: Send + Sync> MemberAccounts for AssumedRoles<H> {
    type Handlers = H;

    fn enabled(&self) -> bool {
        self.member.is_some()
    }

    async fn organization_accounts(&self) -> Result<Vec<String>> {
        let mut accounts = Vec::new();
        let Some((_, organizations)) = &self.clients else {
            return Ok(accounts);
        };
        let mut pages = organizations.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| api_error("organizations", "ListAccounts", &error))?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|account| account.status() == Some(&AccountStatus::Active))
                    .filter_map(|account| account.id().map(str::to_owned)),
            );
        }
        Ok(accounts)
    }

    async fn is_organization_account(&self, account: &str) -> Result<bool> {
        let Some((_, organizations)) = &self.clients else {
            return Ok(false);
        };
        match organizations
            .describe_account()
            .account_id(account)
            .send()
            .await
        {
            Ok(output) => Ok(output
                .account()
                .is_some_and(|found| found.status() == Some(&AccountStatus::Active))),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_account_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(api_error("organizations", "DescribeAccount", &error)),
        }
    }

    async fn start_audit(&self, function_arn: &str, payload: &Value) -> Result<()> {
        let Some(lambda) = &self.lambda else {
            return Err(RotationError::InvalidConfig(
                "cross-account rotation is off (MEMBER_ROLE_NAME is not set)".into(),
            ));
        };
        lambda
            .invoke()
            .function_name(function_arn)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|error| api_error("lambda", "Invoke", &error))?;
        Ok(())
    }

    async fn handlers(&self, account: &Account) -> Result<Arc<H>> {
        let (Some((settings, build)), Some((sts, _))) = (&self.member, &self.clients) else {
            return Err(RotationError::InvalidConfig(
                "cross-account rotation is off (MEMBER_ROLE_NAME is not set)".into(),
            ));
        };
        let now = SystemTime::now();
        if let Some(session) = self.sessions().get(&account.id) {
            if session.expires > now + RENEW_BEFORE {
                return Ok(Arc::clone(&session.handlers));
            }
        }
        let role_arn = account.role_arn(&settings.role_name);
        let output = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&settings.session_name)
            .external_id(&settings.external_id)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                Some(refusal) => RotationError::MemberRoleRefused {
                    account: account.id.clone(),
                    role_arn: role_arn.clone(),
                    code: refusal.code().unwrap_or("Unknown").to_owned(),
                    message: refusal.message().unwrap_or_default().to_owned(),
                },
                None => api_error("sts", "AssumeRole", &error),
            })?;
        let Some(assumed) = output.credentials() else {
            return Err(RotationError::MemberRoleRefused {
                account: account.id.clone(),
                role_arn,
                code: "NoCredentials".into(),
                message: "AssumeRole answered without credentials".into(),
            });
        };
        let expires = SystemTime::try_from(*assumed.expiration()).unwrap_or(now);
        let credentials = Credentials::new(
            assumed.access_key_id(),
            assumed.secret_access_key(),
            Some(assumed.session_token().to_owned()),
            Some(expires),
            "AssumeRole",
        );
        // Fixed credentials need no identity cache; the session itself is the cache.
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .identity_cache(IdentityCache::no_cache())
            .build();
        let handlers = Arc::new(build(&config, &role_arn));
        tracing::info!(
            account = %account.id, role = %role_arn,
            expires = %humantime::format_rfc3339_seconds(expires),
            "assumed the member role"
        );
        self.sessions().insert(
            account.id.clone(),
            Session {
                expires,
                handlers: Arc::clone(&handlers),
            },
        );
        Ok(handlers)
    }
}
