//! The EventBridge events that ask for a reset, parsed into a [`ResetRequest`].
//!
//! Only the fields the decision needs are read, and errors name fields and
//! types, never values (an event may carry anything). Which sources and
//! detail-types are accepted is the table in `docs/resets.md`.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::accounts::Account;
use crate::error::{Result, RotationError};
use crate::event::kind;

/// The `source` of the function's own events (on-demand requests, scheduled resets).
pub const SOURCE: &str = "iam-password-rotation";
/// The `detail-type` of an on-demand reset request.
pub const ON_DEMAND: &str = "IAM Password Reset Requested";
/// The `detail-type` of a reset fired by the function's own schedule.
pub const SCHEDULED: &str = "IAM Password Reset Scheduled";
const SECURITY_HUB: &str = "Security Hub Findings - Custom Action";
const CONSOLE_SIGN_IN: &str = "AWS Console Sign In via CloudTrail";
const API_CALL: &str = "AWS API Call via CloudTrail";
const MAX_REASON: usize = 256;

/// What asked for the reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A custom on-demand event (or a direct `aws lambda invoke`).
    OnDemand,
    /// A Security Hub custom action on `AwsIamUser` findings.
    SecurityHub,
    /// A console sign-in of the user (break-glass use).
    ConsoleLogin,
    /// A `GetSecretValue` of the secret by someone else (checkout).
    SecretRead,
    /// A change of the password by someone else (drift).
    Drift,
    /// The daily audit found a password changed after its secret's last rotation.
    Audit,
}

impl Trigger {
    /// The trigger's name in logs, metrics, responses and schedules.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on-demand",
            Self::SecurityHub => "security-hub",
            Self::ConsoleLogin => "console-login",
            Self::SecretRead => "secret-read",
            Self::Drift => "drift",
            Self::Audit => "audit",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::OnDemand,
            Self::SecurityHub,
            Self::ConsoleLogin,
            Self::SecretRead,
            Self::Drift,
            Self::Audit,
        ]
        .into_iter()
        .find(|trigger| trigger.as_str() == name)
    }

    /// Whether the reset waits (`RESET_DELAY_MINUTES`) so the person can still sign in.
    pub fn is_delayed(self) -> bool {
        matches!(self, Self::ConsoleLogin | Self::SecretRead)
    }

    /// Whether the trigger names its target on purpose (refusals are errors), rather than
    /// reporting something that happened to any user or secret (not ours: skipped).
    pub fn is_explicit(self) -> bool {
        matches!(self, Self::OnDemand | Self::SecurityHub)
    }
}

/// Whom a reset is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An IAM user, by name.
    User(String),
    /// A secret, by name or ARN.
    Secret(String),
}

/// What the event says happened, beyond a plain request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Nothing more: reset.
    Request,
    /// A console sign-in that failed: never a reset.
    FailedSignIn,
    /// The CloudTrail call failed (`errorCode`): it changed nothing.
    FailedCall(String),
    /// `DeleteLoginProfile`: never undone, only reported.
    LoginProfileDeleted,
    /// The user's own `ChangePassword`.
    OwnPasswordChange,
    /// The event cannot concern an enrolled IAM user (a root, role, federated or other
    /// identity's sign-in or own password change; a record naming no user): why.
    NotOurs(String),
}

/// One reset request, from any accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    /// What asked for it.
    pub trigger: Trigger,
    /// Whom it is for (several for a Security Hub action on several findings).
    pub subjects: Vec<Subject>,
    /// When the trigger happened: the CloudTrail `eventTime`, the envelope's `time` for
    /// on-demand and Security Hub events, the latest trigger a schedule covers; `None`: now.
    pub time: Option<SystemTime>,
    /// The CloudTrail `eventID` (or the EventBridge event id), for the outcome event.
    pub event_id: Option<String>,
    /// Who acted: the CloudTrail `userIdentity.arn`.
    pub principal: Option<String>,
    /// The role behind the actor's session (`sessionContext.sessionIssuer.arn`), or the
    /// actor itself: compared with the function's own role.
    pub actor_role: Option<String>,
    /// The access key the actor signed with (`userIdentity.accessKeyId`): tells the
    /// function's own self-service `ChangePassword`, made with the user's key.
    pub access_key_id: Option<String>,
    /// What the event says beyond the request.
    pub fact: Fact,
    /// The operator's reason, for on-demand events.
    pub reason: Option<String>,
    /// `Some(n)`: fired by the function's own schedule, attempt `n` (1 = the first).
    pub attempt: Option<u32>,
    /// Decide and report only, whatever `RESET_DRY_RUN` says (an audit's dry run).
    pub dry_run: bool,
    /// The account every subject is in, when the subjects' own ARNs name it (a
    /// Security Hub action, [`ResetRequest::by_account`]); `None`: the event is routed
    /// by [`crate::accounts::route_event`].
    pub account: Option<Account>,
}

