//! The generator's settings, as the operator gives them.

/// How passwords are generated: the operator's settings (`PASSWORD_LENGTH`,
/// `EXCLUDE_*`, `REQUIRE_EACH_INCLUDED_TYPE`), fitted to the account policy by
/// [`super::PasswordGenerator::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorSettings {
    /// Requested length; raised to the policy's minimum when lower.
    pub length: usize,
    /// Characters never to use.
    pub exclude_characters: String,
    /// Use no lowercase letters.
    pub exclude_lowercase: bool,
    /// Use no uppercase letters.
    pub exclude_uppercase: bool,
    /// Use no digits.
    pub exclude_numbers: bool,
    /// Use no symbols.
    pub exclude_punctuation: bool,
    /// Put at least one character of every class that is not excluded.
    pub require_each_included_type: bool,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        Self {
            length: 32,
            exclude_characters: String::new(),
            exclude_lowercase: false,
            exclude_uppercase: false,
            exclude_numbers: false,
            exclude_punctuation: false,
            require_each_included_type: true,
        }
    }
}
