//! How the rotation behaves, as the operator sets it (`PASSWORD_*`, `EXCLUDE_*`,
//! `PASSWORD_RESET_REQUIRED`, `CREATE_LOGIN_PROFILE`, `REQUIRE_BINDING_TAG`).

use crate::password::GeneratorSettings;

/// The rotation's settings; `crate::config` reads them from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSettings {
    /// Password generation settings.
    pub generator: GeneratorSettings,
    /// `PasswordResetRequired` passed to `UpdateLoginProfile`.
    pub password_reset_required: bool,
    /// Create a login profile when the user has none, instead of failing.
    pub create_login_profile: bool,
    /// Refuse users whose `password-rotation:secret-arn` tag is not the secret's ARN.
    pub require_binding_tag: bool,
}

impl Default for RotationSettings {
    fn default() -> Self {
        Self {
            generator: GeneratorSettings::default(),
            password_reset_required: false,
            create_login_profile: false,
            require_binding_tag: true,
        }
    }
}
