//! Cross-account rotation: which AWS account an invocation acts in, and how the
//! function reaches a member account of the organisation.
//!
//! The account is read from the secret's ARN (a rotation step) or from the event
//! (a reset, an audit). The function's own account is served with its own role, as
//! always; a member account through a role the function assumes there
//! ([`MemberRoleSettings`]), once per account for the credentials' lifetime
//! ([`ports::MemberAccounts`]). Whether the function may act there at all is
//! decided by IAM, not here: the central role may assume only roles inside the
//! organisation, and the member role trusts only the central role with the
//! external id (`docs/organizations.md`).

pub mod ports;
pub mod settings;

use serde_json::Value;

use crate::error::{Result, RotationError};

pub use settings::MemberRoleSettings;

/// An AWS account, with the partition its ARNs are in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The 12-digit account id.
    pub id: String,
}

impl Account {
    /// The account of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`); `None` when
    /// `id` is not an ARN (a secret's name) or names no account.
    pub fn of_arn(id: &str) -> Option<Self> {
        let mut parts = id.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(_), Some(_), Some(account), Some(_)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        is_account_id(account).then(|| Self {
            partition: partition.to_owned(),
            id: account.to_owned(),
        })
    }

    /// The ARN of role `name` (which may carry a path: `path/name`) in this account.
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{}", self.partition, self.id, name)
    }
}

/// Whether `text` is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Where an invocation acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The function's own account, with its own role.
    Home,
    /// A member account, through the member role.
    Member(Account),
}

impl Route {
    /// Where account `id` is served: [`Route::Home`] for the function's own.
    pub fn of_account(id: &str, home: &Account) -> Self {
        if id == home.id {
            Self::Home
        } else {
            Self::Member(Account {
                partition: home.partition.clone(),
                id: id.to_owned(),
            })
        }
    }
}

/// Where a rotation step acts: the account in the secret's ARN (Secrets Manager
/// always sends the ARN); a bare name is a secret of the function's own account.
pub fn route_step(secret_id: &str, home: &Account) -> Route {
    match Account::of_arn(secret_id) {
        Some(account) if account.id != home.id => Route::Member(account),
        _ => Route::Home,
    }
}

/// Where an EventBridge event acts.
///
/// The subject's own account decides: a secret ARN in `detail.secretId`, else an
/// explicit `detail.account` (an on-demand request for a member account's user),
/// else the event's `account` (a CloudTrail event forwarded from a member account's
/// bus keeps it). An event that came from a member account may act in that account
/// only: naming a subject in another account is refused, so one member account can
/// never make the function act in another.
pub fn route_event(payload: &Value, home: &Account) -> Result<Route> {
    let field = |pointer: &str| payload.pointer(pointer).and_then(Value::as_str);
    let event_account = field("/account").filter(|id| is_account_id(id));
    let secret = field("/detail/secretId");
    let (subject, named) = match (secret.and_then(Account::of_arn), field("/detail/account")) {
        (Some(account), _) => (secret.unwrap_or_default(), Some(account.id)),
        (None, Some(id)) if is_account_id(id) => ("detail.account", Some(id.to_owned())),
        (None, Some(_)) => {
            return Err(RotationError::InvalidEvent(
                "detail.account is not a 12-digit account id".into(),
            ))
        }
        (None, None) => ("the event", None),
    };
    if let (Some(from), Some(target)) = (event_account, named.as_deref()) {
        if from != home.id && from != target {
            return Err(RotationError::AccountMismatch {
                subject: subject.to_owned(),
                account: target.to_owned(),
                event_account: from.to_owned(),
            });
        }
    }
    let target = named.or(event_account.map(str::to_owned));
    Ok(target.map_or(Route::Home, |id| Route::of_account(&id, home)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn home() -> Account {
        Account::of_arn("arn:aws:lambda:us-east-1:123456789012:function:rotate").expect("arn")
    }

    fn member(id: &str) -> Route {
        Route::Member(Account {
            partition: "aws".into(),
            id: id.into(),
        })
    }

    #[test]
    fn the_account_is_read_from_any_arn_and_a_bare_name_has_none() {
        let account =
            Account::of_arn("arn:aws-cn:secretsmanager:cn-north-1:222222222222:secret:a:b-Xy12")
                .expect("arn");
        assert_eq!(account.partition, "aws-cn");
        assert_eq!(account.id, "222222222222");
        assert_eq!(
            account.role_arn("ops/rotation"),
            "arn:aws-cn:iam::222222222222:role/ops/rotation"
        );
        assert_eq!(Account::of_arn("my-secret"), None);
        assert_eq!(Account::of_arn("arn:aws:iam::aws:policy/x"), None);
        assert_eq!(Account::of_arn("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn a_step_acts_in_the_account_of_its_secret() {
        let home = home();
        assert_eq!(
            route_step(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
                &home
            ),
            Route::Home
        );
        assert_eq!(route_step("plain-name", &home), Route::Home);
        assert_eq!(
            route_step(
                "arn:aws:secretsmanager:us-east-1:222222222222:secret:s",
                &home
            ),
            member("222222222222")
        );
    }

    #[test]
    fn an_event_acts_in_the_account_of_its_subject_or_where_it_came_from() {
        let home = home();
        let route = |event: Value| route_event(&event, &home).expect("route");
        assert_eq!(route(json!({"detail": {"userName": "alice"}})), Route::Home);
        assert_eq!(
            route(
                json!({"account": "123456789012", "detail": {"userName": "a", "account": "222222222222"}})
            ),
            member("222222222222")
        );
        assert_eq!(
            route(json!({"account": "333333333333", "detail": {"userIdentity": {}}})),
            member("333333333333")
        );
        assert_eq!(
            route(
                json!({"detail": {"secretId": "arn:aws:secretsmanager:us-east-1:222222222222:secret:s"}})
            ),
            member("222222222222")
        );
        assert_eq!(
            route(
                json!({"account": "222222222222", "detail": {"secretId": "arn:aws:secretsmanager:us-east-1:222222222222:secret:s"}})
            ),
            member("222222222222")
        );
    }

    #[test]
    fn an_event_from_a_member_account_cannot_act_in_another_account() {
        let home = home();
        for event in [
            json!({"account": "333333333333", "detail": {"secretId": "arn:aws:secretsmanager:us-east-1:222222222222:secret:s"}}),
            json!({"account": "333333333333", "detail": {"userName": "a", "account": "222222222222"}}),
            json!({"account": "333333333333", "detail": {"userName": "a", "account": "123456789012"}}),
        ] {
            let error = route_event(&event, &home).expect_err("refused");
            assert_eq!(error.error_type(), "AccountMismatch", "{error}");
            assert!(error.to_string().contains("333333333333"));
        }
        let error = route_event(&json!({"detail": {"account": "12"}}), &home).expect_err("bad");
        assert_eq!(error.error_type(), "InvalidEvent");
    }
}
