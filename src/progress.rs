//! Progress on stderr: lines for people, or one JSON object per line for a sign-up page's
//! progress bar (`--progress json`). stdout carries only the one JSON result. A closed
//! stderr is never a panic: losing a line is better than stopping a run midway.

use std::io::Write;

/// One line to a stream that may be closed: losing a line is better than a panic midway
/// through a run that has made something.
pub(crate) fn write_line(stream: &mut dyn Write, line: &str) {
    let _ = writeln!(stream, "{line}").and_then(|()| stream.flush());
}

/// Progress lines for people, on stderr; stdout carries only the JSON result.
pub fn progress(line: &str) {
    let text = match progress_style() {
        ProgressStyle::Human => line.to_string(),
        ProgressStyle::Json => serde_json::json!({"event": "log", "message": line}).to_string(),
    };
    write_line(&mut std::io::stderr(), &text);
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
/// (people see the step's own `[n/6]` line instead):
/// `{"event":"start","step":"create-site","n":1,"of":6}`, and `"done"` with `seconds`.
pub fn step_event(step: &str, n: u8, of: u8, done: Option<f64>) {
    if progress_style() != ProgressStyle::Json {
        return;
    }
    let mut e = serde_json::json!({"event": if done.is_some() { "done" } else { "start" },
        "step": step, "n": n, "of": of});
    if let Some(seconds) = done {
        e["seconds"] = seconds.into();
    }
    write_line(&mut std::io::stderr(), &e.to_string());
}
