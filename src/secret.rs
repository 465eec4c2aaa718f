//! The secret's value: `{"username": "...", "password": "...", ...}`.
//!
//! Parsing never quotes the input: serde_json's syntax errors carry only a
//! position, and type errors are reported by key and JSON type. Keys other than
//! `username` and `password` are carried over into the new version exactly as
//! stored: each keeps its raw JSON text (a number no `f64` can hold, such as
//! `123456789012345678901234567890` or `1e-400`, comes back byte for byte) and its
//! place in the object.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::event::kind;

/// The key of a secret value that opts in to the self-service strategy, naming the
/// secret that holds the user's own access key.
pub const CREDENTIALS_KEY: &str = "changePasswordCredentials";

/// A parsed secret value.
#[derive(Clone)]
pub struct SecretValue {
    username: String,
    password: Option<SecretString>,
    /// Every key in stored order, with `username` and `password` at their places
    /// and every other key's value as its raw JSON text.
    entries: Vec<Entry>,
}

#[derive(Clone)]
enum Entry {
    Username,
    Password,
    Other(String, Box<RawValue>),
}

impl fmt::Debug for SecretValue {
    // Other keys may hold credentials too: show their names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("other_keys", &self.other_keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The top-level object as (key, raw value) pairs, in order, duplicates kept.
struct RawObject(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push(entry);
                }
                Ok(RawObject(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl SecretValue {
    /// Parses a secret string; the error names what is wrong, never a value.
    pub fn parse(raw: &SecretString) -> Result<Self, String> {
        let text = raw.expose_secret();
        // First as a plain value: syntax errors carry a position only, and the
        // top-level type is named without quoting it.
        let value: Value = serde_json::from_str(text).map_err(|error| {
            format!(
                "it is not JSON (syntax error at line {}, column {})",
                error.line(),
                error.column()
            )
        })?;
        if !value.is_object() {
            return Err(format!("it is {}, not a JSON object", kind(&value)));
        }
        drop(value);
        let RawObject(pairs) = serde_json::from_str(text)
            .map_err(|_| "it is not a JSON object of raw values".to_owned())?;
        let (mut username, mut password) = (None, None);
        let mut entries: Vec<Entry> = Vec::with_capacity(pairs.len());
        for (key, raw_value) in pairs {
            match key.as_str() {
                "username" | "password" if entries.iter().any(|e: &Entry| e.is_key(&key)) => {
                    return Err(format!("it has the key \"{key}\" twice"))
                }
                "username" => {
                    username = Some(parse_username(&raw_value)?);
                    entries.push(Entry::Username);
                }
                "password" => {
                    password = parse_password(&raw_value)?;
                    entries.push(Entry::Password);
                }
                _ => entries.push(Entry::Other(key, raw_value)),
            }
        }
        let username = username.ok_or_else(|| "it has no \"username\" key".to_owned())?;
        Ok(Self {
            username,
            password,
            entries,
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

    /// The string value of another key (`None` when absent; an error naming the key
    /// when it is not a string).
    pub fn other_string(&self, key: &str) -> Result<Option<String>, String> {
        let Some(raw) = self.entries.iter().find_map(|entry| match entry {
            Entry::Other(name, raw) if name == key => Some(raw),
            _ => None,
        }) else {
            return Ok(None);
        };
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::String(value)) if !value.trim().is_empty() => Ok(Some(value)),
            Ok(Value::Null) => Ok(None),
            Ok(Value::String(_)) => Err(format!("\"{key}\" is empty")),
            Ok(other) => Err(format!("\"{key}\" is {}, not a string", kind(&other))),
            Err(_) => Err(format!("\"{key}\" is not valid JSON")),
        }
    }

    /// The names of the keys other than `username` and `password`, in stored order.
    pub fn other_keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|entry| match entry {
            Entry::Other(key, _) => Some(key.as_str()),
            _ => None,
        })
    }

    /// This value with another password, every other key unchanged.
    pub fn with_password(&self, password: SecretString) -> Self {
        let mut entries = self.entries.clone();
        if !entries.iter().any(|entry| matches!(entry, Entry::Password)) {
            entries.push(Entry::Password);
        }
        Self {
            username: self.username.clone(),
            password: Some(password),
            entries,
        }
    }

    /// Serializes the value as the JSON secret string: keys in stored order, other
    /// keys' values as their stored text.
    pub fn to_secret_string(&self) -> SecretString {
        let mut out = String::from("{");
        for entry in &self.entries {
            let (key, value) = match entry {
                Entry::Username => ("username", Value::String(self.username.clone()).to_string()),
                Entry::Password => match &self.password {
                    Some(password) => (
                        "password",
                        Value::String(password.expose_secret().to_owned()).to_string(),
                    ),
                    None => continue,
                },
                Entry::Other(key, raw) => (key.as_str(), raw.get().to_owned()),
            };
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&Value::String(key.to_owned()).to_string());
            out.push(':');
            out.push_str(&value);
        }
        out.push('}');
        SecretString::from(out)
    }
}

impl Entry {
    fn is_key(&self, key: &str) -> bool {
        match self {
            Self::Username => key == "username",
            Self::Password => key == "password",
            Self::Other(other, _) => other == key,
        }
    }
}

fn parse_username(raw: &RawValue) -> Result<String, String> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::String(name)) if is_iam_user_name(&name) => Ok(name),
        Ok(Value::String(_)) => {
            Err("\"username\" is not a valid IAM user name (1-64 of A-Z a-z 0-9 _+=,.@-)".into())
        }
        Ok(other) => Err(format!("\"username\" is {}, not a string", kind(&other))),
        Err(_) => Err("\"username\" is not valid JSON".into()),
    }
}

fn parse_password(raw: &RawValue) -> Result<Option<SecretString>, String> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::String(password)) => Ok(Some(SecretString::from(password))),
        Ok(other) => Err(format!("\"password\" is {}, not a string", kind(&other))),
        Err(_) => Err("\"password\" is not valid JSON".into()),
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
    fn other_keys_come_back_byte_for_byte_in_their_stored_order() {
        let stored = r#"{"big":123456789012345678901234567890,"username":"alice","pi":3.14159265358979323846264,"tiny":1e-400,"password":"old-pw","nested":{"b" : [1.0, 2e5], "a":null},"text":"caf\u00e9"}"#;
        let next = parse(stored)
            .expect("valid")
            .with_password(SecretString::from("new-pw"));
        assert_eq!(
            next.to_secret_string().expose_secret(),
            r#"{"big":123456789012345678901234567890,"username":"alice","pi":3.14159265358979323846264,"tiny":1e-400,"password":"new-pw","nested":{"b" : [1.0, 2e5], "a":null},"text":"caf\u00e9"}"#
        );
    }

    #[test]
    fn a_password_added_to_a_value_without_one_goes_last() {
        let next = parse(r#"{"username":"bob","n":1.50}"#)
            .expect("valid")
            .with_password(SecretString::from("pw\"1"));
        assert_eq!(
            next.to_secret_string().expose_secret(),
            r#"{"username":"bob","n":1.50,"password":"pw\"1"}"#
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
            (
                r#"{"username":"a","password":"hunter2-secret","password":"x"}"#,
                "the key \"password\" twice",
            ),
            (
                r#"{"username":"a","username":"hunter2-secret"}"#,
                "the key \"username\" twice",
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
