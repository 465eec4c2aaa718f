//! Rotates the console password of an IAM user kept in AWS Secrets Manager, on
//! Secrets Manager's schedule and when an event asks for it.
//!
//! An invocation is dispatched by its shape to one module per use:
//!
//! - a rotation step (`Step`, `SecretId`, `ClientRequestToken`) from Secrets
//!   Manager → [`rotation`]: the four steps over two ports;
//! - the audit request the daily schedule sends → [`audit`]: reconcile IAM's
//!   credential report with the secrets, one account per invocation;
//! - any other EventBridge event (`source`, `detail-type`, `detail`) → [`reset`]:
//!   decide whether to start a rotation now, later, or not at all.
//!
//! Each acts in the account the invocation names ([`accounts`]): the function's own,
//! or a member account of the organisation through the member role.
//!
//! An account's ports are named once, by an [`AccountPorts`] type, so [`Handlers`] and
//! [`App`] take one type parameter for all of them.
//!
//! Around them: [`event`], [`secret`], [`binding`], [`config`], [`password`] (pure
//! types and rules), [`ports`] (the rotation's traits), [`adapters`] (every port over
//! the AWS SDK), [`app`] (the composition root), [`outcome`] (metric lines and outcome
//! events), [`error`] (the one error type), [`logging`] (the log subscriber). The map:
//! `ARCHITECTURE.md`.

pub mod accounts;
pub mod adapters;
pub mod app;
pub mod audit;
pub mod binding;
pub mod config;
pub mod error;
pub mod event;
pub mod logging;
pub mod outcome;
pub mod password;
pub mod ports;
pub mod reset;
pub mod rotation;
pub mod secret;

use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};

use accounts::ports::MemberAccounts;
use accounts::{route_event, route_step, Account, Route};
use audit::ports::{AccountHandlers, CredentialReports, SecretInventory, UserDirectory};
use audit::{AuditRequest, Auditor};
pub use config::Config;
pub use error::RotationError;
pub use event::{RotationEvent, Step};
use outcome::{metrics, OutcomeEvent, OutcomeEvents};
use reset::ports::{RotationControl, Schedules, Users};
use reset::{ResetReport, ResetRequest, Resetter};
pub use rotation::{Outcome, Rotator, StepReport, Warning};

/// The ports of one account, named once, so that the handlers and the app take one
/// type parameter instead of one per port. The function's are the SDK adapters
/// (`app::SdkPorts`). Static dispatch rather than `Arc<dyn …>`: the ports' methods
/// return `impl Future`, which a trait object cannot, and either costs nothing next
/// to an HTTPS call.
pub trait AccountPorts: 'static {
    /// Secrets Manager, as the rotation needs it.
    type Store: ports::SecretStore;
    /// IAM: login profiles, the self-service calls, users, the credential report.
    type Iam: ports::LoginProfiles + ports::SelfService + Users + CredentialReports + UserDirectory;
    /// Secrets Manager, as the resets and the audit need it.
    type Secrets: RotationControl + SecretInventory;
    /// EventBridge Scheduler.
    type Schedules: Schedules;
}

/// Everything that acts in one account: the rotation, the resets and the audit.
pub struct Handlers<P: AccountPorts> {
    /// The four rotation steps.
    pub rotator: Rotator<P::Store, P::Iam>,
    /// The event-triggered resets.
    pub resetter: Resetter<P::Iam, P::Secrets, P::Schedules>,
    /// The audit of the account.
    pub auditor: Auditor<P::Iam, P::Secrets>,
}

impl<P: AccountPorts> AccountHandlers for Handlers<P> {
    type Users = P::Iam;
    type Secrets = P::Secrets;
    type Schedules = P::Schedules;

    fn auditor(&self) -> &Auditor<P::Iam, P::Secrets> {
        &self.auditor
    }

    fn resetter(&self) -> &Resetter<P::Iam, P::Secrets, P::Schedules> {
        &self.resetter
    }
}

