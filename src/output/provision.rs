//! `provision`: its success (the seed's contract first), its failure (also every other
//! command's failure before it could do anything), and the plan `--dry-run` prints.

use frappe_password::PasswordPolicy;
use serde::Serialize;

use super::RemovedBy;
use super::Undo;
use crate::error::{exit, Code};
use crate::outside::mariadb::registry::SitePath;

/// The plan `provision --dry-run` prints.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionPlan {
    #[schemars(extend("const" = true))]
    pub success: bool,
    #[schemars(extend("const" = true))]
    pub dry_run: bool,
    pub site: String,
    /// The database the tenant would get when it is a standby's (`path` pool). A fresh or
    /// template site's is drawn by the run that makes it (`ft_` + 16 random hex digits), so
    /// no plan can name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
    /// How the site would be made.
    pub path: SitePath,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_site: Option<String>,
    /// The apps the site would have: frappe, then those of INSTALL_APPS the bench has.
    pub apps: Vec<String>,
    pub steps: Vec<PlannedStep>,
    /// The policy the password was judged under (see docs/password.md: which policy when).
    pub password_policy: PasswordPolicy,
    /// What the setup wizard would be given; absent with `--skip-setup-wizard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    pub warnings: Vec<String>,
    pub elapsed: f64,
}

/// Frappe's setup wizard for the tenant: what it was given and what the run did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    /// The language's name as Frappe lists it (e.g. "English", "Deutsch").
    pub language: String,
    pub country: String,
    pub timezone: String,
    pub currency: String,
    /// ERPNext's company, when ERPNext is on the site and its wizard ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
    /// What the run did (absent in a plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wizard: Option<WizardAction>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub name: String,
    pub abbr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WizardAction {
    /// The wizard ran for this sign-up.
    Completed,
    /// The site's setup was complete with other values: System Settings now say these.
    Updated,
    /// The site's setup was complete with these values already.
    Unchanged,
}

/// One of the six steps, and what it would do.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlannedStep {
    pub n: u8,
    pub step: &'static str,
    pub does: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub step: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionSuccess {
    #[schemars(extend("const" = true))]
    pub success: bool,
    pub site: String,
    pub url: String,
    pub email: String,
    pub api_key: String,
    pub api_secret: String,
    pub organization_name: String,
    pub elapsed: f64,
    /// Of `elapsed`, the seconds spent waiting on bench, Frappe and MariaDB (concurrent
    /// waits counted once); the rest is the tool's own work.
    pub waited: f64,
    /// Of `elapsed`, the seconds it waited for one of the bench's web workers (`WEB_WORKERS`:
    /// sign-ups beyond them queue, first come first served); 0 without a limit.
    pub queued: f64,
    pub db_name: String,
    /// How the site was made: pool, template or fresh.
    pub path: SitePath,
    /// For a site taken from the pool: the standby's name before it became the tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_site: Option<String>,
    /// The inventory bench the tenant is on (`--bench NAME` or the one `--bench auto` chose).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
    /// The setup wizard: what it was given, and whether it ran or the site's settings were
    /// changed; absent with `--skip-setup-wizard` (the first login opens the wizard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    /// With `--login-link`: a one-time link that logs the tenant's admin into the desk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
    pub warnings: Vec<String>,
    pub steps: Vec<StepTiming>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[schemars(extend("const" = false))]
    pub success: bool,
    pub error: String,
    pub site: String,
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<&'static str>,
    /// `INVALID_INPUT` about one input of the sign-up: its name in the request
    /// (`subdomain`, `email`, `fullName`, `password`, `organizationName`, or an unknown
    /// one the request had), so a form can mark it; `error` then says what is wrong in
    /// words a person can read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub rollback: Vec<Undo>,
    /// Who removed the site during the rollback, when one was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<RemovedBy>,
    pub warnings: Vec<String>,
    pub elapsed: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<SitePath>,
    /// provision: the inventory bench the run was on (`--bench NAME`, or the one
    /// `--bench auto` had chosen when it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
    /// provision: the database of the site the run made or took (its identity), once it
    /// had one; the rollback says what became of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
}

impl Failure {
    /// A failure before any side effect: nothing to roll back.
    pub fn untouched(code: Code, error: String, site: String) -> Self {
        Failure {
            success: false,
            error,
            site,
            code,
            step: None,
            field: None,
            rollback: vec![],
            removed_by: None,
            warnings: vec![],
            elapsed: 0.0,
            path: None,
            bench: None,
            db_name: None,
        }
    }

    /// The exit code that tells the caller what state the failure left behind.
    pub fn exit_code(&self) -> u8 {
        if self.code == Code::InvalidInput {
            exit::INVALID_INPUT
        } else if self.rollback.iter().any(|u| !u.ok) {
            exit::ROLLBACK_INCOMPLETE
        } else if self.rollback.is_empty() {
            exit::FAILED_UNTOUCHED
        } else {
            exit::FAILED_ROLLED_BACK
        }
    }
}