impl ResetRequest {
    /// Whether `payload` has the shape of an EventBridge event.
    pub fn is_eventbridge(payload: &Value) -> bool {
        payload
            .as_object()
            .is_some_and(|o| o.contains_key("source") && o.contains_key("detail-type"))
    }

    /// Parses an EventBridge event; anything not in the table is an `InvalidEvent`.
    pub fn from_value(payload: &Value) -> Result<Self> {
        let fields = payload.as_object().ok_or_else(|| {
            invalid(format!(
                "the payload is {}, not a JSON object",
                kind(payload)
            ))
        })?;
        let source = string(fields, "source")?;
        let detail_type = string(fields, "detail-type")?;
        let detail = match fields.get("detail") {
            Some(Value::Object(detail)) => detail,
            Some(other) => {
                return Err(invalid(format!("detail is {}, not an object", kind(other))))
            }
            None => return Err(invalid("detail is missing".into())),
        };
        let event_id = optional(fields, "id").map(str::to_owned);
        let mut request = match (source, detail_type) {
            (SOURCE, ON_DEMAND) => on_demand(detail, event_id),
            (SOURCE, SCHEDULED) => scheduled(detail),
            ("aws.securityhub", SECURITY_HUB) => {
                let mut requests = security_hub(detail, event_id)?;
                match requests.len() {
                    1 => Ok(requests.remove(0)),
                    _ => Err(invalid(
                        "the findings name users of several accounts: each account is decided on its own (ResetRequest::by_account)".into(),
                    )),
                }
            }
            ("aws.signin", CONSOLE_SIGN_IN) => console_sign_in(detail),
            ("aws.secretsmanager", API_CALL) => secret_read(detail),
            ("aws.iam", API_CALL) => drift(detail),
            _ => Err(invalid(format!(
                "events with source {source:?} and detail-type {detail_type:?} are not accepted (see docs/resets.md)"
            ))),
        }?;
        if request.trigger.is_explicit() && request.time.is_none() {
            // No trigger time of their own: the envelope's, so a repeated delivery is
            // decided as the first one was.
            request.time = optional_string(fields, "time")?
                .map(parse_time)
                .transpose()?;
        }
        Ok(request)
    }

    /// The requests of an event whose subjects carry their own account, one per account
    /// in the order first named: a Security Hub action, whose resources' ARNs name
    /// account and user. `None` for every other event, which one route serves.
    pub fn by_account(payload: &Value) -> Result<Option<Vec<Self>>> {
        let field = |name: &str| payload.get(name).and_then(Value::as_str);
        if (field("source"), field("detail-type")) != (Some("aws.securityhub"), Some(SECURITY_HUB))
        {
            return Ok(None);
        }
        let detail = payload
            .get("detail")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("detail is not an object".into()))?;
        security_hub(detail, field("id").map(str::to_owned)).map(Some)
    }

    fn new(trigger: Trigger, subjects: Vec<Subject>) -> Self {
        Self {
            trigger,
            subjects,
            time: None,
            event_id: None,
            principal: None,
            actor_role: None,
            access_key_id: None,
            fact: Fact::Request,
            reason: None,
            attempt: None,
            dry_run: false,
            account: None,
        }
    }

    /// The reset the audit starts for a secret whose password changed at `changed`.
    pub fn audit(secret_arn: &str, changed: Option<SystemTime>, dry_run: bool) -> Self {
        let mut request = Self::new(Trigger::Audit, vec![Subject::Secret(secret_arn.to_owned())]);
        request.time = changed;
        request.dry_run = dry_run;
        request
    }

    /// The `IAM Password Reset Scheduled` event a schedule sends back for `subject`.
    pub fn scheduled_event(&self, user: &str, secret: &str, attempt: u32) -> Value {
        let mut detail = json!({
            "secretId": secret,
            "userName": user,
            "trigger": self.trigger.as_str(),
            "attempt": attempt,
        });
        if let Some(time) = self.time {
            detail["triggerTime"] = json!(humantime::format_rfc3339_millis(time).to_string());
        }
        if let Some(id) = &self.event_id {
            detail["eventId"] = json!(id);
        }
        if let Some(principal) = &self.principal {
            detail["principal"] = json!(principal);
        }
        json!({"source": SOURCE, "detail-type": SCHEDULED, "detail": detail})
    }
}

