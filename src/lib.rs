//! Rotates the console password of an IAM user kept in AWS Secrets Manager, on
//! Secrets Manager's schedule and when an event asks for it.
//!
//! An invocation is dispatched by its shape to one module per use:
//!
//! - a rotation step (`Step`, `SecretId`, `ClientRequestToken`) from Secrets
//!   Manager → [`rotation`]: the four steps over two ports;
//! - an EventBridge event (`source`, `detail-type`, `detail`) → [`reset`]: decide
//!   whether to start a rotation now, later, or not at all.
//!
//! Around them: [`event`], [`secret`], [`config`], [`password`] (pure types and
//! rules), [`ports`] (the rotation's traits), [`adapters`] (every port over the AWS
//! SDK), [`outcome`] (metric lines and outcome events), [`error`] (the one error type).

pub mod adapters;
pub mod config;
pub mod error;
pub mod event;
pub mod outcome;
pub mod password;
pub mod ports;
pub mod reset;
pub mod rotation;
pub mod secret;

use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};

pub use config::Config;
pub use error::RotationError;
pub use event::{RotationEvent, Step};
use outcome::{metrics, OutcomeEvent, OutcomeEvents};
use reset::ports::{RotationControl, Schedules, Users};
use reset::{Decision, ResetReport, ResetRequest, Resetter};
pub use rotation::{Outcome, Rotator, StepReport, Warning};

/// The two uses of the function: the rotation steps and the resets.
pub type Handlers<S, I, U, R, Sch> = (Rotator<S, I>, Resetter<U, R, Sch>);

/// Everything an invocation may need, built once per process.
pub struct App<S, I, U, R, Sch, O> {
    /// The rotation and the resets, or the configuration error every invocation reports.
    pub handlers: Result<Handlers<S, I, U, R, Sch>, RotationError>,
    /// Where outcome events go.
    pub outcomes: O,
}

