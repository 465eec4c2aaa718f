//! The Lambda entry point: logging, configuration, SDK clients built once, and
//! the runtime loop.

// The handler's future nests the SDK's futures of both uses deeply enough that
// the compiler's default query depth (128) is too shallow to lay it out.
#![recursion_limit = "256"]

use std::sync::Arc;

use iam_password_rotation::adapters::{
    account_handlers, load_sdk_config, AssumedRoles, EventBridgeOutcomes, EventBridgeSchedules,
};
use iam_password_rotation::{App, Config};
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
    let mut members = AssumedRoles::new(&sdk_config);
    let home = config.map(|config| {
        let schedules = EventBridgeSchedules::from_conf(&sdk_config, config.scheduler.clone());
        let home = account_handlers(&sdk_config, &config, schedules.clone(), None);
        if let Some(member_role) = config.member_role.clone() {
            members = AssumedRoles::new(&sdk_config).with_member_role(
                member_role,
                move |member_config, role_arn| {
                    account_handlers(member_config, &config, schedules.clone(), Some(role_arn))
                },
            );
        }
        Arc::new(home)
    });
    let app = &App {
        home,
        members,
        outcomes,
    };

    run(service_fn(move |event: LambdaEvent<Value>| {
        app.handle(event)
    }))
    .await
}
