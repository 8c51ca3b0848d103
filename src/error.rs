//! How a run ends when it fails, and the process exit codes: one error type for every
//! command (a stable code for callers, the step it stopped at, and what happened), and one
//! map from outcomes to exit codes, documented in `--help`.

use serde::Serialize;

use crate::outside::bench::BenchError;
use crate::outside::mariadb::DbError;

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
    /// `cleanup`, `pool`, `template`: at least one item failed; the JSON `failed` says which.
    pub const ITEMS_FAILED: u8 = 6;
}

/// Stable, machine-readable failure codes for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    /// The success JSON could not be written (stdout closed): the tenant was rolled back.
    Undelivered,
}

/// Why a command stopped before it could report anything else: printed once, at the top,
/// as the failure object (`output::Failure`).
#[derive(Debug, Clone)]
pub struct Error {
    pub code: Code,
    /// The step it stopped at, where there are steps.
    pub step: Option<&'static str>,
    pub message: String,
    /// The site it was about, where there is one (the failure object names it).
    pub site: Option<String>,
    /// `INVALID_INPUT` about one input of the request: its name as the caller sent it
    /// (`subdomain`, `password`, …), so a form can mark that input.
    pub field: Option<String>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            step: None,
            message: message.into(),
            site: None,
            field: None,
        }
    }

    /// The same, about the request's input `field`.
    pub fn on_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same, about `site`.
    pub fn for_site(mut self, site: &str) -> Self {
        self.site = Some(site.to_string());
        self
    }

    /// Invalid input is 2, anything else that stopped a command before it did anything 1.
    pub fn exit_code(&self) -> u8 {
        match self.code {
            Code::InvalidInput => exit::INVALID_INPUT,
            _ => exit::FAILED_UNTOUCHED,
        }
    }

    /// The same, said to have happened at `step`.
    pub fn at(mut self, step: &'static str) -> Self {
        self.step = Some(step);
        self
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Code::ConfigError, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::new(Code::DbUnavailable, e.to_string())
    }
}

impl From<BenchError> for Error {
    fn from(e: BenchError) -> Self {
        let code = match e {
            BenchError::TimedOut { .. } => Code::Timeout,
            _ => Code::BenchFailed,
        };
        Error::new(code, e.to_string())
    }
}
