//! What removing sites reports: `cleanup`, `pool drain`, and each undo of a rollback.

use serde::Serialize;

use super::round2;
use crate::error::exit;
use crate::progress::progress;

/// One undo attempted during rollback.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Undo {
    pub action: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Who removed a site: bench's drop-site, the tool through MariaDB (and the folder
/// itself), or bench with the tool finishing what it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum RemovedBy {
    #[serde(rename = "bench")]
    Bench,
    #[serde(rename = "mariadb")]
    Mariadb,
    #[serde(rename = "bench+mariadb")]
    BenchAndMariadb,
}

/// One thing cleanup or pool drain found: a site, an orphaned database or DB user, or a
/// run that was killed midway; with the undo steps taken (or, in a dry run, none).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Undo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<RemovedBy>,
}

/// How the orphan scan went: how many databases it looked at, in how many queries.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanStats {
    pub databases: usize,
    pub frappe_databases: usize,
    pub catalog_queries: u64,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    pub success: bool,
    pub dry_run: bool,
    /// What was found to remove (in a dry run: what would go).
    pub planned: Vec<Item>,
    pub dropped: Vec<Item>,
    pub failed: Vec<Item>,
    pub skipped: Vec<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanStats>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed: f64,
}

impl CleanupReport {
    /// Ends a cleanup or drain: one summary line on stderr, success and elapsed set.
    pub fn conclude(&mut self, what: &str, started: std::time::Instant) {
        progress(&format!(
            "{what}: {} removed, {} failed, {} skipped",
            self.dropped.len(),
            self.failed.len(),
            self.skipped.len()
        ));
        self.success = self.failed.is_empty() && self.error.is_none();
        self.elapsed = round2(started.elapsed().as_secs_f64());
    }

    pub fn exit_code(&self) -> u8 {
        if self.error.is_some() && self.dropped.is_empty() && self.failed.is_empty() {
            exit::FAILED_UNTOUCHED
        } else if self.failed.is_empty() && self.error.is_none() {
            exit::OK
        } else {
            exit::ITEMS_FAILED
        }
    }
}
