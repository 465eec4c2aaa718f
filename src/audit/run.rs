//! The audit as an invocation runs it: which accounts it may audit, one account per
//! invocation, and what it tells the world.
//!
//! An audit request is narrowed to a [`Scope`]: the accounts and the drift resets
//! the function's settings allow (`AUDIT_ACCOUNTS`, else the organisation's active
//! accounts with a member role, else the function's own account; `AUDIT_RESET_DRIFT`).
//! A request may narrow them (`detail.accounts`, `detail.resetDrift: false`,
//! `detail.dryRun`), never widen them: an account outside them is refused by name in
//! the log, and `resetDrift: true` does nothing the settings do not already do. Lambda
//! does not say who invoked the function, so nothing else is trusted.
//!
//! A scope of one account is audited in this invocation. A scope of several fans out:
//! one asynchronous invocation of this function per account, each asking for that
//! account alone, and each checked against the settings again when it arrives (a
//! forged one can only ask for an audit the settings already allow).
//!
//! Each finding is logged and published as it is judged (outcome events ten to a
//! `PutEvents`), so an invocation that times out loses only what it had not judged
//! yet, and never another account's findings. The response carries counts only:
//! user names and secret ARNs go to the log and the outcome events.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::event::AUDIT_REQUESTED;
use super::ports::{AccountHandlers, FindingSink};
use super::{AccountAudit, AuditRequest, Finding, FindingKind};
use crate::accounts::ports::MemberAccounts;
use crate::accounts::{Account, Route};
use crate::error::{Result, RotationError};
use crate::outcome::{self, metrics, OutcomeEvent, OutcomeEvents};
use crate::reset::event::SOURCE;
use crate::reset::{self, ResetRequest};

/// Outcome events are sent ten to a `PutEvents` (EventBridge's limit per call).
const EVENTS_PER_CALL: usize = 10;

/// What one invocation may reach.
pub struct Invocation<'a, H, M, O> {
    /// The handlers of the function's own account.
    pub home_handlers: &'a Arc<H>,
    /// The function's own account (from its ARN).
    pub home: &'a Account,
    /// Member accounts, through the member role.
    pub members: &'a M,
    /// Where outcome events go.
    pub outcomes: &'a O,
    /// This function's ARN, as Lambda gave it to the invocation.
    pub function_arn: &'a str,
}

/// The accounts and resets of one audit: the settings', narrowed by the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The accounts to audit, the function's own first when it is among them.
    pub accounts: Vec<String>,
    /// Accounts the request named that the settings do not allow.
    pub refused: Vec<String>,
    /// Start a reset for each drifted password.
    pub reset_drift: bool,
    /// Report what the resets would do, start none.
    pub dry_run: bool,
}

