//! Everything the tool prints on stdout: one JSON object per run (or, for `list` and `pool
//! status` at a terminal, a table), each type here with its schema name in one table
//! (`schemas`). The first fields of provision's objects are the seed script's contract and
//! never change; everything after them is additive. Registry rows and other inner types
//! are mapped into these, never printed as they are, so the contract is this module's.

mod bench;
mod list;
mod pool;
mod provision;
mod registration;
mod removal;
mod schemas;
mod table;
mod template;
mod verify;

pub use bench::{Bench, BenchEntry, BenchListReport, BenchLoad, BenchReport};
pub use list::{ListReport, SiteHealth};
pub use pool::{
    BenchFill, Made, PoolFillAllReport, PoolFillOutput, PoolFillReport, PoolStatusReport, Standby,
};
pub use provision::{Failure, PlannedStep, ProvisionPlan, ProvisionSuccess, StepTiming};
pub use registration::Registration;
pub use removal::{CleanupReport, Item, RemovedBy, ScanStats, Undo};
pub use schemas::{schema, schema_names};
pub use table::{table, yes_no, Tabular};
pub use template::{AppVersion, TemplateMeta, TemplateReport};
pub use verify::{Check, VerifyReport};

use serde::Serialize;

use crate::error::{exit, Code};
use crate::progress::{progress, write_line};

/// Seconds as the JSON shows them: to the hundredth, like the seed's `elapsed`.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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

/// Writes one JSON object and a newline to stdout. A closed stdout is no panic: the
/// reports written here describe what is already done either way (provision, whose
/// success counts only once written, writes its own).
pub fn print_json<T: Serialize>(value: &T) {
    let line = serde_json::to_string(value).expect("report types always serialise");
    write_line(&mut std::io::stdout(), &line);
}

/// A report as JSON, or as a table for a person at a terminal (unless `--json`).
pub fn show<R: Serialize + Tabular>(report: &R, json: bool) -> u8 {
    use std::io::IsTerminal;
    if json || !std::io::stdout().is_terminal() {
        print_json(report);
    } else {
        write_line(&mut std::io::stdout(), &report.table());
    }
    exit::OK
}

/// Prints a failure that changed nothing; returns its exit code.
pub fn untouched(code: Code, error: String, site: &str) -> u8 {
    progress(&format!("✗ {error}"));
    let failure = Failure::untouched(code, error, site.to_string());
    print_json(&failure);
    failure.exit_code()
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
            removed_by: None,
            warnings: vec![],
            elapsed: 0.0,
            path: None,
            bench: None,
            db_name: None,
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
