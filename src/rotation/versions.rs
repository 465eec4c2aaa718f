//! A per-process cache of secret version values.
//!
//! Secrets Manager never changes the value of a version once stored, so a value
//! read (or written) in one step can serve the later steps of the same rotation
//! when Lambda reuses the process, which saves a `GetSecretValue` per step.
//! Stage labels are never cached: every step reads them afresh.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::SecretString;

/// At most this many values are held; past it the cache starts over.
const CAPACITY: usize = 32;

/// Version values by (secret ARN, version id).
#[derive(Default)]
pub(super) struct VersionCache {
    values: Mutex<HashMap<(String, String), SecretString>>,
}

impl VersionCache {
    /// The cached value of a version.
    pub(super) fn get(&self, secret: &str, version: &str) -> Option<SecretString> {
        let values = self
            .values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        values
            .get(&(secret.to_owned(), version.to_owned()))
            .cloned()
    }

    /// Remembers the value of a version.
    pub(super) fn insert(&self, secret: &str, version: &str, value: SecretString) {
        let mut values = self
            .values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if values.len() >= CAPACITY {
            values.clear();
        }
        values.insert((secret.to_owned(), version.to_owned()), value);
    }

    /// Forgets every version of a secret (its rotation is over).
    pub(super) fn forget_secret(&self, secret: &str) {
        let mut values = self
            .values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        values.retain(|(cached_secret, _), _| cached_secret != secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn values_are_kept_per_secret_and_version_and_forgotten_per_secret() {
        let cache = VersionCache::default();
        cache.insert("s1", "v1", SecretString::from("a"));
        cache.insert("s2", "v1", SecretString::from("b"));
        assert_eq!(
            cache.get("s1", "v1").map(|v| v.expose_secret().to_owned()),
            Some("a".into())
        );
        assert!(cache.get("s1", "v2").is_none());
        cache.forget_secret("s1");
        assert!(cache.get("s1", "v1").is_none());
        assert!(cache.get("s2", "v1").is_some());
    }

    #[test]
    fn the_cache_never_grows_past_its_capacity() {
        let cache = VersionCache::default();
        for i in 0..(CAPACITY * 3) {
            cache.insert("s", &i.to_string(), SecretString::from("x"));
        }
        assert!(cache.values.lock().map(|v| v.len()).unwrap_or(0) <= CAPACITY);
    }
}