fn on_demand(detail: &Map<String, Value>, event_id: Option<String>) -> Result<ResetRequest> {
    let subject = match (
        optional_string(detail, "userName")?,
        optional_string(detail, "secretId")?,
    ) {
        (Some(user), None) => Subject::User(user.to_owned()),
        (None, Some(secret)) => Subject::Secret(secret.to_owned()),
        _ => {
            return Err(invalid(
                "detail must name exactly one of userName and secretId".into(),
            ))
        }
    };
    let reason = optional_string(detail, "reason")?;
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(invalid(format!(
            "detail.reason is longer than {MAX_REASON} characters"
        )));
    }
    let mut request = ResetRequest::new(Trigger::OnDemand, vec![subject]);
    request.reason = reason.map(str::to_owned);
    request.event_id = event_id;
    Ok(request)
}

fn scheduled(detail: &Map<String, Value>) -> Result<ResetRequest> {
    let trigger_name = string(detail, "trigger")?;
    let trigger = Trigger::parse(trigger_name)
        .ok_or_else(|| invalid("detail.trigger is not a known trigger".into()))?;
    let secret = string(detail, "secretId")?;
    let attempt = detail
        .get("attempt")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| invalid("detail.attempt is not a whole number of at least 1".into()))?;
    let mut request = ResetRequest::new(trigger, vec![Subject::Secret(secret.to_owned())]);
    request.time = optional_string(detail, "triggerTime")?
        .map(parse_time)
        .transpose()?;
    request.event_id = optional_string(detail, "eventId")?.map(str::to_owned);
    request.principal = optional_string(detail, "principal")?.map(str::to_owned);
    request.attempt = Some(attempt);
    Ok(request)
}

/// The Security Hub action's requests, one per account, in the order first named.
///
/// Each `AwsIamUser` resource is read from its `Id`, which must be an IAM user ARN: the
/// ARN names the account and the user. The finding's `AwsAccountId`, the resource's
/// `Partition` and its `Details.AwsIamUser` (`UserName`, `Path`) may be given by whoever
/// imports findings and must agree with the ARN, or the whole action is refused.
fn security_hub(
    detail: &Map<String, Value>,
    event_id: Option<String>,
) -> Result<Vec<ResetRequest>> {
    let findings = match detail.get("findings") {
        Some(Value::Array(findings)) => findings,
        _ => return Err(invalid("detail.findings is not an array".into())),
    };
    let mut requests: Vec<ResetRequest> = Vec::new();
    for (f, finding) in findings.iter().enumerate() {
        let resources = finding.get("Resources").and_then(Value::as_array);
        for (r, resource) in resources.into_iter().flatten().enumerate() {
            if resource.get("Type").and_then(Value::as_str) != Some("AwsIamUser") {
                continue;
            }
            let user = finding_user(finding, resource, &format!("detail.findings[{f}]"), r)?;
            let subject = Subject::User(user.name);
            match requests
                .iter_mut()
                .find(|q| q.account.as_ref() == Some(&user.account))
            {
                Some(request) if request.subjects.contains(&subject) => {}
                Some(request) => request.subjects.push(subject),
                None => {
                    let mut request = ResetRequest::new(Trigger::SecurityHub, vec![subject]);
                    request.account = Some(user.account);
                    request.event_id = event_id.clone();
                    requests.push(request);
                }
            }
        }
    }
    if requests.is_empty() {
        return Err(invalid(
            "no finding names an AwsIamUser resource (detail.findings[].Resources[])".into(),
        ));
    }
    Ok(requests)
}

/// An IAM user as its ARN names it.
struct UserArn {
    account: Account,
    path: String,
    name: String,
}

impl UserArn {
    /// `arn:PARTITION:iam::ACCOUNT:user/PATH/NAME` (the path may be empty).
    fn parse(arn: &str) -> Option<Self> {
        let account = Account::of_arn(arn)?;
        let rest = arn.strip_prefix(&format!(
            "arn:{}:iam::{}:user/",
            account.partition, account.id
        ))?;
        let (path, name) = match rest.rsplit_once('/') {
            Some((path, name)) => (format!("/{path}/"), name),
            None => ("/".to_owned(), rest),
        };
        (!name.is_empty() && !path.contains("//")).then(|| Self {
            account,
            path,
            name: name.to_owned(),
        })
    }
}

