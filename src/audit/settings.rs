//! How the audit behaves, as the operator sets it.

/// The audit settings (`AUDIT_ACCOUNTS`, `AUDIT_RESET_DRIFT`, `USER_PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The accounts to audit; `None`: the organisation's accounts when cross-account
    /// rotation is on, else the function's own account.
    pub accounts: Option<Vec<String>>,
    /// Start a reset for each drifted user.
    pub reset_drift: bool,
    /// Only users under this path are audited (the template's `UserPath`).
    pub user_path: String,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            accounts: None,
            reset_drift: false,
            user_path: "/".into(),
        }
    }
}
