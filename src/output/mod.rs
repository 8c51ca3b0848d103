//! Everything the tool prints on stdout: one JSON object per run (or, for `list` and `pool
//! status` at a terminal, a table), each type here with its schema name in one table
//! (`schemas`). The first fields of provision's objects are the seed script's contract and
//! never change; everything after them is additive. Registry rows and other inner types
//! are mapped into these, never printed as they are, so the contract is this module's.

mod bench;
mod lifecycle;
mod list;
mod login_link;
mod pool;
mod provision;
mod registration;
mod removal;
mod schemas;
mod table;
mod template;
mod verify;

pub use bench::{
    Bench, BenchEntry, BenchListReport, BenchLoad, BenchReport, DbServer, DbServerListReport,
    DbServerReport,
};
pub use lifecycle::{
    BackupFile, BackupReport, ConfigChange, PlanReport, PlanValues, SuspensionReport, TenantUsage,
    UsageReport, GB,
};
pub use list::{ListReport, SiteHealth};
pub use login_link::LoginLinkReport;
pub use pool::{
    BenchFill, Made, PoolFillAllReport, PoolFillOutput, PoolFillReport, PoolStatusReport, Standby,
};
pub use provision::{
    Company, Failure, PlannedStep, ProvisionPlan, ProvisionSuccess, Setup, StepTiming, WizardAction,
};
pub use registration::Registration;
pub use removal::{CleanupReport, Item, RemovedBy, ScanStats, Undo};
pub use schemas::{schema, schema_names};
pub use table::{table, yes_no, Tabular};
pub use template::{AppVersion, TemplateMeta, TemplateReport};
pub use verify::{Check, VerifyReport};

use serde::Serialize;

use crate::error::{exit, Error};
use crate::progress::write_line;

/// Seconds as the JSON shows them: to the hundredth, like the seed's `elapsed`.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What a command prints, once, at the top (`lib::run`).
pub enum Output {
    Provision(ProvisionSuccess),
    ProvisionFailed(Failure),
    Plan(ProvisionPlan),
    Verify(VerifyReport),
    /// `list`: a table for a person at a terminal, unless `json`.
    List {
        report: ListReport,
        json: bool,
    },
    Cleanup(CleanupReport),
    Template(TemplateReport),
    PoolFill(PoolFillOutput),
    /// `pool status`: a table for a person at a terminal, unless `json`.
    PoolStatus {
        report: PoolStatusReport,
        json: bool,
    },
    Bench(BenchReport),
    BenchList(BenchListReport),
    DbServer(DbServerReport),
    DbServerList(DbServerListReport),
    LoginLink(LoginLinkReport),
    Suspension(SuspensionReport),
    PlanSet(PlanReport),
    Backup(BackupReport),
    /// `usage`: a table for a person at a terminal, unless `json`.
    Usage {
        report: UsageReport,
        json: bool,
    },
    /// Text, not JSON: `schema`, `completions`, `man`.
    Text(String),
    /// Written already, by the command itself, with this exit code: a sign-up's success
    /// counts only once its JSON is written (see `commands::provision`).
    Written(u8),
}

impl Output {
    /// The exit code (documented in `--help`): each report's rule for what it left.
    pub fn exit_code(&self) -> u8 {
        match self {
            Output::Provision(_) | Output::Plan(_) | Output::Text(_) => exit::OK,
            Output::ProvisionFailed(f) => f.exit_code(),
            Output::Verify(r) => r.exit_code(),
            Output::List { .. } | Output::PoolStatus { .. } => exit::OK,
            Output::Bench(_) | Output::BenchList(_) | Output::LoginLink(_) => exit::OK,
            Output::DbServer(_) | Output::DbServerList(_) => exit::OK,
            Output::Suspension(_) | Output::PlanSet(_) | Output::Backup(_) => exit::OK,
            Output::Usage { .. } => exit::OK,
            Output::Cleanup(r) => r.exit_code(),
            Output::Template(r) => r.exit_code(),
            Output::PoolFill(r) => r.exit_code(),
            Output::Written(code) => *code,
        }
    }

    /// Writes it on stdout: one JSON line (a table or text where it says so).
    pub fn print(&self) {
        match self {
            Output::Provision(r) => print_json(r),
            Output::ProvisionFailed(r) => print_json(r),
            Output::Plan(r) => print_json(r),
            Output::Verify(r) => print_json(r),
            Output::List { report, json } => show(report, *json),
            Output::Cleanup(r) => print_json(r),
            Output::Template(r) => print_json(r),
            Output::PoolFill(PoolFillOutput::One(r)) => print_json(r),
            Output::PoolFill(PoolFillOutput::All(r)) => print_json(r),
            Output::PoolStatus { report, json } => show(report, *json),
            Output::Bench(r) => print_json(r),
            Output::BenchList(r) => print_json(r),
            Output::DbServer(r) => print_json(r),
            Output::DbServerList(r) => print_json(r),
            Output::LoginLink(r) => print_json(r),
            Output::Suspension(r) => print_json(r),
            Output::PlanSet(r) => print_json(r),
            Output::Backup(r) => print_json(r),
            Output::Usage { report, json } => show(report, *json),
            Output::Text(t) => {
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = out.write_all(t.as_bytes()).and_then(|()| out.flush());
            }
            Output::Written(_) => {}
        }
    }
}

/// An error as the failure object every output allows: nothing was done.
impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        let mut f = Failure::untouched(
            e.code,
            e.message.clone(),
            e.site.clone().unwrap_or_default(),
        );
        f.step = e.step;
        f.field = e.field.clone();
        f
    }
}

/// Writes one JSON object and a newline to stdout. A closed stdout is no panic: what the
/// report describes is done either way (a sign-up, whose success counts only once
/// written, writes its own).
pub fn print_json<T: Serialize>(value: &T) {
    let line = serde_json::to_string(value).expect("report types always serialise");
    write_line(&mut std::io::stdout(), &line);
}

/// A report as JSON, or as a table for a person at a terminal (unless `json`).
fn show<R: Serialize + Tabular>(report: &R, json: bool) {
    use std::io::IsTerminal;
    if json || !std::io::stdout().is_terminal() {
        print_json(report);
    } else {
        write_line(&mut std::io::stdout(), &report.table());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn failure(code: Code, rollback: Vec<Undo>) -> Failure {
        Failure {
            rollback,
            ..Failure::untouched(code, "x".into(), "a.localhost".into())
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
    fn tables_align_columns() {
        let t = table(
            &["SITE", "OK"],
            &[
                vec!["a.localhost".into(), "yes".into()],
                vec!["b".into(), "no".into()],
            ],
        );
        assert_eq!(t, "SITE         OK\na.localhost  yes\nb            no");
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
