//! [`OutcomeEvents`] over `aws-sdk-eventbridge`: `PutEvents` on `OUTCOME_EVENT_BUS`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::api_error;
use crate::error::{Result, RotationError};
use crate::outcome::{OutcomeEvent, OutcomeEvents, SOURCE};

/// EventBridge through the AWS SDK; publishes nothing when no bus is set.
#[derive(Debug, Clone)]
pub struct EventBridgeOutcomes {
    /// The client and the bus; `None` when no bus is set (no client is built).
    target: Option<(Client, String)>,
}

impl EventBridgeOutcomes {
    /// Wraps a client (built once per process).
    pub fn new(client: Client, bus: Option<String>) -> Self {
        Self {
            target: bus.map(|bus| (client, bus)),
        }
    }

    /// Builds the client from the shared SDK configuration, only when a bus is set.
    pub fn from_conf(config: &aws_config::SdkConfig, bus: Option<String>) -> Self {
        Self {
            target: bus.map(|bus| (Client::new(config), bus)),
        }
    }
}

impl OutcomeEvents for EventBridgeOutcomes {
    async fn publish(&self, events: &[OutcomeEvent]) -> Result<()> {
        let Some((client, bus)) = &self.target else {
            return Ok(());
        };
        if events.is_empty() {
            return Ok(());
        }
        let entries = events
            .iter()
            .map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(SOURCE)
                    .detail_type(event.detail_type)
                    .detail(serde_json::to_string(event).unwrap_or_else(|_| "{}".into()))
                    .build()
            })
            .collect();
        let output = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| api_error("events", "PutEvents", &error))?;
        match output.failed_entry_count() {
            0 => Ok(()),
            failed => {
                let code = output
                    .entries()
                    .iter()
                    .find_map(|entry| entry.error_code())
                    .unwrap_or("Unknown")
                    .to_owned();
                Err(RotationError::Aws {
                    service: "events",
                    operation: "PutEvents",
                    code,
                    message: format!(
                        "{failed} of {} outcome events were not put on {bus}",
                        events.len()
                    ),
                })
            }
        }
    }
}
