//! The audit's scope and fan-out, over in-memory accounts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::*;
use crate::audit::ports::{
    CredentialReports, ListedUser, RawCredentialReport, SecretInventory, SecretSummary,
    UserDirectory,
};
use crate::audit::{AuditSettings, Auditor};
use crate::binding::BINDING_TAG;
use crate::reset::fakes::{FakeAws, FUNCTION, SECRET};
use crate::reset::{ResetSettings, Resetter};

const HOME: &str = "123456789012";
const MEMBER: &str = "222222222222";
const OTHER: &str = "333333333333";
const OUTSIDE: &str = "444444444444";

fn push(aws: &FakeAws, call: String) {
    aws.0.lock().expect("lock").calls.push(call);
}

impl CredentialReports for FakeAws {
    async fn credential_report(&self) -> Result<RawCredentialReport> {
        push(self, "GetCredentialReport".into());
        let state = self.0.lock().expect("lock");
        let mut names: Vec<&String> = state.users.keys().collect();
        names.sort();
        let mut csv = "user,arn,password_enabled,password_last_changed\n".to_owned();
        for name in names {
            csv.push_str(&format!(
                "{name},arn:aws:iam::{HOME}:user/{name},true,2026-01-01T00:00:00+00:00\n"
            ));
        }
        Ok(RawCredentialReport {
            generated: None,
            csv,
        })
    }
}

impl UserDirectory for FakeAws {
    async fn users_with_tags(&self) -> Result<Vec<ListedUser>> {
        push(self, "GetAccountAuthorizationDetails".into());
        let state = self.0.lock().expect("lock");
        Ok(state
            .users
            .values()
            .map(|user| ListedUser {
                name: user.name.clone(),
                path: "/".into(),
                tags: user.tags.clone(),
            })
            .collect())
    }
}

impl SecretInventory for FakeAws {
    async fn list_secrets(&self) -> Result<Vec<SecretSummary>> {
        push(self, "ListSecrets".into());
        let state = self.0.lock().expect("lock");
        Ok(state
            .secrets
            .iter()
            .map(|(arn, secret)| SecretSummary {
                arn: arn.clone(),
                rotation_enabled: secret.rotation_enabled,
                rotation_lambda_arn: secret.rotation_lambda_arn.clone(),
                versions: secret
                    .versions
                    .iter()
                    .map(|v| (v.id.clone(), v.stages.clone()))
                    .collect(),
                ..SecretSummary::default()
            })
            .collect())
    }
}

struct Handlers {
    auditor: Auditor<FakeAws, FakeAws>,
    resetter: Resetter<FakeAws, FakeAws, FakeAws>,
}

impl Handlers {
    fn over(aws: &FakeAws, settings: AuditSettings) -> Arc<Self> {
        Arc::new(Self {
            auditor: Auditor::new(aws.clone(), aws.clone(), settings),
            resetter: Resetter::new(
                aws.clone(),
                aws.clone(),
                aws.clone(),
                ResetSettings::default(),
                false,
            ),
        })
    }
}

impl AccountHandlers for Handlers {
    type Users = FakeAws;
    type Secrets = FakeAws;
    type Schedules = FakeAws;

    fn auditor(&self) -> &Auditor<FakeAws, FakeAws> {
        &self.auditor
    }

    fn resetter(&self) -> &Resetter<FakeAws, FakeAws, FakeAws> {
        &self.resetter
    }
}

/// The organisation, as the central account sees it; every call lands in `log`.
struct Members {
    enabled: bool,
    organization: Vec<String>,
    accounts: HashMap<String, Arc<Handlers>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Members {
    fn log(&self, call: String) {
        self.log.lock().expect("lock").push(call);
    }
}

impl MemberAccounts for Members {
    type Handlers = Handlers;

    fn enabled(&self) -> bool {
        self.enabled
    }

    async fn organization_accounts(&self) -> Result<Vec<String>> {
        self.log("ListAccounts".into());
        Ok(self.organization.clone())
    }

