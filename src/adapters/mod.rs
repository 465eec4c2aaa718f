//! SDK adapters: the ports implemented over `aws-sdk-secretsmanager`, `aws-sdk-iam`,
//! `aws-sdk-scheduler`, `aws-sdk-eventbridge`, `aws-sdk-sts` and
//! `aws-sdk-organizations`, and the shared SDK configuration. The handlers of an
//! account are composed from them in [`crate::app`].
//!
//! Clients honour the standard SDK environment (`AWS_REGION`, credentials,
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`,
//! `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`), so one binary runs against AWS, a VPC
//! endpoint or an emulator.

pub mod accounts;
pub mod events;
pub mod iam;
pub mod scheduler;
pub mod secrets_manager;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::error::RotationError;

pub use accounts::AssumedRoles;
pub use events::EventBridgeOutcomes;
pub use iam::IamLoginProfiles;
pub use scheduler::EventBridgeSchedules;
pub use secrets_manager::SecretsManagerStore;

/// Attempts per call when `AWS_MAX_ATTEMPTS` is not set, over throttling, 5xx and
/// transient errors (exponential backoff with jitter, at most 20 s between tries).
/// Measured on a fleet (500 secrets, 50 processes, IAM throttled to 25 calls/s,
/// `make bench`): with 5 attempts 2-4 rotations of 500 failed every restart; with 8,
/// none, at 1.10x the rate limit's floor, the slowest step 59 s (the template's
/// timeout is 90 s).
const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Points the HTTPS client's root certificates at the system's bundle file alone.
///
/// Without `SSL_CERT_FILE` or `SSL_CERT_DIR`, `rustls-native-certs` reads the bundle
/// *and* every file of the certificates directory, which on Debian and Amazon Linux
/// holds the same roots again (147 files here): two thirds of the function's start-up.
/// The bundle `openssl-probe` finds first is the one it would have read first; an
/// operator who needs the directory sets `SSL_CERT_DIR`, and either variable set is
/// left alone. Call it first thing in `main`, before any thread exists (it sets an
/// environment variable).
pub fn use_system_certificate_bundle() {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return;
    }
    if let Some(bundle) = openssl_probe::probe().cert_file {
        std::env::set_var("SSL_CERT_FILE", bundle);
    }
}

/// Loads the SDK configuration from the environment, with this function's
/// retry and timeout defaults.
pub async fn load_sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(10))
            .build(),
    );
    // An operator's AWS_MAX_ATTEMPTS wins; AWS_RETRY_MODE alone keeps our attempts.
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
        let mode = std::env::var("AWS_RETRY_MODE").unwrap_or_default();
        let retry = match mode.trim().to_ascii_lowercase().as_str() {
            "" | "standard" => Some(RetryConfig::standard()),
            "adaptive" => Some(RetryConfig::adaptive()),
            // Anything else is the SDK's to accept or refuse.
            _ => None,
        };
        if let Some(retry) = retry {
            loader = loader.retry_config(retry.with_max_attempts(DEFAULT_MAX_ATTEMPTS));
        }
    }
    loader.load().await
}

/// Maps any SDK failure to [`RotationError::Aws`], with the service's error
/// code and message, or the kind of transport failure.
fn api_error<E, R>(
    service: &'static str,
    operation: &'static str,
    error: &SdkError<E, R>,
) -> RotationError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match error {
        SdkError::ServiceError(context) => (
            context.err().code().unwrap_or("Unknown").to_owned(),
            context.err().message().unwrap_or_default().to_owned(),
        ),
        SdkError::TimeoutError(_) => ("Timeout".to_owned(), DisplayErrorContext(error).to_string()),
        SdkError::DispatchFailure(_) => (
            "DispatchFailure".to_owned(),
            DisplayErrorContext(error).to_string(),
        ),
        SdkError::ResponseError(_) => (
            "ResponseError".to_owned(),
            DisplayErrorContext(error).to_string(),
        ),
        _ => (
            "ConstructionFailure".to_owned(),
            DisplayErrorContext(error).to_string(),
        ),
    };
    RotationError::Aws {
        service,
        operation,
        code,
        message,
    }
}
