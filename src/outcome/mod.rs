//! What the function tells the world after each invocation, besides its log line:
//! a CloudWatch embedded-metric-format line (no AWS call), and optionally an
//! outcome event on an EventBridge bus.
//!
//! Both carry identifiers and decisions only: never a password, never a
//! rotation token (the leak scan reads every line the function writes).

pub mod metrics;

use std::future::Future;

use serde::Serialize;

use crate::error::Result;

/// The `source` of the function's outcome events.
pub const SOURCE: &str = "iam-password-rotation";

/// One outcome event: a rotation finished or failed, a reset decided, an audit found.
/// Fields an event does not have stay at their default (`None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeEvent {
    /// `IAM Password Rotation Finished`, `... Failed`, or `IAM Password Reset Decision`.
    #[serde(skip)]
    pub detail_type: &'static str,
    /// The IAM user, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The secret ARN (or the id the event named).
    #[serde(rename = "secretArn", skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// The version of the rotation (`ClientRequestToken`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What started it: `rotation` (Secrets Manager) or a reset trigger.
    pub trigger: String,
    /// Who acted, for CloudTrail triggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The triggering event's id (CloudTrail `eventID`).
    #[serde(rename = "eventId", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The step's outcome or the reset's decision.
    pub decision: String,
    /// The error type, when it failed or was refused.
    #[serde(rename = "errorType", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The account acted in or audited, when it is not evident from the secret ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// An audit finding's or summary's sentence (identifiers, dates and counts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The detail-type of a finished rotation.
pub const ROTATION_FINISHED: &str = "IAM Password Rotation Finished";
/// The detail-type of a failed rotation step.
pub const ROTATION_FAILED: &str = "IAM Password Rotation Failed";
/// The detail-type of a reset decision.
pub const RESET_DECISION: &str = "IAM Password Reset Decision";
/// The detail-type of one audit finding.
pub const AUDIT_FINDING: &str = "IAM Password Audit Finding";
/// The detail-type of an audit's summary.
pub const AUDIT_SUMMARY: &str = "IAM Password Audit Summary";

/// Where outcome events go (`OUTCOME_EVENT_BUS`); a no-op when no bus is set.
pub trait OutcomeEvents: Send + Sync {
    /// One `PutEvents` with these events (at most 10).
    fn publish(&self, events: &[OutcomeEvent]) -> impl Future<Output = Result<()>> + Send;
}

/// Publishes `events` ten to a `PutEvents`. Outcome events are a report: failing to
/// put them never fails the invocation, it is logged.
pub async fn publish(outcomes: &impl OutcomeEvents, events: &[OutcomeEvent]) {
    for chunk in events.chunks(10) {
        if let Err(error) = outcomes.publish(chunk).await {
            tracing::warn!(error_type = error.error_type(), error = %error, "outcome events not published");
        }
    }
}