    async fn is_organization_account(&self, account: &str) -> Result<bool> {
        self.log(format!("DescribeAccount {account}"));
        Ok(self.organization.iter().any(|id| id == account))
    }

    async fn start_audit(&self, function_arn: &str, payload: &Value) -> Result<()> {
        assert_eq!(function_arn, FUNCTION);
        self.log(format!("Invoke {}", payload["detail"]));
        Ok(())
    }

    async fn handlers(&self, account: &Account) -> Result<Arc<Handlers>> {
        self.log(format!("AssumeRole {}", account.id));
        self.accounts
            .get(&account.id)
            .cloned()
            .ok_or_else(|| RotationError::MemberRoleRefused {
                account: account.id.clone(),
                role_arn: account.role_arn("member"),
                code: "AccessDenied".into(),
                message: "not trusted".into(),
            })
    }
}

/// Outcome events, recorded among the calls of `aws` (so their order shows).
struct Outcomes(FakeAws);

impl OutcomeEvents for Outcomes {
    async fn publish(&self, events: &[OutcomeEvent]) -> Result<()> {
        let users: Vec<&str> = events.iter().filter_map(|e| e.user.as_deref()).collect();
        push(&self.0, format!("PutEvents {}", users.join(",")));
        Ok(())
    }
}

struct World {
    home: Arc<Handlers>,
    home_aws: FakeAws,
    account: Account,
    members: Members,
    outcomes: Outcomes,
}

impl World {
    fn new(settings: AuditSettings, members_enabled: bool) -> Self {
        let home_aws = FakeAws::default();
        let member_aws = FakeAws::default();
        Self {
            home: Handlers::over(&home_aws, settings.clone()),
            account: Account::of_arn(FUNCTION).expect("arn"),
            members: Members {
                enabled: members_enabled,
                organization: vec![HOME.into(), MEMBER.into(), OTHER.into()],
                accounts: HashMap::from([(
                    MEMBER.to_owned(),
                    Handlers::over(&member_aws, settings),
                )]),
                log: Arc::default(),
            },
            outcomes: Outcomes(home_aws.clone()),
            home_aws,
        }
    }

    fn invocation(&self) -> Invocation<'_, Handlers, Members, Outcomes> {
        Invocation {
            home_handlers: &self.home,
            home: &self.account,
            members: &self.members,
            outcomes: &self.outcomes,
            function_arn: FUNCTION,
        }
    }

    fn member_calls(&self) -> Vec<String> {
        self.members.log.lock().expect("lock").clone()
    }
}

fn request(accounts: Option<&[&str]>, reset_drift: Option<bool>) -> AuditRequest {
    AuditRequest {
        accounts: accounts.map(|ids| ids.iter().map(|id| (*id).to_owned()).collect()),
        reset_drift,
        dry_run: false,
    }
}

