//! The Lambda entry point: logging, configuration, and the runtime loop.
//!
//! The SDK clients are built by the first invocation, not before the first poll:
//! loading the root certificates and building the clients was most of the function's
//! start-up. The first invocation pays for them instead (`docs/performance.md`
//! measures both). The configuration is read at once, so an invalid one is logged at
//! start-up.

// The handler's future nests the SDK's futures of both uses deeply enough that
// the compiler's default query depth (128) is too shallow to lay it out.
#![recursion_limit = "256"]

use iam_password_rotation::adapters::use_system_certificate_bundle;
use iam_password_rotation::app::build_app;
use iam_password_rotation::Config;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use tokio::sync::OnceCell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Before anything else runs: it sets an environment variable.
    use_system_certificate_bundle();
    // JSON when AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
    iam_password_rotation::logging::init();

    let config = &Config::from_env().inspect_err(|error| {
        tracing::error!(error_type = error.error_type(), error = %error, "invalid configuration")
    });
    let app = &OnceCell::new();
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        app.get_or_init(|| build_app(config))
            .await
            .handle(event)
            .await
    }))
    .await
}
