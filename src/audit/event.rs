//! The event that asks for an audit (what the daily schedule sends), parsed.

use serde_json::Value;

use crate::accounts::is_account_id;
use crate::error::{Result, RotationError};
use crate::event::kind;
use crate::reset::event::SOURCE;

/// The `detail-type` of an audit request.
pub const AUDIT_REQUESTED: &str = "IAM Password Audit Requested";

/// One audit request; unset fields take the function's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRequest {
    /// `detail.accounts`: audit these accounts only.
    pub accounts: Option<Vec<String>>,
    /// `detail.resetDrift`: start a reset for each drifted user.
    pub reset_drift: Option<bool>,
    /// `detail.dryRun`: report what the resets would do, start none.
    pub dry_run: bool,
}

impl AuditRequest {
    /// Whether `payload` is an audit request (`source` and `detail-type`).
    pub fn is_audit(payload: &Value) -> bool {
        payload.get("source").and_then(Value::as_str) == Some(SOURCE)
            && payload.get("detail-type").and_then(Value::as_str) == Some(AUDIT_REQUESTED)
    }

    /// Parses the request's `detail` (absent: an empty one).
    pub fn from_value(payload: &Value) -> Result<Self> {
        let invalid = |message: String| RotationError::InvalidEvent(message);
        let detail = match payload.get("detail") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(detail)) => detail,
            Some(other) => {
                return Err(invalid(format!("detail is {}, not an object", kind(other))))
            }
        };
        let flag = |name: &str| match detail.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(value)) => Ok(Some(*value)),
            Some(other) => Err(invalid(format!(
                "detail.{name} is {}, not a boolean",
                kind(other)
            ))),
        };
        let accounts = match detail.get("accounts") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let ids: Option<Vec<String>> = items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .filter(|id| is_account_id(id))
                            .map(str::to_owned)
                    })
                    .collect();
                Some(ids.filter(|ids| !ids.is_empty()).ok_or_else(|| {
                    invalid(
                        "detail.accounts is not a non-empty list of 12-digit account ids".into(),
                    )
                })?)
            }
            Some(other) => {
                return Err(invalid(format!(
                    "detail.accounts is {}, not a list",
                    kind(other)
                )))
            }
        };
        Ok(Self {
            accounts,
            reset_drift: flag("resetDrift")?,
            dry_run: flag("dryRun")?.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"source": SOURCE, "detail-type": AUDIT_REQUESTED, "detail": detail})
    }

    #[test]
    fn the_schedules_empty_request_takes_every_setting() {
        let payload = event(json!({}));
        assert!(AuditRequest::is_audit(&payload));
        assert_eq!(
            AuditRequest::from_value(&payload).expect("ok"),
            AuditRequest::default()
        );
    }

    #[test]
    fn accounts_reset_and_dry_run_are_read() {
        let request = AuditRequest::from_value(&event(
            json!({"accounts": ["222222222222"], "resetDrift": true, "dryRun": true}),
        ))
        .expect("ok");
        assert_eq!(request.accounts, Some(vec!["222222222222".to_owned()]));
        assert_eq!(request.reset_drift, Some(true));
        assert!(request.dry_run);
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        for (detail, name) in [
            (json!({"accounts": ["12"]}), "detail.accounts"),
            (json!({"accounts": []}), "detail.accounts"),
            (json!({"accounts": "222222222222"}), "detail.accounts"),
            (json!({"resetDrift": "yes"}), "detail.resetDrift"),
            (json!({"dryRun": 1}), "detail.dryRun"),
        ] {
            let error = AuditRequest::from_value(&event(detail)).expect_err("refused");
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
