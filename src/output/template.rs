//! The template: its description (`template.json`, written by `template build`, printed by
//! `template status`), and the report of both.

use frappe_password::PasswordPolicy;
use serde::{Deserialize, Serialize};

use super::{RemovedBy, StepTiming, Undo};
use crate::error::exit;

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateReport {
    pub success: bool,
    pub template: Option<TemplateMeta>,
    /// Whether provision would restore it now.
    pub usable: bool,
    /// Why not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepTiming>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup: Vec<Undo>,
    /// Who removed the reference site, once the build is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<RemovedBy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed: f64,
}

impl TemplateReport {
    pub fn exit_code(&self) -> u8 {
        match (&self.error, self.cleanup.iter().all(|u| u.ok)) {
            (None, _) => exit::OK,
            // Failed before making anything (or `template status` could not read the bench).
            (Some(_), _) if self.steps.is_empty() && self.cleanup.is_empty() => {
                exit::FAILED_UNTOUCHED
            }
            (Some(_), true) => exit::FAILED_ROLLED_BACK,
            (Some(_), false) => exit::ITEMS_FAILED,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppVersion {
    pub app: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMeta {
    pub id: String,
    /// The uncompressed dump, relative to the bench directory. Uncompressed on purpose:
    /// new-site decompresses a `.sql.gz` into one fixed file next to it, which concurrent
    /// sign-ups would overwrite under each other.
    pub sql: String,
    pub apps: Vec<AppVersion>,
    pub created_at_unix: u64,
    pub build_seconds: f64,
    /// The reference site's password policy (System Settings right after new-site): what
    /// every site this bench makes starts with, template, standby or fresh alike.
    /// Absent in templates built before the tool recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicy>,
}
