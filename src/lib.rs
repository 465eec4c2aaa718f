//! Rotates the console password of an IAM user kept in AWS Secrets Manager.
//!
//! Secrets Manager invokes the function for each step of a rotation
//! (`createSecret`, `setSecret`, `testSecret`, `finishSecret`) of a secret
//! `{"username": "...", "password": "..."}`. The layout follows ports and adapters:
//!
//! - [`event`], [`secret`], [`config`], [`password`]: pure types and rules;
//! - [`ports`]: the two small traits the logic talks through;
//! - [`rotation`]: the four steps, written against the ports only;
//! - [`adapters`]: the ports over the AWS SDK;
//! - [`error`]: the one error type and its Lambda `Diagnostic`.

pub mod adapters;
pub mod config;
pub mod error;
pub mod event;
pub mod password;
pub mod ports;
pub mod rotation;
pub mod secret;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};

pub use config::Config;
pub use error::RotationError;
pub use event::{RotationEvent, Step};
pub use rotation::{Outcome, Rotator, StepReport, Warning};

/// Handles one invocation: parses the event and runs its step.
///
/// `rotator` is the error when the configuration was invalid at start-up: every
/// invocation then fails with it, so the cause shows in Secrets Manager too.
pub async fn handle<S, I>(
    rotator: Result<&Rotator<S, I>, &RotationError>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    S: ports::SecretStore,
    I: ports::LoginProfiles,
{
    let rotator = rotator.map_err(|error| Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.to_string(),
    })?;
    let event = RotationEvent::from_value(&event.payload).inspect_err(|error| {
        tracing::error!(error_type = error.error_type(), error = %error, "rejected the invocation");
    })?;
    let report = rotator.handle(&event).await?;
    let warnings: Vec<&str> = report.warnings.iter().map(Warning::warning_type).collect();
    Ok(json!({
        "Step": event.step.as_str(), "SecretId": event.secret_id,
        "Outcome": report.outcome.as_str(), "Warnings": warnings,
    }))
}