/// The user of resource `r` of a finding (`at` is where the finding is), once every
/// field that names it agrees with its `Id`. Errors name the fields, never their values.
fn finding_user(finding: &Value, resource: &Value, at: &str, r: usize) -> Result<UserArn> {
    let id = format!("{at}.Resources[{r}].Id");
    let user = resource
        .get("Id")
        .and_then(Value::as_str)
        .and_then(UserArn::parse)
        .ok_or_else(|| {
            invalid(format!(
                "{id} is not an IAM user ARN (arn:PARTITION:iam::ACCOUNT:user/NAME)"
            ))
        })?;
    let disagree = |field: String, what: &str| {
        invalid(format!(
            "{field} does not match the {what} in {id}: the finding is refused"
        ))
    };
    /// `Some(None)`: the field is there but is not a string (never equal to the ARN's).
    fn text<'a>(value: &'a Value, pointer: &str) -> Option<Option<&'a str>> {
        value.pointer(pointer).map(Value::as_str)
    }
    if let Some(account) = text(finding, "/AwsAccountId") {
        if account != Some(user.account.id.as_str()) {
            return Err(disagree(format!("{at}.AwsAccountId"), "account"));
        }
    }
    if let Some(partition) = text(resource, "/Partition") {
        if partition != Some(user.account.partition.as_str()) {
            return Err(disagree(
                format!("{at}.Resources[{r}].Partition"),
                "partition",
            ));
        }
    }
    if let Some(name) = text(resource, "/Details/AwsIamUser/UserName") {
        if name != Some(user.name.as_str()) {
            return Err(disagree(
                format!("{at}.Resources[{r}].Details.AwsIamUser.UserName"),
                "user name",
            ));
        }
    }
    if let Some(path) = text(resource, "/Details/AwsIamUser/Path") {
        if path != Some(user.path.as_str()) {
            return Err(disagree(
                format!("{at}.Resources[{r}].Details.AwsIamUser.Path"),
                "path",
            ));
        }
    }
    Ok(user)
}

