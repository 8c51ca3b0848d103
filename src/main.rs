use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr only: stdout is reserved for the one JSON result.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let cli = match frappe_tenant::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            // Callers parse stdout: even a usage error answers with one JSON object. It names
            // the kind of mistake only: clap's full message could echo a misplaced password.
            let kind = e.kind().to_string();
            let what = if kind.is_empty() {
                "a command is required: provision, verify, list, cleanup, template or pool".into()
            } else {
                kind
            };
            return ExitCode::from(frappe_tenant::usage_error(&what));
        }
    };
    ExitCode::from(frappe_tenant::run(cli).await)
}
