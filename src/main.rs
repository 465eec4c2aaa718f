//! The Lambda entry point: logging, configuration, SDK clients built once, and
//! the runtime loop.

// The handler's future nests the SDK's futures of both uses deeply enough that
// the compiler's default query depth (128) is too shallow to lay it out.
#![recursion_limit = "256"]

use iam_password_rotation::adapters::{
    load_sdk_config, EventBridgeOutcomes, EventBridgeSchedules, IamLoginProfiles,
    SecretsManagerStore,
};
use iam_password_rotation::reset::Resetter;
use iam_password_rotation::{App, Config, Rotator};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON when AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
    lambda_runtime::tracing::init_default_subscriber();

    let sdk_config = load_sdk_config().await;
    let config = Config::from_env().inspect_err(|error| {
        tracing::error!(error_type = error.error_type(), error = %error, "invalid configuration")
    });
    let outcomes = EventBridgeOutcomes::from_conf(
        &sdk_config,
        config
            .as_ref()
            .ok()
            .and_then(|c| c.outcome_event_bus.clone()),
    );
    let handlers = config.map(|config| {
        let store = SecretsManagerStore::from_conf(&sdk_config);
        let iam = IamLoginProfiles::from_conf(&sdk_config);
        let schedules = EventBridgeSchedules::from_conf(&sdk_config, config.scheduler.clone());
        let resetter = Resetter::new(
            iam.clone(),
            store.clone(),
            schedules,
            config.reset.clone(),
            config.password_reset_required,
        );
        (Rotator::new(store, iam, config), resetter)
    });
    let app = &App { handlers, outcomes };

    run(service_fn(move |event: LambdaEvent<Value>| {
        app.handle(event)
    }))
    .await
}
