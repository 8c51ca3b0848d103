//! `verify`: each check with what it found.

use serde::Serialize;

use super::Registration;
use crate::error::exit;

/// One named check of `verify`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub success: bool,
    pub site: String,
    pub db_name: Option<String>,
    /// The tenant user the user checks looked at.
    pub email: Option<String>,
    pub checks: Vec<Check>,
    /// The registry row that speaks for the site (its live row, else the newest of the
    /// instance its folder holds), when it has one.
    pub registry: Option<Registration>,
    pub elapsed: f64,
}

impl VerifyReport {
    pub fn exit_code(&self) -> u8 {
        if self.success {
            exit::OK
        } else {
            exit::CHECKS_FAILED
        }
    }
}