fn listed(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[tokio::test]
async fn a_request_may_narrow_the_settings_accounts_and_drift_resets_but_never_widen_them() {
    let settings = AuditSettings {
        accounts: Some(listed(&[MEMBER, OTHER])),
        reset_drift: false,
        ..AuditSettings::default()
    };
    let world = World::new(settings, true);
    let scope = scope(
        &world.invocation(),
        &request(Some(&[OTHER, OUTSIDE, HOME, OTHER]), Some(true)),
    )
    .await;
    assert_eq!(scope.accounts, listed(&[OTHER]));
    assert_eq!(scope.refused, listed(&[OUTSIDE, HOME]));
    assert!(!scope.reset_drift);
    let scope = scope_of(&world, None, None).await;
    assert_eq!(scope.accounts, listed(&[MEMBER, OTHER]));
    assert!(world.member_calls().is_empty(), "the settings decide alone");

    let world = World::new(
        AuditSettings {
            reset_drift: true,
            ..AuditSettings::default()
        },
        true,
    );
    assert!(scope_of(&world, None, None).await.reset_drift);
    assert!(!scope_of(&world, None, Some(false)).await.reset_drift);
}

async fn scope_of(world: &World, accounts: Option<&[&str]>, reset: Option<bool>) -> Scope {
    scope(&world.invocation(), &request(accounts, reset)).await
}

#[tokio::test]
async fn with_the_organisation_as_the_setting_each_named_account_costs_one_membership_check() {
    let world = World::new(AuditSettings::default(), true);
    let scope = scope_of(&world, Some(&[MEMBER, OUTSIDE, HOME]), None).await;
    assert_eq!(scope.accounts, listed(&[MEMBER, HOME]));
    assert_eq!(scope.refused, listed(&[OUTSIDE]));
    assert_eq!(
        world.member_calls(),
        vec![
            format!("DescribeAccount {MEMBER}"),
            format!("DescribeAccount {OUTSIDE}")
        ]
    );
}

#[tokio::test]
async fn without_a_member_role_only_the_functions_own_account_may_be_audited() {
    let world = World::new(AuditSettings::default(), false);
    let scope = scope_of(&world, Some(&[HOME, MEMBER]), Some(true)).await;
    assert_eq!(
        (scope.accounts, scope.refused),
        (listed(&[HOME]), listed(&[MEMBER]))
    );
    assert_eq!(scope_of(&world, None, None).await.accounts, listed(&[HOME]));
}

#[tokio::test]
async fn several_accounts_fan_out_to_one_invocation_each_naming_that_account_alone() {
    let world = World::new(AuditSettings::default(), true);
    let answer = handle(&world.invocation(), &request(None, None)).await;
    let calls = world.member_calls();
    assert_eq!(calls[0], "ListAccounts");
    let invoked: Vec<&String> = calls.iter().filter(|c| c.starts_with("Invoke")).collect();
    assert_eq!(invoked.len(), 3);
    for (call, account) in invoked.iter().zip([HOME, MEMBER, OTHER]) {
        assert_eq!(
            **call,
            format!(r#"Invoke {{"accounts":["{account}"],"resetDrift":false,"dryRun":false}}"#)
        );
    }
    assert!(!calls.iter().any(|c| c.starts_with("AssumeRole")));
    assert_eq!(answer["Audit"]["Started"], 3);
    assert!(world.home_aws.calls().is_empty(), "nothing is read here");
}

#[tokio::test]
async fn an_account_that_cannot_be_reached_is_a_finding_published_at_once() {
    let world = World::new(AuditSettings::default(), true);
    let answer = handle(&world.invocation(), &request(Some(&[OTHER]), None)).await;
    assert_eq!(
        (&answer["Audit"]["Audited"], &answer["Audit"]["Findings"]),
        (&Value::from(0), &Value::from(0))
    );
    assert_eq!(world.home_aws.calls(), vec!["PutEvents "]);
}

#[tokio::test]
async fn findings_are_published_before_the_audit_waits_on_a_call_and_the_answer_names_no_one() {
    let world = World::new(AuditSettings::default(), false);
    world.home_aws.add_user("aaa-unbound", None);
    world.home_aws.add_user("bbb-bound", Some(SECRET));
    world
        .home_aws
        .add_secret(SECRET, "bbb-bound", Some(FUNCTION));
    world
        .home_aws
        .rotation_in_progress(SECRET, std::time::SystemTime::now());
    let answer = handle(&world.invocation(), &request(None, None)).await;
    let calls = world.home_aws.calls();
    let published = calls
        .iter()
        .position(|c| c == "PutEvents aaa-unbound")
        .expect("published");
    let waited = calls
        .iter()
        .position(|c| c == "ListSecretVersionIds")
        .expect("read");
    assert!(published < waited, "{calls:?}");
    assert_eq!(answer["Audit"]["Findings"], 1);
    assert_eq!(
        answer["Audit"]["FindingsByKind"]["console_user_not_enrolled"],
        1
    );
    let text = answer.to_string();
    assert!(!text.contains("aaa-unbound") && !text.contains(SECRET) && !text.contains(BINDING_TAG));
}
