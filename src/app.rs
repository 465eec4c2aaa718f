//! The composition root: the SDK clients, and the handlers of an account composed
//! from the adapters and the uses. Only `main` builds the function through it; no
//! adapter and no use imports it.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::adapters::{
    load_sdk_config, AssumedRoles, EventBridgeOutcomes, EventBridgeSchedules, IamLoginProfiles,
    SecretsManagerStore,
};
use crate::audit::Auditor;
use crate::config::Config;
use crate::error::RotationError;
use crate::reset::Resetter;
use crate::{AccountPorts, App, Handlers, Rotator};

/// The ports of an account over the AWS SDK.
pub struct SdkPorts;

impl AccountPorts for SdkPorts {
    type Store = SecretsManagerStore;
    type Iam = IamLoginProfiles;
    type Secrets = SecretsManagerStore;
    type Schedules = EventBridgeSchedules;
}

/// The handlers of one account over the SDK.
pub type SdkHandlers = Handlers<SdkPorts>;

/// The function over the AWS SDK: the handlers of its own account, member accounts
/// through the member role, and the outcome events.
pub type SdkApp = App<SdkPorts, EventBridgeOutcomes, AssumedRoles<SdkHandlers>>;

/// Builds the SDK configuration and every client the configuration calls for. A
/// configuration error is kept: every invocation reports it.
pub async fn build_app(config: &Result<Config, RotationError>) -> SdkApp {
    let sdk_config = load_sdk_config().await;
    let config = config.as_ref().map_err(Clone::clone);
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
        let home = account_handlers(&sdk_config, config, schedules.clone(), None);
        if let Some(member_role) = config.member_role.clone() {
            let config = config.clone();
            members = AssumedRoles::new(&sdk_config).with_member_role(
                member_role,
                move |member_config, role_arn| {
                    account_handlers(member_config, &config, schedules.clone(), Some(role_arn))
                },
            );
        }
        Arc::new(home)
    });
    App {
        home,
        members,
        outcomes,
    }
}

/// The handlers of the account `sdk_config` signs for. Schedules stay in the
/// function's own account whichever account a reset is for. `own_role`: the role the
/// function acts as there (a member role), whose calls are never drift; `None` in the
/// function's own account (`FUNCTION_ROLE_ARN`).
pub fn account_handlers(
    sdk_config: &SdkConfig,
    config: &Config,
    schedules: EventBridgeSchedules,
    own_role: Option<&str>,
) -> SdkHandlers {
    let store = SecretsManagerStore::from_conf(sdk_config);
    let iam = IamLoginProfiles::from_conf(sdk_config);
    let mut reset = config.reset.clone();
    if let Some(role) = own_role {
        reset.function_role_arn = Some(role.to_owned());
    }
    Handlers {
        resetter: Resetter::new(
            iam.clone(),
            store.clone(),
            schedules,
            reset,
            config.rotation.password_reset_required,
        ),
        auditor: Auditor::new(iam.clone(), store.clone(), config.audit.clone()),
        rotator: Rotator::new(store, iam, config.rotation.clone()),
    }
}
