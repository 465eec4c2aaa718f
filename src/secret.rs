//! The secret's value: `{"username": "...", "password": "...", ...}`.
//!
//! Parsing never quotes the input: serde_json's syntax errors carry only a
//! position, and type errors are reported by key and JSON type. Keys other than
//! `username` and `password` are carried over unchanged into the new version.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::event::kind;

/// A parsed secret value.
#[derive(Clone)]
pub struct SecretValue {
    username: String,
    password: Option<SecretString>,
    others: Map<String, Value>,
}

impl fmt::Debug for SecretValue {
    // Other keys may hold credentials too: show their names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("other_keys", &self.others.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretValue {
    /// Parses a secret string; the error names what is wrong, never a value.
    pub fn parse(raw: &SecretString) -> Result<Self, String> {
        let value: Value = serde_json::from_str(raw.expose_secret()).map_err(|error| {
            format!(
                "it is not JSON (syntax error at line {}, column {})",
                error.line(),
                error.column()
            )
        })?;
        let Value::Object(mut others) = value else {
            return Err(format!("it is {}, not a JSON object", kind(&value)));
        };
        let username = match others.remove("username") {
            Some(Value::String(name)) if is_iam_user_name(&name) => name,
            Some(Value::String(_)) => {
                return Err(
                    "\"username\" is not a valid IAM user name (1-64 of A-Z a-z 0-9 _+=,.@-)"
                        .into(),
                )
            }
            Some(other) => return Err(format!("\"username\" is {}, not a string", kind(&other))),
            None => return Err("it has no \"username\" key".into()),
        };
        let password = match others.remove("password") {
            None | Some(Value::Null) => None,
            Some(Value::String(password)) => Some(SecretString::from(password)),
            Some(other) => return Err(format!("\"password\" is {}, not a string", kind(&other))),
        };
        Ok(Self {
            username,
            password,
            others,
        })
    }

    /// The IAM user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The console password, if the version has one.
    pub fn password(&self) -> Option<&SecretString> {
        self.password.as_ref()
    }

    /// This value with another password, every other key unchanged.
    pub fn with_password(&self, password: SecretString) -> Self {
        Self {
            password: Some(password),
            ..self.clone()
        }
    }

    /// Serializes the value as the JSON secret string.
    pub fn to_secret_string(&self) -> SecretString {
        let mut object = self.others.clone();
        object.insert("username".into(), Value::String(self.username.clone()));
        if let Some(password) = &self.password {
            object.insert(
                "password".into(),
                Value::String(password.expose_secret().to_owned()),
            );
        }
        SecretString::from(Value::Object(object).to_string())
    }
}

/// IAM's user name pattern: `[\w+=,.@-]+`, 1 to 64 characters.
fn is_iam_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<SecretValue, String> {
        SecretValue::parse(&SecretString::from(raw))
    }

    #[test]
    fn a_value_with_extra_keys_round_trips_with_a_new_password() {
        let value =
            parse(r#"{"username":"alice","password":"old-pw","note":{"team":"ops"},"port":5}"#)
                .expect("valid");
        assert_eq!(value.username(), "alice");
        let next = value.with_password(SecretString::from("new-pw"));
        let json: Value =
            serde_json::from_str(next.to_secret_string().expose_secret()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"username":"alice","password":"new-pw","note":{"team":"ops"},"port":5})
        );
    }

    #[test]
    fn a_value_without_a_password_is_valid() {
        let value = parse(r#"{"username":"bob"}"#).expect("valid");
        assert!(value.password().is_none());
        assert!(parse(r#"{"username":"bob","password":null}"#)
            .expect("valid")
            .password()
            .is_none());
    }

    #[test]
    fn invalid_values_are_explained_without_echoing_them() {
        for (raw, reason) in [
            ("hunter2-secret", "not JSON"),
            (r#"{"username":"a","password":"hunter2-secret""#, "not JSON"),
            (r#"["hunter2-secret"]"#, "an array, not a JSON object"),
            (r#""hunter2-secret""#, "a string, not a JSON object"),
            (r#"{"password":"hunter2-secret"}"#, "no \"username\""),
            (
                r#"{"username":["hunter2-secret"]}"#,
                "\"username\" is an array",
            ),
            (
                r#"{"username":"has space","password":"x"}"#,
                "not a valid IAM user name",
            ),
            (
                r#"{"username":"a","password":12345}"#,
                "\"password\" is a number",
            ),
        ] {
            let reason_found = parse(raw).expect_err("invalid");
            assert!(reason_found.contains(reason), "{reason_found}");
            assert!(!reason_found.contains("hunter2") && !reason_found.contains("12345"));
        }
    }

    #[test]
    fn debug_output_names_keys_but_no_secret() {
        let value =
            parse(r#"{"username":"alice","password":"pw-123","api_key":"k-456"}"#).expect("valid");
        let debug = format!("{value:?}");
        assert!(debug.contains("alice") && debug.contains("api_key"));
        assert!(
            !debug.contains("pw-123") && !debug.contains("k-456"),
            "{debug}"
        );
    }
}