/// The CloudTrail record's time, event id, actor and actor role.
fn cloudtrail(mut request: ResetRequest, detail: &Map<String, Value>) -> Result<ResetRequest> {
    request.time = optional_string(detail, "eventTime")?
        .map(parse_time)
        .transpose()?;
    request.event_id = optional_string(detail, "eventID")?.map(str::to_owned);
    let identity = detail.get("userIdentity");
    request.principal = identity
        .and_then(|i| i.get("arn"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    request.access_key_id = identity
        .and_then(|i| i.get("accessKeyId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    request.actor_role = identity
        .and_then(|i| i.pointer("/sessionContext/sessionIssuer/arn"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| request.principal.clone());
    if let Some(code) = optional_string(detail, "errorCode")? {
        request.fact = Fact::FailedCall(code.to_owned());
    }
    Ok(request)
}

fn console_sign_in(detail: &Map<String, Value>) -> Result<ResetRequest> {
    expect_event_name(detail, &["ConsoleLogin"])?;
    let identity_type = at(detail, "/userIdentity/type").and_then(Value::as_str);
    if identity_type != Some("IAMUser") {
        return not_ours(
            Trigger::ConsoleLogin,
            "console sign-in",
            identity_type,
            detail,
        );
    }
    let user = at(detail, "/userIdentity/userName")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| invalid("detail.userIdentity.userName is missing".into()))?;
    let mut request = cloudtrail(
        ResetRequest::new(Trigger::ConsoleLogin, vec![Subject::User(user.to_owned())]),
        detail,
    )?;
    let result = at(detail, "/responseElements/ConsoleLogin").and_then(Value::as_str);
    if result != Some("Success") {
        request.fact = Fact::FailedSignIn;
    }
    Ok(request)
}

fn secret_read(detail: &Map<String, Value>) -> Result<ResetRequest> {
    expect_event_name(detail, &["GetSecretValue"])?;
    let secret = at(detail, "/requestParameters/secretId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("detail.requestParameters.secretId is missing".into()))?;
    cloudtrail(
        ResetRequest::new(
            Trigger::SecretRead,
            vec![Subject::Secret(secret.to_owned())],
        ),
        detail,
    )
}

fn drift(detail: &Map<String, Value>) -> Result<ResetRequest> {
    let name = expect_event_name(
        detail,
        &[
            "UpdateLoginProfile",
            "CreateLoginProfile",
            "ChangePassword",
            "DeleteLoginProfile",
        ],
    )?;
    let identity_type = at(detail, "/userIdentity/type").and_then(Value::as_str);
    if name == "ChangePassword" && identity_type != Some("IAMUser") {
        return not_ours(Trigger::Drift, "ChangePassword", identity_type, detail);
    }
    let user = if name == "ChangePassword" {
        at(detail, "/userIdentity/userName")
    } else {
        at(detail, "/requestParameters/userName")
    }
    .and_then(Value::as_str)
    .filter(|user| !user.is_empty());
    let Some(user) = user else {
        // A root or role changing its own console password names no user.
        return not_ours(Trigger::Drift, name, identity_type, detail);
    };
    let mut request = cloudtrail(
        ResetRequest::new(Trigger::Drift, vec![Subject::User(user.to_owned())]),
        detail,
    )?;
    if request.fact == Fact::Request {
        request.fact = match name {
            "DeleteLoginProfile" => Fact::LoginProfileDeleted,
            "ChangePassword" => Fact::OwnPasswordChange,
            _ => Fact::Request,
        };
    }
    Ok(request)
}

/// A record that cannot concern an enrolled IAM user: skipped without an AWS call. Only
/// the identity types AWS documents are named (the field is the sender's to write).
fn not_ours(
    trigger: Trigger,
    what: &str,
    identity_type: Option<&str>,
    detail: &Map<String, Value>,
) -> Result<ResetRequest> {
    const KNOWN: [&str; 9] = [
        "Root",
        "IAMUser",
        "AssumedRole",
        "Role",
        "FederatedUser",
        "SAMLUser",
        "WebIdentityUser",
        "AWSAccount",
        "AWSService",
    ];
    let identity = identity_type
        .filter(|t| KNOWN.contains(t))
        .unwrap_or("another kind of");
    let mut request = cloudtrail(
        ResetRequest::new(
            trigger,
            vec![Subject::User(format!("({identity} identity)"))],
        ),
        detail,
    )?;
    if request.fact == Fact::Request {
        request.fact = Fact::NotOurs(format!(
            "a {what} by a {identity} identity, not by or for an IAM user: it cannot concern an enrolled user"
        ));
    }
    Ok(request)
}

fn expect_event_name<'a>(detail: &'a Map<String, Value>, names: &[&str]) -> Result<&'a str> {
    let name = string(detail, "eventName")?;
    if names.contains(&name) {
        Ok(name)
    } else {
        Err(invalid(format!(
            "detail.eventName is not one of {}",
            names.join(", ")
        )))
    }
}

fn parse_time(text: &str) -> Result<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .map_err(|_| invalid("a time is not an RFC 3339 date-time".into()))
}

fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    optional_string(fields, name)?.ok_or_else(|| invalid(format!("{name} is missing")))
}

fn optional_string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.trim().is_empty() => {
            Err(invalid(format!("{name} is empty")))
        }
        Some(Value::String(value)) => Ok(Some(value)),
        Some(other) => Err(invalid(format!("{name} is {}, not a string", kind(other)))),
    }
}

/// The value at a JSON pointer below an object.
fn at<'a>(fields: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let (first, rest) = pointer
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((pointer.trim_start_matches('/'), ""));
    let value = fields.get(first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        value.pointer(&format!("/{rest}"))
    }
}

fn optional<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

