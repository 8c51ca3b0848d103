//! `login-link`: a one-time link into a tenant's desk.

use serde::Serialize;

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginLinkReport {
    #[schemars(extend("const" = true))]
    pub success: bool,
    pub site: String,
    /// The user the link logs in.
    pub email: String,
    /// Opened once, within `expiresInSeconds`, it starts a desk session as `email`.
    pub login_url: String,
    pub expires_in_seconds: u64,
}
