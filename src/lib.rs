//! Rotates the console password of an IAM user kept in AWS Secrets Manager, on
//! Secrets Manager's schedule and when an event asks for it.
//!
//! An invocation is dispatched by its shape to one module per use:
//!
//! - a rotation step (`Step`, `SecretId`, `ClientRequestToken`) from Secrets
//!   Manager → [`rotation`]: the four steps over two ports;
//! - the audit request the daily schedule sends → [`audit`]: reconcile IAM's
//!   credential report with the secrets, account by account;
//! - any other EventBridge event (`source`, `detail-type`, `detail`) → [`reset`]:
//!   decide whether to start a rotation now, later, or not at all.
//!
//! Each acts in the account the invocation names ([`accounts`]): the function's own,
//! or a member account of the organisation through the member role.
//!
//! Around them: [`event`], [`secret`], [`config`], [`password`] (pure types and
//! rules), [`ports`] (the rotation's traits), [`adapters`] (every port over the AWS
//! SDK), [`outcome`] (metric lines and outcome events), [`error`] (the one error type),
//! [`logging`] (the log subscriber).

pub mod accounts;
pub mod adapters;
pub mod audit;
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
use audit::ports::{CredentialReports, SecretInventory};
use audit::{AccountAudit, AuditRequest, Auditor, Finding, FindingKind};
pub use config::Config;
pub use error::RotationError;
pub use event::{RotationEvent, Step};
use outcome::{metrics, OutcomeEvent, OutcomeEvents};
use reset::ports::{RotationControl, Schedules, Users};
use reset::{Decision, ResetReport, ResetRequest, Resetter};
pub use rotation::{Outcome, Rotator, StepReport, Warning};

/// Everything that acts in one account: the rotation, the resets and the audit.
pub struct Handlers<S, I, U, R, Sch> {
    /// The four rotation steps.
    pub rotator: Rotator<S, I>,
    /// The event-triggered resets.
    pub resetter: Resetter<U, R, Sch>,
    /// The audit of the account.
    pub auditor: Auditor<U, R>,
}

/// The handlers of one account, shared by every invocation that acts there.
pub type Shared<S, I, U, R, Sch> = Arc<Handlers<S, I, U, R, Sch>>;

/// Everything an invocation may need, built once per process.
pub struct App<S, I, U, R, Sch, O, M> {
    /// The handlers of the function's own account, or the configuration error every
    /// invocation reports.
    pub home: Result<Shared<S, I, U, R, Sch>, RotationError>,
    /// The handlers of member accounts, through the member role.
    pub members: M,
    /// Where outcome events go.
    pub outcomes: O,
}