fn invalid(message: String) -> RotationError {
    RotationError::InvalidEvent(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(payload: Value) -> Result<ResetRequest> {
        ResetRequest::from_value(&payload)
    }

    fn cloudtrail_event(source: &str, detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "ev-1", "source": source, "detail-type": detail_type, "detail": detail})
    }

    #[test]
    fn an_on_demand_request_names_a_user_or_a_secret_and_may_give_a_reason() {
        let by_user = parse(json!({"source": SOURCE, "detail-type": ON_DEMAND,
            "detail": {"userName": "alice", "reason": "left the team"}}))
        .expect("valid");
        assert_eq!(by_user.trigger, Trigger::OnDemand);
        assert_eq!(by_user.subjects, vec![Subject::User("alice".into())]);
        assert_eq!(by_user.reason.as_deref(), Some("left the team"));
        let by_secret = parse(json!({"source": SOURCE, "detail-type": ON_DEMAND,
            "detail": {"secretId": "console/alice"}}))
        .expect("valid");
        assert_eq!(
            by_secret.subjects,
            vec![Subject::Secret("console/alice".into())]
        );
    }

    #[test]
    fn a_successful_console_sign_in_is_a_delayed_request_and_a_failed_one_a_fact() {
        let detail = json!({"eventName": "ConsoleLogin", "eventTime": "2026-11-24T10:00:00Z",
            "eventID": "ct-1", "userIdentity": {"type": "IAMUser", "userName": "alice",
            "arn": "arn:aws:iam::123456789012:user/alice"},
            "responseElements": {"ConsoleLogin": "Success"}});
        let login = parse(cloudtrail_event(
            "aws.signin",
            CONSOLE_SIGN_IN,
            detail.clone(),
        ))
        .expect("valid");
        assert_eq!(login.trigger, Trigger::ConsoleLogin);
        assert!(login.trigger.is_delayed());
        assert_eq!(login.fact, Fact::Request);
        assert_eq!(login.event_id.as_deref(), Some("ct-1"));
        assert_eq!(
            login
                .time
                .map(humantime::format_rfc3339_seconds)
                .map(|t| t.to_string())
                .as_deref(),
            Some("2026-11-24T10:00:00Z")
        );
        let mut failed = detail;
        failed["responseElements"]["ConsoleLogin"] = json!("Failure");
        let failed = parse(cloudtrail_event("aws.signin", CONSOLE_SIGN_IN, failed)).expect("valid");
        assert_eq!(failed.fact, Fact::FailedSignIn);
    }

    #[test]
    fn drift_records_name_the_user_the_actor_and_the_actors_role() {
        let detail = json!({"eventName": "UpdateLoginProfile", "eventTime": "2026-11-24T10:00:00Z",
            "requestParameters": {"userName": "alice"},
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/bob",
              "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/admin"}}}});
        let drift = parse(cloudtrail_event("aws.iam", API_CALL, detail)).expect("valid");
        assert_eq!(drift.subjects, vec![Subject::User("alice".into())]);
        assert_eq!(
            drift.principal.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/admin/bob")
        );
        assert_eq!(
            drift.actor_role.as_deref(),
            Some("arn:aws:iam::123456789012:role/admin")
        );
        let own = parse(cloudtrail_event(
            "aws.iam",
            API_CALL,
            json!({"eventName": "ChangePassword",
            "userIdentity": {"type": "IAMUser", "userName": "alice"}}),
        ))
        .expect("valid");
        assert_eq!(own.fact, Fact::OwnPasswordChange);
        let deleted = parse(cloudtrail_event(
            "aws.iam",
            API_CALL,
            json!({"eventName": "DeleteLoginProfile",
            "requestParameters": {"userName": "alice"}}),
        ))
        .expect("valid");
        assert_eq!(deleted.fact, Fact::LoginProfileDeleted);
        let failed = parse(cloudtrail_event(
            "aws.iam",
            API_CALL,
            json!({"eventName": "UpdateLoginProfile",
            "errorCode": "AccessDenied", "requestParameters": {"userName": "alice"}}),
        ))
        .expect("valid");
        assert_eq!(failed.fact, Fact::FailedCall("AccessDenied".into()));
    }

    fn security_hub_event(findings: Value) -> Value {
        cloudtrail_event(
            "aws.securityhub",
            SECURITY_HUB,
            json!({"findings": findings}),
        )
    }

    fn accounts_and_users(requests: &[ResetRequest]) -> Vec<(String, Vec<Subject>)> {
        requests
            .iter()
            .map(|r| {
                let account = r.account.as_ref().map(|a| a.id.clone()).unwrap_or_default();
                (account, r.subjects.clone())
            })
            .collect()
    }

    #[test]
    fn sign_ins_and_password_changes_of_identities_that_are_not_iam_users_are_not_ours() {
        for (source, detail_type, detail) in [
            (
                "aws.signin",
                CONSOLE_SIGN_IN,
                json!({"eventName": "ConsoleLogin",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
                "responseElements": {"ConsoleLogin": "Success"}}),
            ),
            (
                "aws.signin",
                CONSOLE_SIGN_IN,
                json!({"eventName": "ConsoleLogin",
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/bob"}}),
            ),
            (
                "aws.iam",
                API_CALL,
                json!({"eventName": "ChangePassword",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}}),
            ),
            (
                "aws.iam",
                API_CALL,
                json!({"eventName": "ChangePassword",
                "userIdentity": {"type": "hunter2-x"}}),
            ),
            (
                "aws.iam",
                API_CALL,
                json!({"eventName": "UpdateLoginProfile",
                "userIdentity": {"type": "Root"}, "requestParameters": {}}),
            ),
        ] {
            let request =
                parse(cloudtrail_event(source, detail_type, detail)).expect("not an error");
            let Fact::NotOurs(why) = &request.fact else {
                panic!("{request:?} is not skipped")
            };
            assert!(!why.contains("hunter2"), "{why}");
        }
    }

    #[test]
    fn on_demand_and_security_hub_requests_take_the_envelopes_time() {
        let request = parse(
            json!({"source": SOURCE, "detail-type": ON_DEMAND, "id": "ev-7",
            "time": "2026-11-24T10:00:00Z", "detail": {"userName": "alice"}}),
        )
        .expect("valid");
        assert_eq!(
            request
                .time
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            Some("2026-11-24T10:00:00Z".into())
        );
    }

    #[test]
    fn a_security_hub_action_names_every_iam_user_of_its_findings_once() {
        let request = parse(security_hub_event(json!([
            {"AwsAccountId": "123456789012",
             "Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/ops/alice",
                            "Details": {"AwsIamUser": {"UserName": "alice", "Path": "/ops/"}}},
                           {"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::logs"}]},
            {"Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/bob",
                            "Details": {"AwsIamUser": {"UserName": "bob"}}},
                           {"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/ops/alice"}]}
        ])))
        .expect("valid");
        assert_eq!(
            request.subjects,
            vec![Subject::User("alice".into()), Subject::User("bob".into())]
        );
        assert_eq!(
            request.account.map(|a| (a.partition, a.id)),
            Some(("aws".into(), "123456789012".into()))
        );
    }

    #[test]
    fn a_security_hub_action_takes_account_and_user_from_each_resources_arn() {
        let event = security_hub_event(json!([
            {"AwsAccountId": "222222222222",
             "Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::222222222222:user/breakglass"}]},
            {"AwsAccountId": "123456789012",
             "Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/breakglass"}]},
            {"Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::222222222222:user/team/carol"}]}
        ]));
        let requests = ResetRequest::by_account(&event)
            .expect("valid")
            .expect("a Security Hub action");
        assert_eq!(
            accounts_and_users(&requests),
            vec![
                (
                    "222222222222".into(),
                    vec![
                        Subject::User("breakglass".into()),
                        Subject::User("carol".into())
                    ]
                ),
                (
                    "123456789012".into(),
                    vec![Subject::User("breakglass".into())]
                ),
            ]
        );
        assert!(requests
            .iter()
            .all(|r| r.trigger == Trigger::SecurityHub && r.event_id.as_deref() == Some("ev-1")));
        // One request cannot carry users of two accounts.
        let error = parse(event).expect_err("several accounts");
        assert!(error.to_string().contains("several accounts"), "{error}");
    }

    #[test]
    fn the_events_own_account_never_routes_a_security_hub_finding() {
        let mut event = security_hub_event(json!([
            {"Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::222222222222:user/alice"}]}
        ]));
        event["account"] = json!("123456789012");
        let requests = ResetRequest::by_account(&event)
            .expect("valid")
            .expect("some");
        assert_eq!(
            accounts_and_users(&requests),
            vec![("222222222222".into(), vec![Subject::User("alice".into())])]
        );
        let on_demand =
            json!({"source": SOURCE, "detail-type": ON_DEMAND, "detail": {"userName": "a"}});
        assert!(ResetRequest::by_account(&on_demand)
            .expect("valid")
            .is_none());
    }

    #[test]
    fn a_finding_whose_fields_disagree_with_its_resource_arn_is_refused_naming_them() {
        let arn = "arn:aws:iam::123456789012:user/ops/harmless";
        let cases = [
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": arn,
                    "Details": {"AwsIamUser": {"UserName": "breakglass-hunter2"}}}]}),
                "detail.findings[0].Resources[0].Details.AwsIamUser.UserName does not match the user name in detail.findings[0].Resources[0].Id",
            ),
            (
                json!({"AwsAccountId": "222222222222", "Resources": [{"Type": "AwsIamUser", "Id": arn}]}),
                "detail.findings[0].AwsAccountId does not match the account in detail.findings[0].Resources[0].Id",
            ),
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": arn,
                    "Details": {"AwsIamUser": {"UserName": "harmless", "Path": "/"}}}]}),
                "Details.AwsIamUser.Path does not match the path",
            ),
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": arn, "Partition": "aws-cn"}]}),
                "Resources[0].Partition does not match the partition",
            ),
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": arn,
                    "Details": {"AwsIamUser": {"UserName": 7}}}]}),
                "UserName does not match",
            ),
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": "AIDAHUNTER2",
                    "Details": {"AwsIamUser": {"UserName": "bob"}}}]}),
                "detail.findings[0].Resources[0].Id is not an IAM user ARN",
            ),
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:role/hunter2"}]}),
                "is not an IAM user ARN",
            ),
            (
                json!({"Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/"}]}),
                "is not an IAM user ARN",
            ),
        ];
        for (finding, expected) in cases {
            // A good finding first: one bad finding refuses the whole action.
            let good = json!({"Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/alice"}]});
            let event = security_hub_event(json!([good, finding]));
            let expected = expected.replace("findings[0]", "findings[1]");
            for error in [
                parse(event.clone()).expect_err("refused"),
                ResetRequest::by_account(&event).expect_err("refused"),
            ] {
                assert_eq!(error.error_type(), "InvalidEvent");
                let message = error.to_string();
                assert!(
                    message.contains(&expected),
                    "{message} should contain {expected}"
                );
                assert!(!message.contains("hunter2"), "{message}");
            }
        }
    }

    #[test]
    fn a_scheduled_event_round_trips_the_request_it_was_made_from() {
        let login = parse(cloudtrail_event("aws.signin", CONSOLE_SIGN_IN, json!({"eventName": "ConsoleLogin",
            "eventTime": "2026-11-24T10:00:00Z", "eventID": "ct-9",
            "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::1:user/alice"},
            "responseElements": {"ConsoleLogin": "Success"}}))).expect("valid");
        let fired = parse(login.scheduled_event("alice", "arn:s", 2)).expect("valid");
        assert_eq!(fired.trigger, Trigger::ConsoleLogin);
        assert_eq!(fired.subjects, vec![Subject::Secret("arn:s".into())]);
        assert_eq!(
            (fired.time, fired.event_id.clone(), fired.attempt),
            (login.time, login.event_id.clone(), Some(2))
        );
        assert_eq!(fired.principal, login.principal);
    }

    #[test]
    fn events_outside_the_table_are_refused_naming_source_and_detail_type_only() {
        let cases = [
            (
                json!({"source": "evil.app", "detail-type": ON_DEMAND, "detail": {"userName": "alice"}}),
                "source \"evil.app\"",
            ),
            (
                json!({"source": "aws.iam", "detail-type": ON_DEMAND, "detail": {"userName": "alice"}}),
                "are not accepted",
            ),
            (
                json!({"source": SOURCE, "detail-type": ON_DEMAND, "detail": {}}),
                "exactly one of userName and secretId",
            ),
            (
                json!({"source": SOURCE, "detail-type": ON_DEMAND, "detail": {"userName": "a", "secretId": "s"}}),
                "exactly one",
            ),
            (
                json!({"source": SOURCE, "detail-type": ON_DEMAND, "detail": {"userName": ["hunter2-x"]}}),
                "userName is an array",
            ),
            (
                json!({"source": SOURCE, "detail-type": ON_DEMAND, "detail": "hunter2-x"}),
                "detail is a string",
            ),
            (
                json!({"source": "aws.iam", "detail-type": API_CALL, "detail": {"eventName": "CreateUser"}}),
                "eventName is not one of",
            ),
            (
                json!({"source": "aws.securityhub", "detail-type": SECURITY_HUB, "detail": {"findings": []}}),
                "AwsIamUser",
            ),
            (
                json!({"source": SOURCE, "detail-type": SCHEDULED, "detail": {"trigger": "drift", "secretId": "s", "attempt": 0}}),
                "attempt",
            ),
        ];
        for (payload, expected) in cases {
            let error = parse(payload).expect_err("refused");
            assert_eq!(error.error_type(), "InvalidEvent");
            let message = error.to_string();
            assert!(
                message.contains(expected),
                "{message} should contain {expected}"
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
