//! The Lambda entry point: logging, configuration, SDK clients built once, and
//! the runtime loop.

use iam_password_rotation::adapters::{load_sdk_config, IamLoginProfiles, SecretsManagerStore};
use iam_password_rotation::{handle, Config, Rotator};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON when AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
    lambda_runtime::tracing::init_default_subscriber();

    let sdk_config = load_sdk_config().await;
    let rotator = Config::from_env()
        .inspect_err(|error| tracing::error!(error_type = error.error_type(), error = %error, "invalid configuration"))
        .map(|config| {
            Rotator::new(SecretsManagerStore::from_conf(&sdk_config), IamLoginProfiles::from_conf(&sdk_config), config)
        });
    let rotator = &rotator;

    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(rotator.as_ref(), event).await
    }))
    .await
}
