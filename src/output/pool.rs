//! The standby pool: what `pool fill` made and `pool status` sees.

use serde::Serialize;

use super::table::{table, yes_no, Tabular};
use super::{Item, Registration};
use crate::error::exit;
use crate::outside::mariadb::registry::SitePath;

/// A standby site `pool fill` made.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Made {
    pub site: String,
    pub db_name: String,
    pub path: SitePath,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolFillReport {
    pub success: bool,
    pub created: Vec<Made>,
    pub failed: Vec<Item>,
    /// Standby sites in the pool afterwards.
    pub standby: usize,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed: f64,
}

/// `pool fill --all`: each bench's fill.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolFillAllReport {
    pub success: bool,
    pub benches: Vec<BenchFill>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenchFill {
    pub bench: String,
    #[serde(flatten)]
    pub report: PoolFillReport,
}

impl PoolFillAllReport {
    /// The worst of the benches' exit codes (6 over 1 over 0).
    pub fn exit_code(&self) -> u8 {
        self.benches
            .iter()
            .map(|b| b.report.exit_code())
            .max_by_key(|c| match *c {
                exit::OK => 0,
                exit::FAILED_UNTOUCHED => 1,
                _ => 2,
            })
            .unwrap_or(exit::OK)
    }
}

/// What `pool fill` prints: one bench's fill, or with --all every bench's.
#[derive(schemars::JsonSchema)]
#[schemars(untagged)]
pub enum PoolFillOutput {
    One(PoolFillReport),
    All(PoolFillAllReport),
}

impl PoolFillOutput {
    pub fn exit_code(&self) -> u8 {
        match self {
            PoolFillOutput::One(r) => r.exit_code(),
            PoolFillOutput::All(r) => r.exit_code(),
        }
    }
}

impl PoolFillReport {
    pub fn exit_code(&self) -> u8 {
        match (&self.error, self.failed.is_empty()) {
            (Some(_), _) if self.created.is_empty() && self.failed.is_empty() => {
                exit::FAILED_UNTOUCHED
            }
            (None, true) => exit::OK,
            _ => exit::ITEMS_FAILED,
        }
    }
}

/// A registry row of the pool, with what the bench and MariaDB say of its site now.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Standby {
    #[serde(flatten)]
    pub row: Registration,
    pub healthy: bool,
    /// The inventory bench it is on (`--bench NAME`, `--all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatusReport {
    pub success: bool,
    pub standby: Vec<Standby>,
    /// Claims (or drains) under way, or killed midway.
    pub claimed: Vec<Standby>,
    /// With --all: benches that could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

impl Tabular for PoolStatusReport {
    fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .standby
            .iter()
            .chain(&self.claimed)
            .map(|s| {
                vec![
                    s.row.site.clone(),
                    s.row.db_name.clone(),
                    s.row.status.as_str().to_string(),
                    yes_no(s.healthy),
                    s.row.created_at.clone(),
                ]
            })
            .collect();
        table(
            &["SITE", "DATABASE", "STATUS", "HEALTHY", "CREATED (UTC)"],
            &rows,
        )
    }
}
