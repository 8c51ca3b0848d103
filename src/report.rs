//! The JSON written to stdout (one object per run) and the process exit codes.
//! The first fields of each object are the seed script's contract and never change;
//! everything after them is additive.

use serde::Serialize;

/// Exit codes, documented in `--help` and README.
pub mod exit {
    /// Provisioned (or, for ops commands, everything checked out).
    pub const OK: u8 = 0;
    /// Failed before any side effect: configuration, MariaDB unreachable, site exists.
    pub const FAILED_UNTOUCHED: u8 = 1;
    /// Invalid input or usage; nothing was touched.
    pub const INVALID_INPUT: u8 = 2;
    /// Failed after creating something, and everything this run created was undone.
    pub const FAILED_ROLLED_BACK: u8 = 3;
    /// Failed, and at least one undo failed: the JSON `rollback` says what is left.
    pub const ROLLBACK_INCOMPLETE: u8 = 4;
    /// `verify`: at least one check failed.
    pub const CHECKS_FAILED: u8 = 5;
}

/// Stable, machine-readable failure codes for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    InvalidInput,
    ConfigError,
    DbUnavailable,
    SiteExists,
    SiteBusy,
    BenchFailed,
    AdminLoginFailed,
    ApiError,
    Timeout,
    Interrupted,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub step: &'static str,
    pub seconds: f64,
}

/// One undo attempted during rollback.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Undo {
    pub action: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionSuccess {
    pub success: bool,
    pub site: String,
    pub url: String,
    pub email: String,
    pub api_key: String,
    pub api_secret: String,
    pub organization_name: String,
    pub elapsed: f64,
    pub db_name: String,
    pub warnings: Vec<String>,
    pub steps: Vec<StepTiming>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub success: bool,
    pub error: String,
    pub site: String,
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<&'static str>,
    pub rollback: Vec<Undo>,
    pub warnings: Vec<String>,
    pub elapsed: f64,
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
            rollback: vec![],
            warnings: vec![],
            elapsed: 0.0,
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

/// Reports a command-line usage error as the failure JSON; returns the exit code.
pub fn usage_error(what: &str) -> u8 {
    let failure = Failure::untouched(
        Code::InvalidInput,
        format!("usage: {what} (see --help)"),
        String::new(),
    );
    print_json(&failure);
    failure.exit_code()
}

/// Writes one JSON object and a newline to stdout.
pub fn print_json<T: Serialize>(value: &T) {
    let line = serde_json::to_string(value).expect("report types always serialise");
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: Code, rollback: Vec<Undo>) -> Failure {
        Failure {
            success: false,
            error: "x".into(),
            site: "a.localhost".into(),
            code,
            step: None,
            rollback,
            warnings: vec![],
            elapsed: 0.0,
        }
    }

    fn undo(ok: bool) -> Undo {
        Undo {
            action: "drop-site".into(),
            ok,
            detail: None,
        }
    }

    #[test]
    fn exit_codes_tell_what_was_left_behind() {
        assert_eq!(
            failure(Code::InvalidInput, vec![]).exit_code(),
            exit::INVALID_INPUT
        );
        assert_eq!(
            failure(Code::SiteExists, vec![]).exit_code(),
            exit::FAILED_UNTOUCHED
        );
        assert_eq!(
            failure(Code::ApiError, vec![undo(true)]).exit_code(),
            exit::FAILED_ROLLED_BACK
        );
        assert_eq!(
            failure(Code::ApiError, vec![undo(true), undo(false)]).exit_code(),
            exit::ROLLBACK_INCOMPLETE
        );
    }

    #[test]
    fn failure_json_keeps_the_seed_fields_first() {
        let json = serde_json::to_string(&failure(Code::SiteExists, vec![])).unwrap();
        assert!(
            json.starts_with(
                r#"{"success":false,"error":"x","site":"a.localhost","code":"SITE_EXISTS""#
            ),
            "{json}"
        );
    }
}