/// Handles one audit request: audits the one account of its scope here, or starts
/// one invocation per account. Returns counts, never a user or a secret.
pub async fn handle<H, M, O>(invocation: &Invocation<'_, H, M, O>, request: &AuditRequest) -> Value
where
    H: AccountHandlers,
    M: MemberAccounts<Handlers = H>,
    O: OutcomeEvents,
{
    let scope = scope(invocation, request).await;
    if !scope.refused.is_empty() {
        tracing::warn!(
            refused = %scope.refused.join(","),
            "the audit request names accounts outside the function's settings (AUDIT_ACCOUNTS, the organisation): not audited"
        );
    }
    let settings = invocation.home_handlers.auditor().settings();
    if request.reset_drift == Some(true) && !settings.reset_drift {
        tracing::warn!(
            "the audit request asks for drift resets and AUDIT_RESET_DRIFT=false: none is started"
        );
    }
    match scope.accounts.as_slice() {
        [account] => {
            let (audit, resets) = audit_account(invocation, account, &scope).await;
            account_response(&scope, audit.as_ref(), &resets)
        }
        accounts => {
            let mut started = 0;
            for account in accounts {
                match start(invocation, account, &scope).await {
                    Ok(()) => started += 1,
                    Err(error) => {
                        let finding =
                            unreachable(account, "its audit could not be started", &error);
                        emit(invocation.outcomes, &[finding]).await;
                    }
                }
            }
            tracing::info!(
                accounts = accounts.len(),
                started,
                refused = scope.refused.len(),
                reset_drift = scope.reset_drift,
                "audit started: one invocation per account"
            );
            json!({"Audit": {
                "Accounts": accounts.len(), "Started": started,
                "NotStarted": accounts.len() - started, "Refused": scope.refused.len(),
                "ResetDrift": scope.reset_drift, "DryRun": scope.dry_run,
            }})
        }
    }
}

/// The request narrowed by the settings. An account whose membership cannot be read
/// is a finding (published here) and is not audited.
pub async fn scope<H, M, O>(invocation: &Invocation<'_, H, M, O>, request: &AuditRequest) -> Scope
where
    H: AccountHandlers,
    M: MemberAccounts<Handlers = H>,
    O: OutcomeEvents,
{
    let settings = invocation.home_handlers.auditor().settings();
    let home = &invocation.home.id;
    let mut scope = Scope {
        reset_drift: settings.reset_drift && request.reset_drift != Some(false),
        dry_run: request.dry_run,
        ..Scope::default()
    };
    let mut unreadable = Vec::new();
    match (&settings.accounts, &request.accounts) {
        (Some(allowed), None) => scope.accounts = allowed.clone(),
        (Some(allowed), Some(asked)) => {
            for id in asked {
                if allowed.contains(id) {
                    scope.accounts.push(id.clone());
                } else {
                    scope.refused.push(id.clone());
                }
            }
        }
        (None, None) if invocation.members.enabled() => {
            match invocation.members.organization_accounts().await {
                Ok(ids) => {
                    scope.accounts.push(home.clone());
                    scope
                        .accounts
                        .extend(ids.into_iter().filter(|id| id != home));
                }
                Err(error) => {
                    unreadable.push(unreachable(
                        home,
                        "the organisation's accounts could not be listed",
                        &error,
                    ));
                    scope.accounts.push(home.clone());
                }
            }
        }
        (None, Some(asked)) if invocation.members.enabled() => {
            for id in asked {
                if id == home {
                    scope.accounts.push(id.clone());
                    continue;
                }
                match invocation.members.is_organization_account(id).await {
                    Ok(true) => scope.accounts.push(id.clone()),
                    Ok(false) => scope.refused.push(id.clone()),
                    Err(error) => unreadable.push(unreachable(
                        id,
                        "whether it is an account of the organisation could not be read",
                        &error,
                    )),
                }
            }
        }
        (None, asked) => {
            let asked = asked.clone().unwrap_or_else(|| vec![home.clone()]);
            for id in asked {
                if id == *home {
                    scope.accounts.push(id);
                } else {
                    scope.refused.push(id);
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    scope.accounts.retain(|id| seen.insert(id.clone()));
    emit(invocation.outcomes, &unreadable).await;
    scope
}

/// Starts the audit of `account` in an invocation of its own.
async fn start<H, M, O>(
    invocation: &Invocation<'_, H, M, O>,
    account: &str,
    scope: &Scope,
) -> Result<()>
where
    H: AccountHandlers,
    M: MemberAccounts<Handlers = H>,
    O: OutcomeEvents,
{
    let payload = json!({
        "source": SOURCE,
        "detail-type": AUDIT_REQUESTED,
        "detail": {"accounts": [account], "resetDrift": scope.reset_drift, "dryRun": scope.dry_run},
    });
    invocation
        .members
        .start_audit(invocation.function_arn, &payload)
        .await
}

/// What the resets of drifted passwords decided, by decision.
type ResetCounts = BTreeMap<String, u64>;

/// Audits one account here: each finding logged and published as it is judged, a
/// metric line and a summary at the end. An account that cannot be audited is a
/// finding.
async fn audit_account<H, M, O>(
    invocation: &Invocation<'_, H, M, O>,
    account: &str,
    scope: &Scope,
) -> (Option<AccountAudit>, ResetCounts)
where
    H: AccountHandlers,
    M: MemberAccounts<Handlers = H>,
    O: OutcomeEvents,
{
    let handlers = match Route::of_account(account, invocation.home) {
        Route::Home => Ok(Arc::clone(invocation.home_handlers)),
        Route::Member(member) if !invocation.members.enabled() => {
            Err(RotationError::CrossAccountOff {
                subject: format!("account {account}"),
                account: member.id,
                home: invocation.home.id.clone(),
            })
        }
        Route::Member(member) => invocation.members.handlers(&member).await,
    };
    let handlers = match handlers {
        Ok(handlers) => handlers,
        Err(error) => {
            let finding = unreachable(account, "it could not be reached", &error);
            emit(invocation.outcomes, &[finding]).await;
            return (None, ResetCounts::new());
        }
    };
    let mut sink = Emitter {
        handlers: handlers.as_ref(),
        outcomes: invocation.outcomes,
        function_arn: invocation.function_arn,
        scope,
        pending: Vec::with_capacity(EVENTS_PER_CALL),
        resets: ResetCounts::new(),
    };
    let result = handlers
        .auditor()
        .audit_into(account, invocation.function_arn, &mut sink)
        .await;
    sink.flush().await;
    let resets = std::mem::take(&mut sink.resets);
    match result {
        Ok(audit) => {
            summarise(invocation.outcomes, &audit).await;
            (Some(audit), resets)
        }
        Err(error) => {
            let finding = unreachable(account, "its audit stopped", &error);
            emit(invocation.outcomes, &[finding]).await;
            (None, resets)
        }
    }
}

/// Logs and publishes each finding as it comes, and starts a reset for drift when
/// the scope says so.
struct Emitter<'a, H, O> {
    handlers: &'a H,
    outcomes: &'a O,
    function_arn: &'a str,
    scope: &'a Scope,
    pending: Vec<OutcomeEvent>,
    resets: ResetCounts,
}

impl<H: AccountHandlers, O: OutcomeEvents> Emitter<'_, H, O> {
    async fn flush(&mut self) {
        let events = std::mem::take(&mut self.pending);
        outcome::publish(self.outcomes, &events).await;
    }

    async fn reset(&mut self, finding: &Finding) {
        let Some(secret) = &finding.secret else {
            return;
        };
        let request = ResetRequest::audit(secret, finding.changed, self.scope.dry_run);
        match self
            .handlers
            .resetter()
            .handle(&request, self.function_arn)
            .await
        {
            Ok(report) => {
                for decided in &report.decisions {
                    let decision = match &decided.decision {
                        Ok(decision) if report.dry_run => format!("dry_run:{}", decision.as_str()),
                        Ok(decision) => decision.as_str().to_owned(),
                        Err(_) => "refused".to_owned(),
                    };
                    *self.resets.entry(decision).or_default() += 1;
                }
                let events = reset::record_decisions(&request, &report);
                outcome::publish(self.outcomes, &events).await;
            }
            Err(error) => {
                *self.resets.entry("failed".to_owned()).or_default() += 1;
                tracing::error!(trigger = "audit", secret = %secret, error_type = error.error_type(), error = %error, "reset failed");
            }
        }
    }
}

impl<H: AccountHandlers, O: OutcomeEvents> FindingSink for Emitter<'_, H, O> {
    async fn found(&mut self, finding: Finding) {
        log(&finding);
        self.pending.push(event(&finding));
        if self.pending.len() == EVENTS_PER_CALL {
            self.flush().await;
        }
        if self.scope.reset_drift && finding.kind == FindingKind::PasswordDrift {
            self.flush().await;
            self.reset(&finding).await;
        }
    }

    async fn before_call(&mut self) {
        self.flush().await;
    }
}

/// Logs and publishes findings at once (an account that could not be audited).
async fn emit(outcomes: &impl OutcomeEvents, findings: &[Finding]) {
    for finding in findings {
        log(finding);
    }
    let events: Vec<OutcomeEvent> = findings.iter().map(event).collect();
    outcome::publish(outcomes, &events).await;
}

fn log(finding: &Finding) {
    let (user, secret) = (
        finding.user.as_deref().unwrap_or(""),
        finding.secret.as_deref().unwrap_or(""),
    );
    tracing::warn!(finding = finding.kind.as_str(), account = %finding.account, user, secret, detail = %finding.detail, "audit finding");
}

fn event(finding: &Finding) -> OutcomeEvent {
    OutcomeEvent {
        detail_type: outcome::AUDIT_FINDING,
        user: finding.user.clone(),
        secret_arn: finding.secret.clone(),
        trigger: "audit".into(),
        decision: finding.kind.as_str().into(),
        account: Some(finding.account.clone()),
        detail: Some(finding.detail.clone()),
        ..OutcomeEvent::default()
    }
}

/// The account's metric line, summary log line and summary outcome event.
async fn summarise(outcomes: &impl OutcomeEvents, audit: &AccountAudit) {
    let counts = audit.counts();
    println!(
        "{}",
        metrics::audit_line(&audit.account, audit.console_users as u64, &counts)
    );
    let by_kind: Vec<String> = counts
        .iter()
        .map(|(kind, count)| format!("{kind}={count}"))
        .collect();
    let summary = format!(
        "account {}: {} console users, {} enrolled, {} findings: {}",
        audit.account,
        audit.console_users,
        audit.enrolled,
        audit.total(),
        by_kind.join(" ")
    );
    tracing::info!(account = %audit.account, users = audit.console_users, findings = audit.total(), summary, "audit summary");
    let event = OutcomeEvent {
        detail_type: outcome::AUDIT_SUMMARY,
        trigger: "audit".into(),
        decision: if audit.total() == 0 {
            "clean"
        } else {
            "findings"
        }
        .into(),
        account: Some(audit.account.clone()),
        detail: Some(summary),
        ..OutcomeEvent::default()
    };
    outcome::publish(outcomes, &[event]).await;
}

/// An account the audit could not read: a finding, not a failure of the audit.
fn unreachable(account: &str, why: &str, error: &RotationError) -> Finding {
    Finding {
        kind: FindingKind::AccountUnreachable,
        account: account.to_owned(),
        user: None,
        secret: None,
        detail: format!("{why}: {}: {error}", error.error_type()),
        changed: None,
    }
}

/// The answer of an invocation that audited one account: counts only.
fn account_response(scope: &Scope, audit: Option<&AccountAudit>, resets: &ResetCounts) -> Value {
    let by_kind: serde_json::Map<String, Value> = audit
        .map(AccountAudit::counts)
        .unwrap_or_default()
        .into_iter()
        .map(|(kind, count)| (kind.to_owned(), json!(count)))
        .collect();
    json!({"Audit": {
        "Accounts": 1,
        "Audited": usize::from(audit.is_some()),
        "Refused": scope.refused.len(),
        "ConsoleUsers": audit.map_or(0, |a| a.console_users),
        "Enrolled": audit.map_or(0, |a| a.enrolled),
        "Findings": audit.map_or(0, AccountAudit::total),
        "FindingsByKind": by_kind,
        "ResetDrift": scope.reset_drift,
        "DryRun": scope.dry_run,
        "Resets": resets,
        "ReportGenerated": audit
            .and_then(|a| a.report_generated)
            .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
    }})
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
