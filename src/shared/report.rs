//! The JSON written to stdout (one object per run) and the process exit codes.
//! The first fields of each object are the seed script's contract and never change;
//! everything after them is additive.

use serde::Serialize;

use crate::outside::mariadb::registry::SitePath;

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

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub step: &'static str,
    pub seconds: f64,
}

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
    pub db_name: String,
    /// How the site was made: pool, template or fresh.
    pub path: SitePath,
    /// For a site taken from the pool: the standby's name before it became the tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_site: Option<String>,
    /// The inventory bench the tenant is on (`--bench NAME` or the one `--bench auto` chose).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
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

/// Reports a person reads as a table at a terminal (`list`, `pool status`).
pub trait Tabular {
    fn table(&self) -> String;
}

/// Seconds as the JSON shows them: to the hundredth, like the seed's `elapsed`.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A plain-text table for people at a terminal: one header line, aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
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
    out(&mut std::io::stdout(), &line);
}

/// One line to a stream that may be closed: losing a line is better than a panic midway
/// through a run that has made something.
fn out(stream: &mut dyn std::io::Write, line: &str) {
    let _ = writeln!(stream, "{line}").and_then(|()| stream.flush());
}

/// Progress lines for people, on stderr; stdout carries only the JSON result.
pub fn progress(line: &str) {
    let text = match progress_style() {
        ProgressStyle::Human => line.to_string(),
        ProgressStyle::Json => serde_json::json!({"event": "log", "message": line}).to_string(),
    };
    out(&mut std::io::stderr(), &text);
}

/// How progress reaches stderr: lines for people, or one JSON object per line for a
/// sign-up page's progress bar (`--progress json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressStyle {
    #[default]
    Human,
    Json,
}

static PROGRESS: std::sync::OnceLock<ProgressStyle> = std::sync::OnceLock::new();

/// Chosen once, from the command line, before any progress is shown.
pub fn set_progress_style(style: ProgressStyle) {
    let _ = PROGRESS.set(style);
}

fn progress_style() -> ProgressStyle {
    PROGRESS.get().copied().unwrap_or_default()
}

/// A provision step starting or done, as a JSON line on stderr in `--progress json`
/// (people see the step's own `[n/5]` line instead):
/// `{"event":"start","step":"create-site","n":1,"of":5}`, and `"done"` with `seconds`.
pub fn step_event(step: &str, n: u8, of: u8, done: Option<f64>) {
    if progress_style() != ProgressStyle::Json {
        return;
    }
    let mut e = serde_json::json!({"event": if done.is_some() { "done" } else { "start" },
        "step": step, "n": n, "of": of});
    if let Some(seconds) = done {
        e["seconds"] = seconds.into();
    }
    out(&mut std::io::stderr(), &e.to_string());
}

/// A report as JSON, or as a table for a person at a terminal (unless `--json`).
pub fn show<R: Serialize + Tabular>(report: &R, json: bool) -> u8 {
    use std::io::IsTerminal;
    if json || !std::io::stdout().is_terminal() {
        print_json(report);
    } else {
        out(&mut std::io::stdout(), &report.table());
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
