//! The port to member accounts: the handlers that act there.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::error::Result;

use super::Account;

/// The function's handlers in member accounts, each acting through the member role.
pub trait MemberAccounts: Send + Sync {
    /// Whatever acts in one account (the rotation, the resets, the audit).
    type Handlers: Send + Sync;

    /// Whether a member role is set (`MEMBER_ROLE_NAME`): without one, only the
    /// function's own account is served.
    fn enabled(&self) -> bool;

    /// The organisation's active accounts (`organizations:ListAccounts`), for the audit.
    fn organization_accounts(&self) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Whether `account` is an active account of the organisation
    /// (`organizations:DescribeAccount`): one call, whatever the organisation's size.
    fn is_organization_account(&self, account: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Starts the audit of one account in an invocation of its own: `payload` is
    /// sent to `function_arn` (this function) asynchronously (`lambda:InvokeFunction`,
    /// `InvocationType=Event`); Lambda queues it and answers at once.
    fn start_audit(
        &self,
        function_arn: &str,
        payload: &Value,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The handlers for `account`. The role is assumed once per account and its
    /// credentials kept while they last; [`crate::RotationError::MemberRoleRefused`]
    /// when STS refuses. Callers ask only when [`MemberAccounts::enabled`].
    fn handlers(
        &self,
        account: &Account,
    ) -> impl Future<Output = Result<Arc<Self::Handlers>>> + Send;
}
