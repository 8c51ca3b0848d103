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

/// Bytes in one GB of `--max-storage` (GiB: as `du -h` and Frappe's file sizes count).
pub const GB: f64 = 1_073_741_824.0;

/// One tenant's usage against its plan (`SaaS Settings` as stored in its database).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsage {
    pub site: String,
    pub db_name: String,
    /// Its registry status (`active` or `suspended`).
    pub status: String,
    /// The inventory bench, when the run named one.
    pub bench: Option<String>,
    /// `SaaS Settings.plan_name`; absent when the site has no plan written.
    pub plan_name: Option<String>,
    /// Enabled System Users, Administrator and Guest not counted.
    pub users: u64,
    pub max_users: Option<u64>,
    pub users_over: bool,
    /// Its tables and indexes, from MariaDB's catalog.
    pub database_bytes: u64,
    /// `sites/<site>/public/files` and `private/files`.
    pub public_files_bytes: u64,
    pub private_files_bytes: u64,
    /// Database and files together: what `maxStorage` limits.
    pub storage_bytes: u64,
    /// `SaaS Settings.max_storage`, in GB of 1,073,741,824 bytes.
    pub max_storage: Option<f64>,
    pub storage_over: bool,
    /// Over any limit of its plan.
    pub over: bool,
    /// The latest login of those users, as Frappe records it (`YYYY-MM-DD HH:MM:SS.ffffff`,
    /// the bench's local time), when it has recorded one.
    pub last_login: Option<String>,
}

impl TenantUsage {
    /// Fills the `over` flags from the usage and the limits.
    pub fn judge(mut self) -> Self {
        self.users_over = self.max_users.is_some_and(|m| self.users > m);
        self.storage_over = self
            .max_storage
            .is_some_and(|gb| self.storage_bytes as f64 > gb * GB);
        self.over = self.users_over || self.storage_over;
        self
    }
}

/// `usage`: each tenant against its plan.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    #[schemars(extend("const" = true))]
    pub success: bool,
    pub tenants: Vec<TenantUsage>,
    /// Statements sent to MariaDB for the usage (the same for 1 or 1,000 tenants).
    pub queries: u64,
    pub warnings: Vec<String>,
    pub elapsed: f64,
}

impl super::Tabular for UsageReport {
    fn table(&self) -> String {
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1_048_576.0);
        let rows: Vec<Vec<String>> = self
            .tenants
            .iter()
            .map(|t| {
                vec![
                    t.site.clone(),
                    t.status.clone(),
                    t.plan_name.clone().unwrap_or("-".into()),
                    format!(
                        "{}/{}",
                        t.users,
                        t.max_users.map_or("-".into(), |m| m.to_string())
                    ),
                    format!(
                        "{}/{}",
                        mb(t.storage_bytes),
                        t.max_storage.map_or("-".into(), |g| format!("{g} GB"))
                    ),
                    super::yes_no(t.over),
                    t.last_login.clone().unwrap_or("-".into()),
                ]
            })
            .collect();
        super::table(
            &[
                "SITE",
                "STATUS",
                "PLAN",
                "USERS",
                "STORAGE",
                "OVER",
                "LAST LOGIN",
            ],
            &rows,
        )
    }
}

/// `plan set`: the plan written, read back from the site's database.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    #[schemars(extend("const" = true))]
    pub success: bool,
    pub site: String,
    pub db_name: String,
    pub plan_name: String,
    pub max_users: u64,
    pub max_storage: f64,
    /// What the plan was before (absent fields: not written before).
    pub previous: PlanValues,
    /// The tenant's usage when the plan was changed, against the new plan.
    pub usage: TenantUsage,
    /// `--force` let a plan below the tenant's usage through.
    pub forced: bool,
    pub elapsed: f64,
}

/// `SaaS Settings` values as stored.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanValues {
    pub plan_name: Option<String>,
    pub max_users: Option<String>,
    pub max_storage: Option<String>,
}

/// One file of a backup.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupFile {
    /// `database`, `config`, `public-files` or `private-files`.
    pub kind: String,
    /// Relative to the bench directory (`sites/<site>/private/backups/…`).
    pub path: String,
    pub size: u64,
    /// SHA-256 of its content, hex.
    pub sha256: String,
    /// Where `--out` copied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_to: Option<String>,
}

/// `backup`: the files Frappe's backup wrote.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    #[schemars(extend("const" = true))]
    pub success: bool,
    pub site: String,
    pub db_name: String,
    pub with_files: bool,
    pub files: Vec<BackupFile>,
    pub elapsed: f64,
}
