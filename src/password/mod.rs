//! Console passwords: IAM's character classes, the account password policy, the
//! operator's generator settings, and the generator that satisfies both.

pub mod generator;
pub mod policy;
pub mod settings;

pub use generator::PasswordGenerator;
pub use policy::{ExpiryGap, PasswordPolicy};
pub use settings::GeneratorSettings;

/// IAM accepts console passwords of 1 to 128 characters.
pub const MAX_PASSWORD_LENGTH: usize = 128;

/// The symbols IAM counts as "symbols" (non-alphanumeric characters) in a password policy.
pub const IAM_SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

/// The four character classes of an IAM password policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CharClass {
    /// `a`–`z`.
    Lowercase,
    /// `A`–`Z`.
    Uppercase,
    /// `0`–`9`.
    Number,
    /// One of [`IAM_SYMBOLS`].
    Symbol,
}

impl CharClass {
    /// The four classes, in a fixed order.
    pub const ALL: [CharClass; 4] = [Self::Lowercase, Self::Uppercase, Self::Number, Self::Symbol];

    /// Every character of the class that the generator may use.
    pub fn characters(self) -> Vec<char> {
        match self {
            Self::Lowercase => ('a'..='z').collect(),
            Self::Uppercase => ('A'..='Z').collect(),
            Self::Number => ('0'..='9').collect(),
            Self::Symbol => IAM_SYMBOLS.chars().collect(),
        }
    }

    /// The class of `c`, if it belongs to one.
    pub fn of(c: char) -> Option<Self> {
        match c {
            'a'..='z' => Some(Self::Lowercase),
            'A'..='Z' => Some(Self::Uppercase),
            '0'..='9' => Some(Self::Number),
            _ if IAM_SYMBOLS.contains(c) => Some(Self::Symbol),
            _ => None,
        }
    }

    /// A human name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Lowercase => "lowercase letters",
            Self::Uppercase => "uppercase letters",
            Self::Number => "numbers",
            Self::Symbol => "symbols",
        }
    }
}

/// Whether IAM accepts `c` in a password at all (printable Basic Latin and
/// Latin-1 Supplement, plus tab, line feed and carriage return).
pub fn iam_accepts(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{FF}' | '\t' | '\n' | '\r')
}
