//! What the commands that operate a tenant after sign-up print: `suspend` and `resume`.

use serde::Serialize;
use serde_json::Value;

/// One key of the site's `site_config.json` a suspension sets or a resume restores.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    /// `maintenance_mode`, `allow_reads_during_maintenance` or `pause_scheduler`.
    pub key: String,
    /// Its value before (absent: the key was not in the config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// Its value after (absent: the key is not in the config now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Whether bench had to change it (false: it already held that value).
    pub changed: bool,
}

/// `suspend` and `resume`: the tenant's state now and what changed in its config.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspensionReport {
    #[schemars(extend("const" = true))]
    pub success: bool,
    pub site: String,
    pub db_name: String,
    /// The registry status now: `suspended` after `suspend`, `active` after `resume`.
    pub status: String,
    /// The reason given to `suspend` (for `resume`: the one the suspension had).
    pub reason: Option<String>,
    /// When the tenant was suspended (UTC, RFC 3339).
    pub suspended_at: Option<String>,
    pub config: Vec<ConfigChange>,
    pub elapsed: f64,
}
