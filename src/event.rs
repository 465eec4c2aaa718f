//! The rotation event Secrets Manager sends, parsed without ever echoing a value.
//!
//! The handler receives the payload as a raw [`serde_json::Value`] and this module
//! turns it into a [`RotationEvent`]. Deserializing straight into a typed struct
//! would let serde's error messages quote the offending value, and the
//! `RotationToken` is a credential: errors here name fields and types only.

use std::fmt;

use secrecy::SecretString;
use serde_json::Value;

use crate::error::{Result, RotationError};

/// The four steps of the Secrets Manager rotation contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Generate a password and store it as `AWSPENDING`.
    CreateSecret,
    /// Apply the pending password to the IAM user.
    SetSecret,
    /// Check the pending version before it is promoted.
    TestSecret,
    /// Promote the pending version to `AWSCURRENT`.
    FinishSecret,
}

impl Step {
    /// All steps, in the order Secrets Manager calls them.
    pub const ALL: [Step; 4] = [
        Self::CreateSecret,
        Self::SetSecret,
        Self::TestSecret,
        Self::FinishSecret,
    ];

    /// The name Secrets Manager uses for the step.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateSecret => "createSecret",
            Self::SetSecret => "setSecret",
            Self::TestSecret => "testSecret",
            Self::FinishSecret => "finishSecret",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == name)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invocation of the rotation function.
pub struct RotationEvent {
    /// Which step to run.
    pub step: Step,
    /// The secret's ARN (or name).
    pub secret_id: String,
    /// The version id of the rotation (`ClientRequestToken`).
    pub token: String,
    /// Secrets Manager's `RotationToken`, passed back on `PutSecretValue`; a credential.
    pub rotation_token: Option<SecretString>,
}

impl fmt::Debug for RotationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotationEvent")
            .field("step", &self.step)
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl RotationEvent {
    /// Parses a Lambda payload; unknown fields are ignored.
    pub fn from_value(payload: &Value) -> Result<Self> {
        let Value::Object(fields) = payload else {
            return Err(invalid(format!(
                "the payload is {}, not a JSON object",
                kind(payload)
            )));
        };
        if fields.get("Step").is_none() {
            return Err(invalid(
                "Step is missing: the payload is neither a rotation step (Step, SecretId, ClientRequestToken) nor an EventBridge event (source, detail-type, detail)".into(),
            ));
        }
        let step_name = required_string(fields, "Step")?;
        let step = Step::parse(step_name).ok_or_else(|| {
            invalid("Step is not one of createSecret, setSecret, testSecret, finishSecret".into())
        })?;
        let secret_id = required_string(fields, "SecretId")?.to_owned();
        let token = required_string(fields, "ClientRequestToken")?.to_owned();
        let rotation_token = match fields.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(value)) => Some(SecretString::from(value.as_str())),
            Some(other) => {
                return Err(invalid(format!(
                    "RotationToken is {}, not a string",
                    kind(other)
                )))
            }
        };
        Ok(Self {
            step,
            secret_id,
            token,
            rotation_token,
        })
    }
}

fn required_string<'a>(fields: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str> {
    match fields.get(name) {
        None | Some(Value::Null) => Err(invalid(format!("{name} is missing"))),
        Some(Value::String(value)) if value.trim().is_empty() => {
            Err(invalid(format!("{name} is empty")))
        }
        Some(Value::String(value)) => Ok(value),
        Some(other) => Err(invalid(format!("{name} is {}, not a string", kind(other)))),
    }
}

/// The JSON type of a value, for error messages that must not quote it.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid(message: String) -> RotationError {
    RotationError::InvalidEvent(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn event(payload: Value) -> Result<RotationEvent> {
        RotationEvent::from_value(&payload)
    }

    #[test]
    fn a_complete_event_parses_and_keeps_the_rotation_token() {
        let parsed = event(json!({
            "Step": "setSecret", "SecretId": "arn:s", "ClientRequestToken": "t-1",
            "RotationToken": "rt-secret", "Extra": 1
        }))
        .expect("valid event");
        assert_eq!(parsed.step, Step::SetSecret);
        assert_eq!(parsed.secret_id, "arn:s");
        assert_eq!(parsed.token, "t-1");
        assert_eq!(
            parsed.rotation_token.as_ref().map(|t| t.expose_secret()),
            Some("rt-secret")
        );
    }

    #[test]
    fn every_step_name_secrets_manager_sends_is_understood() {
        for step in Step::ALL {
            let parsed =
                event(json!({"Step": step.as_str(), "SecretId": "s", "ClientRequestToken": "t"}));
            assert_eq!(parsed.expect("valid").step, step);
        }
    }

    #[test]
    fn the_debug_output_of_an_event_hides_the_rotation_token() {
        let parsed = event(json!({
            "Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": "rt-hidden"
        }))
        .expect("valid event");
        let debug = format!("{parsed:?}");
        assert!(!debug.contains("rt-hidden"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn malformed_events_are_refused_with_the_field_named_and_no_value_echoed() {
        let cases = [
            (json!("createSecret"), "not a JSON object"),
            (
                json!({"SecretId": "s", "ClientRequestToken": "t"}),
                "Step is missing",
            ),
            (
                json!({"Step": "rotate", "SecretId": "s", "ClientRequestToken": "t"}),
                "Step is not one of",
            ),
            (
                json!({"Step": 7, "SecretId": "s", "ClientRequestToken": "t"}),
                "Step is a number",
            ),
            (
                json!({"Step": "setSecret", "ClientRequestToken": "t"}),
                "SecretId is missing",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "", "ClientRequestToken": "t"}),
                "SecretId is empty",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s"}),
                "ClientRequestToken is missing",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": ["x"]}),
                "ClientRequestToken is an array",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": {"v": "leak-me"}}),
                "RotationToken is an object",
            ),
        ];
        for (payload, expected) in cases {
            let error = event(payload).expect_err("must be refused");
            let message = error.to_string();
            assert!(
                message.contains(expected),
                "{message} should contain {expected}"
            );
            assert!(!message.contains("leak-me"));
            assert_eq!(error.error_type(), "InvalidEvent");
        }
    }
}