impl<S, I, U, R, Sch, O, M> App<S, I, U, R, Sch, O, M>
where
    S: ports::SecretStore,
    I: ports::LoginProfiles + ports::SelfService,
    U: Users + CredentialReports,
    R: RotationControl + SecretInventory,
    Sch: Schedules,
    O: OutcomeEvents,
    M: MemberAccounts<Handlers = Handlers<S, I, U, R, Sch>>,
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
            return Ok(self
                .audit(&request, home_handlers, &home, function_arn)
                .await);
        }
        if ResetRequest::is_eventbridge(payload) {
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
        home_handlers: &Shared<S, I, U, R, Sch>,
        home: &Account,
    ) -> Result<Shared<S, I, U, R, Sch>, RotationError> {
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
        handlers: Result<Shared<S, I, U, R, Sch>, RotationError>,
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
        resetter: &Resetter<U, R, Sch>,
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
        let events = self.record_decisions(&request, &report);
        self.publish(&events).await;
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
        Ok(response(&report))
    }

    /// Audits every account the request, the settings or the organisation name: one
    /// log line and outcome event per finding, a metric line per account, one summary.
    /// An account that cannot be audited is itself a finding; the audit goes on.
    async fn audit(
        &self,
        request: &AuditRequest,
        home_handlers: &Shared<S, I, U, R, Sch>,
        home: &Account,
        function_arn: &str,
    ) -> Value {
        let settings = home_handlers.auditor.settings();
        let reset_drift = request.reset_drift.unwrap_or(settings.reset_drift);
        let mut findings: Vec<Finding> = Vec::new();
        let accounts = match request
            .accounts
            .clone()
            .or_else(|| settings.accounts.clone())
        {
            Some(ids) => ids,
            None if self.members.enabled() => match self.members.organization_accounts().await {
                Ok(mut ids) => {
                    ids.retain(|id| *id != home.id);
                    ids.insert(0, home.id.clone());
                    ids
                }
                Err(error) => {
                    findings.push(unreachable_finding(&home.id, &error));
                    vec![home.id.clone()]
                }
            },
            None => vec![home.id.clone()],
        };
        let mut audited = Vec::new();
        let mut resets = Vec::new();
        for id in &accounts {
            let route = Route::of_account(id, home);
            let result = match self
                .handlers_for(&route, &format!("account {id}"), home_handlers, home)
                .await
            {
                Ok(handlers) => handlers
                    .auditor
                    .audit(id, function_arn)
                    .await
                    .map(|audit| (handlers, audit)),
                Err(error) => Err(error),
            };
            let (handlers, audit) = match result {
                Ok(found) => found,
                Err(error) => {
                    findings.push(unreachable_finding(id, &error));
                    continue;
                }
            };
            println!(
                "{}",
                metrics::audit_line(
                    id,
                    audit.console_users as u64,
                    &count_by_kind(&audit.findings)
                )
            );
            if reset_drift {
                for finding in audit
                    .findings
                    .iter()
                    .filter(|f| f.kind == FindingKind::PasswordDrift)
                {
                    let Some(secret) = &finding.secret else {
                        continue;
                    };
                    let reset = ResetRequest::audit(secret, finding.changed, request.dry_run);
                    match handlers.resetter.handle(&reset, function_arn).await {
                        Ok(report) => {
                            let events = self.record_decisions(&reset, &report);
                            self.publish(&events).await;
                            resets.push(response(&report));
                        }
                        Err(error) => {
                            tracing::error!(trigger = "audit", secret = %secret, error_type = error.error_type(), error = %error, "reset failed");
                            resets.push(json!({"SecretId": secret, "Decision": "failed", "ErrorType": error.error_type()}));
                        }
                    }
                }
            }
            findings.extend(audit.findings.iter().cloned());
            audited.push(audit);
        }
        let summary = summary(&accounts, &audited, &findings);
        self.report_audit(&accounts, &audited, &findings, &summary)
            .await;
        audit_response(&accounts, &audited, &findings, &resets, summary)
    }

    /// The audit's log lines and outcome events: one per finding, and the summary.
    async fn report_audit(
        &self,
        accounts: &[String],
        audited: &[AccountAudit],
        findings: &[Finding],
        summary: &str,
    ) {
        let mut events = Vec::with_capacity(findings.len() + 1);
        for finding in findings {
            let (user, secret) = (
                finding.user.as_deref().unwrap_or(""),
                finding.secret.as_deref().unwrap_or(""),
            );
            tracing::warn!(finding = finding.kind.as_str(), account = %finding.account, user, secret, detail = %finding.detail, "audit finding");
            events.push(OutcomeEvent {
                detail_type: outcome::AUDIT_FINDING,
                user: finding.user.clone(),
                secret_arn: finding.secret.clone(),
                trigger: "audit".into(),
                decision: finding.kind.as_str().into(),
                account: Some(finding.account.clone()),
                detail: Some(finding.detail.clone()),
                ..OutcomeEvent::default()
            });
        }
        tracing::info!(
            accounts = accounts.len(),
            audited = audited.len(),
            findings = findings.len(),
            summary,
            "audit summary"
        );
        events.push(OutcomeEvent {
            detail_type: outcome::AUDIT_SUMMARY,
            trigger: "audit".into(),
            decision: if findings.is_empty() {
                "clean".into()
            } else {
                "findings".into()
            },
            detail: Some(summary.to_owned()),
            ..OutcomeEvent::default()
        });
        self.publish(&events).await;
    }

    /// One log line, one metric line and one outcome event per decision.
    fn record_decisions(&self, request: &ResetRequest, report: &ResetReport) -> Vec<OutcomeEvent> {
        let trigger = request.trigger.as_str();
        report
            .decisions
            .iter()
            .filter_map(|decided| {
                let (decision, detail, error_type) = match &decided.decision {
                    Ok(decision) => (decision.as_str(), decision.detail(), None),
                    Err(error) if reset::is_refusal(error) => ("refused", error.to_string(), Some(error.error_type())),
                    Err(error) => ("failed", error.to_string(), Some(error.error_type())),
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
                if matches!(decided.decision, Ok(Decision::NotOurs(_))) {
                    // Not this function's user or secret: no outcome event.
                    return None;
                }
                Some(OutcomeEvent {
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
                    ..OutcomeEvent::default()
                })
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

/// The log line of an invocation refused before anything was read or written.
fn rejected(error: &RotationError) {
    tracing::error!(error_type = error.error_type(), error = %error, "rejected the invocation");
}

/// An account the audit could not read: a finding, not a failure of the audit.
fn unreachable_finding(account: &str, error: &RotationError) -> Finding {
    Finding {
        kind: FindingKind::AccountUnreachable,
        account: account.to_owned(),
        user: None,
        secret: None,
        detail: format!("{}: {error}", error.error_type()),
        changed: None,
    }
}

/// How many findings of each kind, every kind listed.
fn count_by_kind(findings: &[Finding]) -> Vec<(&'static str, u64)> {
    FindingKind::ALL
        .iter()
        .map(|kind| {
            let count = findings.iter().filter(|f| f.kind == *kind).count();
            (kind.as_str(), count as u64)
        })
        .collect()
}

/// The one-line summary: accounts, users, and findings by kind.
fn summary(accounts: &[String], audited: &[AccountAudit], findings: &[Finding]) -> String {
    let users: usize = audited.iter().map(|a| a.console_users).sum();
    let enrolled: usize = audited.iter().map(|a| a.enrolled).sum();
    let by_kind: Vec<String> = count_by_kind(findings)
        .iter()
        .map(|(kind, count)| format!("{kind}={count}"))
        .collect();
    format!(
        "{} of {} accounts audited, {users} console users, {enrolled} enrolled, {} findings: {}",
        audited.len(),
        accounts.len(),
        findings.len(),
        by_kind.join(" ")
    )
}

/// The audit invocation's answer.
fn audit_response(
    accounts: &[String],
    audited: &[AccountAudit],
    findings: &[Finding],
    resets: &[Value],
    summary: String,
) -> Value {
    let per_account: Vec<Value> = audited
        .iter()
        .map(|audit| {
            json!({
                "Account": audit.account,
                "ConsoleUsers": audit.console_users,
                "Enrolled": audit.enrolled,
                "ReportGenerated": audit.report_generated.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            })
        })
        .collect();
    let listed: Vec<Value> = findings
        .iter()
        .map(|f| json!({"Kind": f.kind.as_str(), "Account": f.account, "User": f.user, "SecretId": f.secret, "Detail": f.detail}))
        .collect();
    json!({
        "Audit": {"Accounts": accounts, "Audited": per_account, "Findings": listed, "Resets": resets,
                  "Summary": summary},
    })
}