/// The handlers of one account, shared by every invocation that acts there.
pub type Shared<P> = Arc<Handlers<P>>;

/// Everything an invocation may need, built once per process.
pub struct App<P: AccountPorts, O, M> {
    /// The handlers of the function's own account, or the configuration error every
    /// invocation reports.
    pub home: Result<Shared<P>, RotationError>,
    /// The handlers of member accounts, through the member role.
    pub members: M,
    /// Where outcome events go.
    pub outcomes: O,
}

impl<P, O, M> App<P, O, M>
where
    P: AccountPorts,
    O: OutcomeEvents,
    M: MemberAccounts<Handlers = Handlers<P>>,
{
    /// Handles one invocation: a rotation step, an audit request or another
    /// EventBridge event (a reset), told apart by shape, in the account it names.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let home_handlers = self.home.as_ref().map_err(|error| Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        })?;
        let function_arn = event.context.invoked_function_arn.as_str();
        let home = Account::of_arn(function_arn).unwrap_or_else(|| Account {
            partition: "aws".into(),
            id: String::new(),
        });
        let payload = &event.payload;
        if AuditRequest::is_audit(payload) {
            let request = AuditRequest::from_value(payload).inspect_err(rejected)?;
            let invocation = audit::run::Invocation {
                home_handlers,
                home: &home,
                members: &self.members,
                outcomes: &self.outcomes,
                function_arn,
            };
            return Ok(audit::run::handle(&invocation, &request).await);
        }
        if ResetRequest::is_eventbridge(payload) {
            if let Some(requests) = ResetRequest::by_account(payload).inspect_err(rejected)? {
                return self
                    .reset_by_account(&requests, home_handlers, &home, function_arn)
                    .await;
            }
            let route = route_event(payload, &home).inspect_err(rejected)?;
            let handlers = self
                .handlers_for(&route, "the event's subject", home_handlers, &home)
                .await
                .inspect_err(rejected)?;
            return self.reset(&handlers.resetter, payload, function_arn).await;
        }
        let event = RotationEvent::from_value(payload).inspect_err(rejected)?;
        let route = route_step(&event.secret_id, &home);
        let handlers = self
            .handlers_for(&route, &event.secret_id, home_handlers, &home)
            .await;
        self.rotate(handlers, &event).await
    }

    /// The handlers of the account `route` names (`home_handlers` for the function's own).
    async fn handlers_for(
        &self,
        route: &Route,
        subject: &str,
        home_handlers: &Shared<P>,
        home: &Account,
    ) -> Result<Shared<P>, RotationError> {
        match route {
            Route::Home => Ok(Arc::clone(home_handlers)),
            Route::Member(account) if !self.members.enabled() => {
                Err(RotationError::CrossAccountOff {
                    subject: subject.to_owned(),
                    account: account.id.clone(),
                    home: home.id.clone(),
                })
            }
            Route::Member(account) => self.members.handlers(account).await,
        }
    }

    async fn rotate(
        &self,
        handlers: Result<Shared<P>, RotationError>,
        event: &RotationEvent,
    ) -> Result<Value, Diagnostic> {
        let started = Instant::now();
        let result = match handlers {
            Ok(handlers) => handlers.rotator.handle(event).await,
            Err(error) => {
                tracing::error!(secret = %event.secret_id, step = event.step.as_str(), error_type = error.error_type(), error = %error, "step failed");
                Err(error)
            }
        };
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
                secret_arn: Some(event.secret_id.clone()),
                version: Some(event.token.clone()),
                trigger: "rotation".into(),
                decision: decision.into(),
                error_type: error_type.map(str::to_owned),
                ..OutcomeEvent::default()
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
        resetter: &Resetter<P::Iam, P::Secrets, P::Schedules>,
        payload: &Value,
        function_arn: &str,
    ) -> Result<Value, Diagnostic> {
        let request = ResetRequest::from_value(payload).inspect_err(rejected)?;
        let report = resetter.handle(&request, function_arn).await.inspect_err(|error| {
            tracing::error!(
                trigger = request.trigger.as_str(), error_type = error.error_type(), error = %error,
                "reset failed"
            );
        })?;
        let events = reset::record_decisions(&request, &report);
        self.publish(&events).await;
        answer(&report)
    }

    /// The requests of an event whose subjects name their own accounts (a Security Hub
    /// action): each decided in its account, whatever account sent the event. An account
    /// the function cannot act in refuses its own subjects only.
    async fn reset_by_account(
        &self,
        requests: &[ResetRequest],
        home_handlers: &Shared<P>,
        home: &Account,
        function_arn: &str,
    ) -> Result<Value, Diagnostic> {
        let mut all: Option<ResetReport> = None;
        for request in requests {
            let (route, account) = match &request.account {
                Some(account) if account.id != home.id => {
                    (Route::Member(account.clone()), account.id.as_str())
                }
                _ => (Route::Home, home.id.as_str()),
            };
            let subject = format!("the finding's user in account {account}");
            let report = match self
                .handlers_for(&route, &subject, home_handlers, home)
                .await
            {
                Ok(handlers) => handlers
                    .resetter
                    .handle(request, function_arn)
                    .await
                    .inspect_err(|error| {
                        tracing::error!(trigger = request.trigger.as_str(), error_type = error.error_type(), error = %error, "reset failed");
                    })?,
                Err(error) => refused_report(request, &error),
            };
            let events = reset::record_decisions(request, &report);
            self.publish(&events).await;
            match &mut all {
                Some(all) => {
                    all.dry_run |= report.dry_run;
                    all.decisions.extend(report.decisions);
                }
                None => all = Some(report),
            }
        }
        match all {
            Some(report) => answer(&report),
            None => Ok(json!({"Decisions": []})),
        }
    }

    /// Outcome events are a report: failing to put them never fails the invocation.
    async fn publish(&self, events: &[OutcomeEvent]) {
        outcome::publish(&self.outcomes, events).await;
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
                    let failed = !reset::is_refusal(error);
                    entry["Decision"] = json!(if failed { "failed" } else { "refused" });
                    entry["ErrorType"] = json!(error.error_type());
                    entry["Detail"] = json!(error.to_string());
                }
            }
            entry
        })
        .collect();
    json!({"Trigger": report.trigger.as_str(), "DryRun": report.dry_run, "Decisions": decisions})
}