impl<S, I, U, R, Sch, O> App<S, I, U, R, Sch, O>
where
    S: ports::SecretStore,
    I: ports::LoginProfiles + ports::SelfService,
    U: Users,
    R: RotationControl,
    Sch: Schedules,
    O: OutcomeEvents,
{
    /// Handles one invocation: a rotation step or an EventBridge event, told apart by shape.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let (rotator, resetter) = self.handlers.as_ref().map_err(|error| Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        })?;
        let payload = &event.payload;
        if ResetRequest::is_eventbridge(payload) {
            return self
                .reset(resetter, payload, &event.context.invoked_function_arn)
                .await;
        }
        self.rotate(rotator, payload).await
    }

    async fn rotate(&self, rotator: &Rotator<S, I>, payload: &Value) -> Result<Value, Diagnostic> {
        let event = RotationEvent::from_value(payload).inspect_err(|error| {
            tracing::error!(error_type = error.error_type(), error = %error, "rejected the invocation");
        })?;
        let started = Instant::now();
        let result = rotator.handle(&event).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let promoted = matches!(&result, Ok(report) if report.outcome == Outcome::Promoted);
        println!(
            "{}",
            metrics::step_line(event.step.as_str(), result.is_ok(), duration_ms, promoted)
        );
        let outcome = match &result {
            Ok(_) if !promoted => None,
            Ok(report) => Some((outcome::ROTATION_FINISHED, report.outcome.as_str(), None)),
            Err(error) => Some((outcome::ROTATION_FAILED, "failed", Some(error.error_type()))),
        };
        if let Some((detail_type, decision, error_type)) = outcome {
            self.publish(&[OutcomeEvent {
                detail_type,
                user: None,
                secret_arn: Some(event.secret_id.clone()),
                version: Some(event.token.clone()),
                trigger: "rotation".into(),
                principal: None,
                event_id: None,
                decision: decision.into(),
                error_type: error_type.map(str::to_owned),
            }])
            .await;
        }
        let report = result?;
        let warnings: Vec<&str> = report.warnings.iter().map(Warning::warning_type).collect();
        Ok(json!({
            "Step": event.step.as_str(), "SecretId": event.secret_id,
            "Outcome": report.outcome.as_str(), "Warnings": warnings,
        }))
    }

    async fn reset(
        &self,
        resetter: &Resetter<U, R, Sch>,
        payload: &Value,
        function_arn: &str,
    ) -> Result<Value, Diagnostic> {
        let request = ResetRequest::from_value(payload).inspect_err(|error| {
            tracing::error!(error_type = error.error_type(), error = %error, "rejected the invocation");
        })?;
        let report = resetter.handle(&request, function_arn).await.inspect_err(|error| {
            tracing::error!(
                trigger = request.trigger.as_str(), error_type = error.error_type(), error = %error,
                "reset failed"
            );
        })?;
        let events = self.record_decisions(&request, &report);
        self.publish(&events).await;
        let refused: Vec<&RotationError> = report
            .decisions
            .iter()
            .filter_map(|decided| decided.decision.as_ref().err())
            .collect();
        if let (true, Some(first)) = (refused.len() == report.decisions.len(), refused.first()) {
            // Every subject refused: the caller asked for something that cannot be done.
            let message = refused
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Diagnostic {
                error_type: first.error_type().to_owned(),
                error_message: message,
            });
        }
        Ok(response(&report))
    }

    /// One log line, one metric line and one outcome event per decision.
    fn record_decisions(&self, request: &ResetRequest, report: &ResetReport) -> Vec<OutcomeEvent> {
        let trigger = request.trigger.as_str();
        report
            .decisions
            .iter()
            .map(|decided| {
                let (decision, detail, error_type) = match &decided.decision {
                    Ok(decision) => (decision.as_str(), decision.detail(), None),
                    Err(error) => ("refused", error.to_string(), Some(error.error_type())),
                };
                let user = decided.user.as_deref().unwrap_or("");
                let secret = decided.secret.as_deref().unwrap_or("");
                let event_id = request.event_id.as_deref().unwrap_or("");
                if let Some(error_type) = error_type {
                    tracing::warn!(trigger, user, secret, event_id, decision, error_type, detail = %detail, dry_run = report.dry_run, "reset refused");
                } else {
                    tracing::info!(trigger, user, secret, event_id, decision, detail = %detail, dry_run = report.dry_run, "reset decided");
                }
                println!("{}", metrics::reset_line(trigger, decision));
                OutcomeEvent {
                    detail_type: outcome::RESET_DECISION,
                    user: decided.user.clone(),
                    secret_arn: decided.secret.clone(),
                    version: match &decided.decision {
                        Ok(Decision::RotationStarted(version)) => Some(version.clone()),
                        _ => None,
                    },
                    trigger: trigger.into(),
                    principal: request.principal.clone(),
                    event_id: request.event_id.clone(),
                    decision: if report.dry_run { format!("dry_run:{decision}") } else { decision.into() },
                    error_type: error_type.map(str::to_owned),
                }
            })
            .collect()
    }

    /// Outcome events are a report: failing to put them never fails the invocation.
    async fn publish(&self, events: &[OutcomeEvent]) {
        for chunk in events.chunks(10) {
            if let Err(error) = self.outcomes.publish(chunk).await {
                tracing::warn!(error_type = error.error_type(), error = %error, "outcome events not published");
            }
        }
    }
}

/// The invocation's answer to a reset: one entry per user or secret.
fn response(report: &ResetReport) -> Value {
    let decisions: Vec<Value> = report
        .decisions
        .iter()
        .map(|decided| {
            let mut entry = json!({"User": decided.user, "SecretId": decided.secret});
            match &decided.decision {
                Ok(decision) if report.dry_run => {
                    entry["Decision"] = json!("dry_run");
                    entry["WouldDo"] = json!(decision.as_str());
                    entry["Detail"] = json!(decision.detail());
                }
                Ok(decision) => {
                    entry["Decision"] = json!(decision.as_str());
                    entry["Detail"] = json!(decision.detail());
                }
                Err(error) => {
                    entry["Decision"] = json!("refused");
                    entry["ErrorType"] = json!(error.error_type());
                    entry["Detail"] = json!(error.to_string());
                }
            }
            entry
        })
        .collect();
    json!({"Trigger": report.trigger.as_str(), "DryRun": report.dry_run, "Decisions": decisions})
}
