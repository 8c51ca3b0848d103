//! Command-line interface (clap only): every setting is a flag with an environment
//! fallback, so signup.ts can configure the tool without touching argv.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bench::DbHostFlag;
use crate::secret::Secret;

/// Passwords are `Secret` from parsing on, so a `Debug` of the arguments shows none.
fn secret(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(s))
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failed before anything was created (configuration, MariaDB unreachable, site exists)
  2  invalid input or usage; nothing was touched
  3  failed after creating something; everything this run created was rolled back
  4  failed and the rollback is incomplete: the JSON \"rollback\" list says what is left

stdout carries exactly one JSON object, on success and on failure; progress goes to stderr.";

#[derive(Debug, Parser)]
#[command(name = "frappe-tenant", version, about = "Provision isolated Frappe/ERPNext tenants: bench for the site, REST for every user step, one JSON result.", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a site, install apps, create the tenant's admin user, write its plan and API keys.
    #[command(after_help = "Examples:
  frappe-tenant provision acme-corp john@acme.com 'John Doe' 'SecurePass123' 'Acme Corporation'
  echo '{\"subdomain\":\"acme-corp\",\"email\":\"john@acme.com\",\"fullName\":\"John Doe\",\"password\":\"SecurePass123\",\"organizationName\":\"Acme Corporation\"}' \\
    | frappe-tenant provision --request -     # keeps the password out of argv

Exit codes: 0 success, 1 failed untouched, 2 invalid input, 3 failed and rolled back, 4 rollback incomplete.")]
    Provision(ProvisionArgs),
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Subdomain of the new site (a DNS label): the site is <subdomain>.<SITE_DOMAIN>
    pub subdomain: Option<String>,
    /// Email of the tenant's admin user
    pub email: Option<String>,
    /// Full name of the tenant's admin user ("First Last")
    pub full_name: Option<String>,
    /// Password of the tenant's admin user (prefer --request: argv is visible to other users)
    #[arg(value_parser = secret)]
    pub password: Option<Secret>,
    /// Organization name, echoed in the result
    pub organization_name: Option<String>,

    /// Read the sign-up as JSON {subdomain,email,fullName,password,organizationName} from FILE, or '-' for stdin
    #[arg(long, value_name = "FILE", conflicts_with_all = ["subdomain", "email", "full_name", "password", "organization_name"])]
    pub request: Option<PathBuf>,

    /// Plan name written to SaaS Settings
    #[arg(long, default_value = "Free")]
    pub plan_name: String,
    /// Maximum users written to SaaS Settings
    #[arg(long, default_value_t = 5)]
    pub max_users: u32,
    /// Maximum storage in GB written to SaaS Settings
    #[arg(long, default_value_t = 1.0)]
    pub max_storage: f64,
    /// Deadline for the whole run, in seconds; rollback gets up to 90 s more
    #[arg(long, env = "PROVISION_TIMEOUT", default_value_t = 120)]
    pub timeout: u64,
    /// Administrator password for the new site (default: a fresh random one per site)
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub admin_password: Option<Secret>,
    /// Apps to install after creating the site, comma-separated; an app the bench lacks is a warning
    #[arg(
        long,
        env = "INSTALL_APPS",
        default_value = "nexus_core",
        value_delimiter = ','
    )]
    pub install_apps: Vec<String>,

    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// docker compose exec -T <DOCKER_SERVICE> bench …
    Docker,
    /// <BENCH_BIN> … run in <BENCH_PATH>
    Local,
}

/// How to reach bench, Frappe and MariaDB; shared by every command.
#[derive(Debug, Args)]
pub struct ConnectOpts {
    /// How bench is run
    #[arg(long, env = "BENCH_EXECUTOR", value_enum, default_value = "docker")]
    pub bench_executor: ExecutorKind,
    /// Compose service that runs bench (docker executor); COMPOSE_FILE / COMPOSE_PROJECT_NAME are docker's own
    #[arg(long, env = "DOCKER_SERVICE", default_value = "backend")]
    pub docker_service: String,
    /// Bench directory: local path (local executor) or path inside the container (docker; default: the container's workdir)
    #[arg(long, env = "BENCH_PATH")]
    pub bench_path: Option<PathBuf>,
    /// bench program (local executor)
    #[arg(long, env = "BENCH_BIN", default_value = "bench")]
    pub bench_bin: PathBuf,
    /// How new-site makes the site's DB user reachable from every host: no-mariadb-socket (v15 before 15.47.2) or login-scope (--mariadb-user-host-login-scope=%, 15.47.2+)
    #[arg(
        long,
        env = "BENCH_DB_HOST_FLAG",
        value_enum,
        default_value = "no-mariadb-socket"
    )]
    pub db_host_flag: DbHostFlag,
    /// Frappe's HTTP endpoint; the site is chosen by the Host header
    #[arg(long, env = "FRAPPE_URL", default_value = "http://localhost:8080")]
    pub frappe_url: String,
    /// Domain under which tenant sites are created
    #[arg(long, env = "SITE_DOMAIN", default_value = "localhost")]
    pub site_domain: String,
    /// MariaDB root URL; its credentials are also the root credentials given to bench
    #[arg(
        long,
        env = "MARIADB_URL",
        default_value = "mysql://root:admin@127.0.0.1:3306",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub mariadb_url: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn parsed_arguments_never_show_a_password() {
        let cli = Cli::try_parse_from([
            "frappe-tenant",
            "provision",
            "acme",
            "a@acme.com",
            "A B",
            "Tr1cky-Lantern-42",
            "Acme",
            "--admin-password",
            "Adm1n-Very-Secret",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("Tr1cky-Lantern-42") && !shown.contains("Adm1n-Very-Secret"),
            "{shown}"
        );
        let Command::Provision(args) = cli.command;
        assert_eq!(args.password.unwrap().expose(), "Tr1cky-Lantern-42");
    }
}
