//! `list`: every site of a bench with its health and the registry's view of it.

use serde::Serialize;

use super::table::{table, yes_no, Tabular};
use crate::outside::mariadb::registry::{SitePath, Status};

/// One site of the bench as `list` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteHealth {
    pub site: String,
    /// Whether the site folder exists (a registry row can outlive it).
    pub folder: bool,
    /// Whether the folder has a readable site_config.json.
    pub config: bool,
    pub db_name: Option<String>,
    pub database: bool,
    pub frappe_schema: bool,
    pub db_user: bool,
    /// Folder, config, database with Frappe's tables and DB user all present.
    pub healthy: bool,
    pub status: Option<Status>,
    pub path: Option<SitePath>,
    pub email: Option<String>,
    pub organization: Option<String>,
    /// The inventory bench it is on (`--bench NAME`, `--all-benches`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListReport {
    pub success: bool,
    pub sites: Vec<SiteHealth>,
    /// With --all-benches: benches that could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

impl Tabular for ListReport {
    fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .sites
            .iter()
            .map(|s| {
                vec![
                    s.site.clone(),
                    s.db_name.clone().unwrap_or("-".into()),
                    yes_no(s.database),
                    yes_no(s.frappe_schema),
                    yes_no(s.db_user),
                    yes_no(s.healthy),
                    s.status
                        .map(|x| x.as_str().to_string())
                        .unwrap_or("-".into()),
                    s.email.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &[
                "SITE", "DATABASE", "DB", "SCHEMA", "DB USER", "HEALTHY", "REGISTRY", "EMAIL",
            ],
            &rows,
        )
    }
}
