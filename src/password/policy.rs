//! The account password policy, as the rotation logic sees it.

use std::collections::BTreeSet;
use std::fmt;

use super::{iam_accepts, CharClass, MAX_PASSWORD_LENGTH};

/// The rules a new console password must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum number of characters.
    pub minimum_length: usize,
    /// Classes that must each appear at least once.
    pub required_classes: BTreeSet<CharClass>,
    /// How many distinct classes must appear (IAM's default policy: three of four).
    pub minimum_distinct_classes: usize,
    /// How many previous passwords IAM refuses to reuse (0 = reuse allowed).
    pub reuse_prevention: usize,
    /// `MaxPasswordAge`: days until a password expires (`None`: never).
    pub max_password_age_days: Option<u32>,
    /// `HardExpiry`: an expired password locks the user out until an administrator resets it.
    pub hard_expiry: bool,
}

/// Passwords expire (`MaxPasswordAge`) before the secret's next rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryGap {
    /// The policy's `MaxPasswordAge`, in days.
    pub max_age_days: u32,
    /// The secret's rotation interval, in hours.
    pub interval_hours: u64,
    /// Whether the policy's `HardExpiry` locks an expired user out.
    pub hard_expiry: bool,
}

impl fmt::Display for ExpiryGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let interval = if self.interval_hours % 24 == 0 {
            format!("{} days", self.interval_hours / 24)
        } else {
            format!("{} hours", self.interval_hours)
        };
        write!(
            f,
            "the account password policy's MaxPasswordAge ({} days) is shorter than the secret's rotation interval ({interval}): ",
            self.max_age_days
        )?;
        if self.hard_expiry {
            f.write_str(
                "with HardExpiry the user is locked out between the expiry and the next rotation",
            )
        } else {
            f.write_str("after the expiry IAM makes the user choose a password Secrets Manager does not hold")
        }?;
        f.write_str("; rotate at least as often as passwords expire")
    }
}

impl PasswordPolicy {
    /// The rules IAM applies when the account has no password policy:
    /// 8 to 128 characters, at least three of the four classes.
    pub fn iam_default() -> Self {
        Self {
            minimum_length: 8,
            required_classes: BTreeSet::new(),
            minimum_distinct_classes: 3,
            reuse_prevention: 0,
            max_password_age_days: None,
            hard_expiry: false,
        }
    }

    /// A warning when passwords expire before the next rotation replaces them: with
    /// `HardExpiry` the user is locked out in between, without it IAM makes them choose
    /// a password Secrets Manager does not hold. `interval_hours` is the secret's
    /// rotation interval, when its rules say one.
    pub fn expiry_gap(&self, interval_hours: Option<u64>) -> Option<ExpiryGap> {
        let max_age_days = self.max_password_age_days?;
        let interval_hours = interval_hours?;
        (u64::from(max_age_days) * 24 < interval_hours).then_some(ExpiryGap {
            max_age_days,
            interval_hours,
            hard_expiry: self.hard_expiry,
        })
    }

    /// Checks `password` against the policy; the error says which rule fails,
    /// never the password.
    pub fn check(&self, password: &str) -> Result<(), String> {
        let length = password.chars().count();
        if length < self.minimum_length {
            return Err(format!(
                "it is shorter than {} characters",
                self.minimum_length
            ));
        }
        if length > MAX_PASSWORD_LENGTH {
            return Err(format!(
                "it is longer than {MAX_PASSWORD_LENGTH} characters"
            ));
        }
        if !password.chars().all(iam_accepts) {
            return Err("it contains a character IAM does not accept".into());
        }
        let present: BTreeSet<CharClass> = password.chars().filter_map(CharClass::of).collect();
        if let Some(missing) = self.required_classes.difference(&present).next() {
            return Err(format!("it has no {}", missing.describe()));
        }
        if present.len() < self.minimum_distinct_classes {
            return Err(format!(
                "it uses {} of the character classes, fewer than {}",
                present.len(),
                self.minimum_distinct_classes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(minimum_length: usize, required: &[CharClass]) -> PasswordPolicy {
        PasswordPolicy {
            minimum_length,
            required_classes: required.iter().copied().collect(),
            minimum_distinct_classes: 0,
            reuse_prevention: 0,
            max_password_age_days: None,
            hard_expiry: false,
        }
    }

    #[test]
    fn a_max_password_age_shorter_than_the_rotation_interval_is_a_gap() {
        let expiring = PasswordPolicy {
            max_password_age_days: Some(30),
            hard_expiry: true,
            ..PasswordPolicy::iam_default()
        };
        let gap = expiring.expiry_gap(Some(90 * 24)).expect("a gap");
        let message = gap.to_string();
        assert!(
            message.contains("MaxPasswordAge (30 days)") && message.contains("(90 days)"),
            "{message}"
        );
        assert!(
            message.contains("HardExpiry") && message.contains("locked out"),
            "{message}"
        );
        assert_eq!(expiring.expiry_gap(Some(30 * 24)), None);
        assert_eq!(expiring.expiry_gap(Some(7 * 24)), None);
        assert_eq!(expiring.expiry_gap(None), None);
        assert_eq!(
            PasswordPolicy::iam_default().expiry_gap(Some(365 * 24)),
            None
        );
        let soft = PasswordPolicy {
            hard_expiry: false,
            ..expiring
        };
        assert!(soft
            .expiry_gap(Some(31 * 24))
            .expect("a gap")
            .to_string()
            .contains("does not hold"));
    }

    #[test]
    fn a_password_meeting_every_rule_passes() {
        let strict = policy(14, &CharClass::ALL);
        assert_eq!(strict.check("Abcdefgh1234!x"), Ok(()));
    }

    #[test]
    fn each_broken_rule_is_named_without_the_password() {
        let strict = policy(14, &CharClass::ALL);
        for (password, reason) in [
            ("Ab1!", "shorter than 14"),
            ("abcdefgh1234!x", "no uppercase letters"),
            ("ABCDEFGH1234!X", "no lowercase letters"),
            ("Abcdefghijkl!x", "no numbers"),
            ("Abcdefgh12345x", "no symbols"),
            ("Abcdefgh1234!x\u{100}", "does not accept"),
        ] {
            let message = strict.check(password).expect_err("must fail");
            assert!(message.contains(reason), "{message}");
            assert!(!message.contains(password));
        }
        assert!(policy(1, &[])
            .check(&"a".repeat(129))
            .expect_err("too long")
            .contains("longer than 128"));
    }

    #[test]
    fn iams_default_policy_wants_eight_characters_of_three_classes() {
        let default = PasswordPolicy::iam_default();
        assert!(default.check("Abc1!").is_err());
        assert!(default.check("abcdefgh1").is_err());
        assert_eq!(default.check("abcdefg1!"), Ok(()));
        assert_eq!(default.check("ABCDEFg1"), Ok(()));
    }

    #[test]
    fn characters_outside_the_symbol_set_count_for_no_class_but_are_accepted() {
        let lenient = policy(1, &[]);
        assert_eq!(lenient.check("a b~\"\u{e9}"), Ok(()));
        assert!(policy(1, &[CharClass::Symbol])
            .check("a b~\"\u{e9}")
            .is_err());
    }
}