/// A reset's answer: the decisions, or an error when every subject was refused.
fn answer(report: &ResetReport) -> Result<Value, Diagnostic> {
    // Every decision is recorded first; then a failure fails the invocation, and its
    // retry starts no second rotation for the subjects already started.
    if let Some(failure) = report.decisions.iter().find_map(|d| {
        d.decision
            .as_ref()
            .err()
            .filter(|error| !reset::is_refusal(error))
    }) {
        return Err(Diagnostic {
            error_type: failure.error_type().to_owned(),
            error_message: failure.to_string(),
        });
    }
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
    Ok(response(report))
}

/// Every subject of `request` refused with `error` (its account cannot be acted in).
fn refused_report(request: &ResetRequest, error: &RotationError) -> ResetReport {
    let decisions = request
        .subjects
        .iter()
        .map(|subject| {
            let (user, secret) = match subject {
                reset::Subject::User(user) => (Some(user.clone()), None),
                reset::Subject::Secret(secret) => (None, Some(secret.clone())),
            };
            reset::Decided {
                user,
                secret,
                decision: Err(error.clone()),
            }
        })
        .collect();
    ResetReport {
        trigger: request.trigger,
        dry_run: false,
        decisions,
    }
}

/// The log line of an invocation refused before anything was read or written.
fn rejected(error: &RotationError) {
    tracing::error!(error_type = error.error_type(), error = %error, "rejected the invocation");
}
