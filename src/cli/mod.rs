//! Command-line interface (clap only): every setting is a flag with an environment
//! fallback, so signup.ts and ops scripts can configure the tool without touching argv.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::basics::secret::Secret;
use crate::outside::bench::DbHostFlag;
use crate::progress::ProgressStyle;

mod bench;
pub use bench::{
    BenchAddArgs, BenchCommand, BenchListArgs, BenchNameArgs, DbServerAddArgs, DbServerCommand,
};

/// A boolean environment variable takes what people type: 1/0, true/false, yes/no, on/off
/// (any case), not only clap's `true`/`false`.
fn boolish() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// Passwords are `Secret` from parsing on, so a `Debug` of the arguments shows none.
fn secret(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(s))
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success (verify: every check passed)
  1  failed before anything was changed (configuration, MariaDB unreachable, site exists or busy,
     cleanup interrupted during its countdown)
  2  invalid input or usage; nothing was touched
  3  provision failed after creating something; everything this run created was rolled back
  4  provision failed and the rollback is incomplete: the JSON \"rollback\" list says what is left
  5  verify: at least one check failed (the JSON \"checks\" list says which)
  6  cleanup, pool or template: some items failed (the JSON \"failed\" list says which)

stdout carries exactly one JSON object (list and pool status on a terminal: a table;
completions and man their text); progress and logs go to stderr.";

#[derive(Debug, Parser)]
#[command(name = "frappe-tenant", version, about = "Provision isolated Frappe/ERPNext tenants: bench for the site, REST for every user step, one JSON result.", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Progress on stderr: lines for people, or JSON lines
    /// ({"event":"start"|"done","step":…,"n":…,"of":6,"seconds":…}; other lines as
    /// {"event":"log","message":…}) for a progress bar
    #[arg(long, global = true, env = "PROGRESS", value_enum, default_value_t = ProgressStyle::Human)]
    pub progress: ProgressStyle,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum Command {
    /// Make a tenant: take a standby site from the pool, else restore the template, else
    /// run a fresh new-site; then create its admin user, plan and API keys and complete the setup wizard over REST.
    #[command(after_help = "Examples:
  frappe-tenant provision acme-corp john@acme.com 'John Doe' 'SecurePass123' 'Acme Corporation'
  echo '{\"subdomain\":\"acme-corp\",\"email\":\"john@acme.com\",\"fullName\":\"John Doe\",\"password\":\"SecurePass123\",\"organizationName\":\"Acme Corporation\"}' \\
    | frappe-tenant provision --request -     # keeps the password out of argv
  TENANT_PUBLIC_URL='https://{subdomain}.example.com' frappe-tenant provision --request - < signup.json

An invalid input is exit 2 with \"field\" naming it (subdomain, email, fullName, password,
organizationName) and \"error\" saying what is wrong in words a person can read.

The JSON's \"path\" says how the site was made: pool, template or fresh.
Exit codes: 0 success, 1 failed untouched, 2 invalid input, 3 failed and rolled back, 4 rollback incomplete.")]
    Provision(ProvisionArgs),

    /// Check one tenant end to end: folder, database, DB user, HTTP, its admin user,
    /// role, API keys, plan and apps. Exit 5 when any check fails.
    #[command(after_help = "Examples:
  frappe-tenant verify acme-corp                       # subdomain or full site name
  TENANT_API_SECRET=… frappe-tenant verify acme-corp.localhost --email john@acme.com --api-key 1a2b…

The user checked is --email, else the registry's email for the site, else the site's first
System Manager other than Administrator.")]
    Verify(VerifyArgs),

    /// Every site of the bench with its database and health, and the registry's view of it.
    #[command(
        after_help = "JSON when stdout is not a terminal or with --json; a table otherwise."
    )]
    List(ListArgs),

    /// Drop test tenants by subdomain pattern, and orphaned databases and DB users.
    #[command(after_help = "Examples:
  frappe-tenant cleanup --pattern 'test-*' --dry-run   # what would go
  frappe-tenant cleanup --pattern 'test-*'             # shows the list, waits 5 s (Ctrl-C aborts)
  frappe-tenant cleanup --orphans --yes                # databases no site references, no wait

--pattern matches subdomains of SITE_DOMAIN (* and ? wildcards, at least one other character).
Each site goes only as the instance its folder holds: a folder whose database differs from its
live registry row's, or names a database without Frappe's tables, is skipped and says why.
--orphans drops databases with a Frappe schema that no site of any inventory bench references and
the registry does not list as live, their DB users, and DB users left by dropped databases; it
never touches system schemas, the registry, the admin account's database, or a database without
Frappe's tables. It also finishes runs that were killed midway (registry rows left in
provisioning, claimed, dropping or failed), acting only on each row's own instance, and closes
rows of sites that were made again later without touching them. A bench that shares this MariaDB
server without being in the inventory is unknown to it: scope it with --db-pattern then. It needs
the registry (REGISTRY_DB) this bench was used with: without it, nothing is removed.")]
    Cleanup(CleanupArgs),

    /// The template: a dump of a freshly made site that new-site restores in seconds.
    #[command(subcommand)]
    Template(TemplateCommand),

    /// The standby pool: sites made ahead of time, handed to sign-ups in about a second.
    #[command(subcommand)]
    Pool(PoolCommand),

    /// The bench inventory: the benches sign-ups may be placed on (`provision --bench auto`).
    #[command(subcommand)]
    Bench(BenchCommand),

    /// Database servers: benches may keep their sites on servers apart from the registry's.
    #[command(subcommand)]
    DbServer(DbServerCommand),

    /// A one-time link that logs a tenant's admin straight into the desk.
    #[command(after_help = "Examples:
  frappe-tenant login-link acme-corp                   # the registry's admin of the tenant
  frappe-tenant login-link acme-corp --email jane@acme.com --minutes 2

The link is Frappe's own (frappe.www.login.login_via_key): a 224-bit random key kept in the
site's Redis cache until it is used once or its minutes pass; opening it starts a normal desk
session as that user (ended by logging out). Anyone holding the link can use it until then:
hand it only to the user's own browser, over HTTPS. Frappe allows 5 uses of such links per
hour from one IP address. A suspended site (maintenance mode) answers 503 to it.
Exit codes: 0 success, 1 failed (site unknown, cache unreachable), 2 invalid input.")]
    LoginLink(LoginLinkArgs),

    /// Stop serving a tenant (its users and API keys get 503), its data untouched.
    #[command(after_help = "Examples:
  frappe-tenant suspend acme-corp --reason 'trial ended'
  frappe-tenant suspend acme-corp.example.com --bench eu-1

Suspended is Frappe's maintenance mode without reads (site_config.json maintenance_mode: 1,
allow_reads_during_maintenance removed): Frappe answers every request of the site, API keys and
logins included, with 503 SessionStopped before it looks at who asks; and its scheduler paused
(pause_scheduler: 1). The keys' previous values are kept in the registry row first, so `resume`
restores exactly them. The registry says `suspended`; no cleanup removes a suspended tenant.
Only for an active tenant this tool made (its live registry row, whose database its folder holds),
under the site's lock.
Exit codes: 0 suspended, 1 failed (busy: another run holds the site; bench failed, and what it
changed was undone), 2 invalid input (unknown site, not the tool's, not active).")]
    Suspend(SuspendArgs),

    /// Serve a suspended tenant again, exactly as it was before `suspend`.
    #[command(after_help = "Examples:
  frappe-tenant resume acme-corp
  frappe-tenant resume acme-corp.example.com --bench eu-1

Restores maintenance_mode, allow_reads_during_maintenance and pause_scheduler to what they were
before the suspension (a key that was absent is removed again), then marks the registry row
active. A resume that fails midway leaves the tenant suspended: run it again.
Exit codes: 0 resumed, 1 failed (busy, bench failed), 2 invalid input (unknown site, not the
tool's, not suspended).")]
    Resume(ResumeArgs),

    /// A tenant's plan: the `SaaS Settings` values the sign-up wrote.
    #[command(subcommand)]
    Plan(PlanCommand),

    /// Each tenant's users, database and file storage against its plan.
    #[command(after_help = "Examples:
  frappe-tenant usage acme-corp
  frappe-tenant usage --all --json            # every active or suspended tenant of the bench
  frappe-tenant usage --all --bench eu-1

Per tenant: enabled System Users (Administrator and Guest not counted) against max_users;
database size (MariaDB's catalog: data and indexes) plus public and private files (through
the executor) against max_storage (GB of 1,073,741,824 bytes); the latest login Frappe recorded
(tabUser.last_login); \"over\" when either is above the plan. A table on a terminal, JSON
otherwise (or with --json). --all costs the same few MariaDB statements for 1,000 tenants as
for one (\"queries\" says how many) and one listing of the files.
Exit codes: 0 success, 1 failed (MariaDB unreachable, the site busy), 2 invalid input
(unknown site, not a tenant of this tool).")]
    Usage(UsageArgs),

    /// Frappe's backup of a tenant (bench backup), each file with its size and SHA-256.
    #[command(after_help = "Examples:
  frappe-tenant backup acme-corp
  frappe-tenant backup acme-corp --with-files --out /srv/backups/acme

Runs `bench --site <site> backup [--with-files]` through the executor, under the site's lock,
for an active or suspended tenant this tool made. Frappe writes into the site's
private/backups: the database (.sql.gz), the site's config (site_config_backup.json, which holds
its encryption_key and database password: keep it like a secret) and, with --with-files, its
public and private files (.tar). The JSON lists each file (relative to the bench directory)
with its size and SHA-256. --out copies them into DIR, an existing directory here, never over
an existing file, readable by the tool's own account only (mode 0600), each copy checked against
its hash (from a container: through the executor, in chunks).
Exit codes: 0 success, 1 failed (busy, bench failed, a copy differs), 2 invalid input
(unknown site, not the tool's, --out not a directory).")]
    Backup(BackupArgs),

    /// The JSON Schema (draft 2020-12) of what a command prints on stdout.
    #[command(after_help = "Examples:
  frappe-tenant schema provision            # one schema on stdout
  frappe-tenant schema                      # {\"provision\": {...}, \"verify\": {...}, ...}
  frappe-tenant schema --write schema/      # one <name>.schema.json per output

Every command's stdout is its own report or, when it fails before doing anything, the
failure object; the provision schema is a union discriminated by \"success\".")]
    Schema(SchemaArgs),

    /// Shell completions (bash, zsh or fish) on stdout.
    #[command(after_help = "Example:
  frappe-tenant completions bash > /etc/bash_completion.d/frappe-tenant")]
    Completions(CompletionsArgs),

    /// The manual page (roff) on stdout.
    #[command(after_help = "Example:
  frappe-tenant man > /usr/local/share/man/man1/frappe-tenant.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The output to describe (all when omitted)
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(crate::output::schema_names()))]
    pub name: Option<String>,
    /// Write one <name>.schema.json per output into DIR instead of printing
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Subdomain of the new site (a DNS label): the site is <subdomain>.<SITE_DOMAIN>
    pub subdomain: Option<String>,
    /// Email of the tenant's admin user
    pub email: Option<String>,
    /// Full name of the tenant's admin user ("First Last")
    pub full_name: Option<String>,
    /// Password of the tenant's admin user (prefer --request: argv is visible to other users).
    /// Two checks, both before anything is made: the seed's rule (8 to 128 characters,
    /// upper, lower and digit), and the verdict a fresh Frappe v15 site gives it (its
    /// zxcvbn 4.4.28 score with the user's names and email, at least 2)
    #[arg(value_parser = secret)]
    pub password: Option<Secret>,
    /// Organization name, echoed in the result
    pub organization_name: Option<String>,

    /// Read the sign-up as JSON {subdomain,email,fullName,password,organizationName[,language,country,timezone,currency]} from FILE, or '-' for stdin
    #[arg(long, value_name = "FILE", conflicts_with_all = ["subdomain", "email", "full_name", "password", "organization_name"])]
    pub request: Option<PathBuf>,

    /// Deadline for the whole run, in seconds; rollback gets up to 90 s more
    #[arg(long, env = "PROVISION_TIMEOUT", default_value_t = 120)]
    pub timeout: u64,
    /// Administrator password for a fresh or template site (default: a fresh random one per site)
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub admin_password: Option<Secret>,
    /// Never take a standby site from the pool
    #[arg(long, env = "NO_POOL", value_parser = boolish())]
    pub no_pool: bool,
    /// Never restore the template; a fresh new-site when the pool is empty
    #[arg(long, env = "NO_TEMPLATE", value_parser = boolish())]
    pub no_template: bool,
    /// Validate the sign-up, read the bench and MariaDB, and print the plan (the path it
    /// would take and its steps) as JSON; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Leave Frappe's setup wizard to the tenant's admin: the first login opens it instead
    /// of the desk
    #[arg(long, env = "SKIP_SETUP_WIZARD", value_parser = boolish())]
    pub skip_setup_wizard: bool,
    /// Add "loginUrl" to the result: a one-time link that logs the tenant's admin into the
    /// desk (see `login-link --help`)
    #[arg(long)]
    pub login_link: bool,
    /// Minutes the login link stays valid, if nobody uses it first
    #[arg(long, value_name = "MINUTES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub login_link_minutes: u32,
    /// The tenant's address in the result's "url", e.g. 'https://{subdomain}.example.com'
    /// ({subdomain} and {site} are filled in); default: http(s)://<site>:<FRAPPE_URL's port>
    #[arg(long, env = "TENANT_PUBLIC_URL", value_name = "TEMPLATE")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub setup: SetupOpts,
    #[command(flatten)]
    pub plan: PlanOpts,
    #[command(flatten)]
    pub apps: AppsOpts,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: String,
    /// The tenant user to check (default: the registry's, else the first System Manager)
    #[arg(long)]
    pub email: Option<String>,
    /// With --api-secret: prove the keys with an authenticated REST call
    #[arg(long, requires = "api_secret")]
    pub api_key: Option<String>,
    /// The API secret (prefer the environment variable: argv is visible to other users)
    #[arg(long, env = "TENANT_API_SECRET", hide_env_values = true, requires = "api_key", value_parser = secret)]
    pub api_secret: Option<Secret>,
    /// Seconds for all checks together
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    #[command(flatten)]
    pub plan: PlanOpts,
    #[command(flatten)]
    pub apps: AppsOpts,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// JSON even on a terminal
    #[arg(long)]
    pub json: bool,
    /// Also the registry's tenants that ended (dropped, rolled back, failed) and have no
    /// folder left
    #[arg(long)]
    pub all: bool,
    /// Every bench of the inventory (each site says its bench); wins over --bench / BENCH
    #[arg(long)]
    pub all_benches: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["pattern", "orphans"])))]
pub struct CleanupArgs {
    /// Drop every site whose subdomain (under SITE_DOMAIN) matches this glob, e.g. 'test-*'
    #[arg(long, value_name = "GLOB")]
    pub pattern: Option<String>,
    /// Drop orphaned databases and DB users, and finish runs killed midway
    #[arg(long)]
    pub orphans: bool,
    /// With --orphans: only databases and DB users whose name matches this glob
    #[arg(long, value_name = "GLOB", default_value = "*")]
    pub db_pattern: String,
    /// Print what would be dropped; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not wait 5 seconds before dropping
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds allowed per site (bench drop-site and the MariaDB undo)
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Make a reference site with INSTALL_APPS, dump its database, drop the site.
    Build(TemplateArgs),
    /// Show the template and whether it matches the bench's apps and versions.
    Status(TemplateArgs),
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Seconds allowed for the build
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub setup: SetupOpts,
    #[command(flatten)]
    pub apps: AppsOpts,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create standby sites until the pool holds --size of them (from the template when it matches).
    Fill(PoolFillArgs),
    /// The standby sites of this bench and their health.
    Status(PoolStatusArgs),
    /// Drop every standby site of this bench.
    Drain(PoolDrainArgs),
}

#[derive(Debug, Args)]
pub struct PoolFillArgs {
    /// How many standby sites the pool should hold (with --all: each bench's pool)
    #[arg(long)]
    pub size: u32,
    /// Every uncordoned bench of the inventory, one after another; safe from cron on
    /// several hosts at once (each bench is filled under its own MariaDB lock). Wins over
    /// --bench / BENCH, so a BENCH=auto environment can run it too
    #[arg(long)]
    pub all: bool,
    /// Seconds allowed per standby site
    #[arg(long, env = "PROVISION_TIMEOUT", default_value_t = 120)]
    pub timeout: u64,
    /// Never restore the template; fresh new-sites only
    #[arg(long, env = "NO_TEMPLATE", value_parser = boolish())]
    pub no_template: bool,
    #[command(flatten)]
    pub setup: SetupOpts,
    #[command(flatten)]
    pub apps: AppsOpts,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct PoolStatusArgs {
    /// JSON even on a terminal
    #[arg(long)]
    pub json: bool,
    /// The pools of every bench of the inventory (each entry says its bench); wins over
    /// --bench / BENCH
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct PoolDrainArgs {
    /// Seconds allowed per standby site
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

/// The plan written to (and verified in) the `SaaS Settings` single.
#[derive(Debug, Args)]
pub struct PlanOpts {
    /// Plan name written to SaaS Settings
    #[arg(long, default_value = "Free")]
    pub plan_name: String,
    /// Maximum users written to SaaS Settings
    #[arg(long, default_value_t = 5)]
    pub max_users: u32,
    /// Maximum storage in GB written to SaaS Settings
    #[arg(long, default_value_t = 1.0)]
    pub max_storage: f64,
}

/// What Frappe's setup wizard is given when a sign-up does not say: each must be in
/// Frappe's own lists on the bench. Sites made ahead of time (standbys, the template) are
/// set up with these.
#[derive(Debug, Clone, Args)]
pub struct SetupOpts {
    /// Language: a code ("de") or a name ("Deutsch") of Frappe's list [default: English]
    #[arg(long, env = "SETUP_LANGUAGE")]
    pub language: Option<String>,
    /// Country, as Frappe names it ("Germany", "United States") [default: United States]
    #[arg(long, env = "SETUP_COUNTRY")]
    pub country: Option<String>,
    /// Time zone ("Europe/Berlin") [default: America/New_York; for a sign-up naming
    /// another country, that country's first]
    #[arg(long, env = "SETUP_TIMEZONE")]
    pub timezone: Option<String>,
    /// Currency ("EUR") [default: USD; for a sign-up naming a country, its currency]
    #[arg(long, env = "SETUP_CURRENCY")]
    pub currency: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginLinkArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: String,
    /// The user to log in (default: the registry's admin of the tenant)
    #[arg(long)]
    pub email: Option<String>,
    /// Minutes the link stays valid, if nobody uses it first
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub minutes: u32,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct SuspendArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: String,
    /// Why (kept in the registry and shown by `resume`): up to 140 characters
    #[arg(long)]
    pub reason: Option<String>,
    /// Seconds allowed for the whole run
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Rewrite a tenant's SaaS Settings (plan name, max users, max storage) over its REST API.
    #[command(after_help = "Examples:
  frappe-tenant plan set acme-corp --plan-name Pro --max-users 25 --max-storage 10
  frappe-tenant plan set acme-corp --plan-name Free --max-users 2 --max-storage 1 --force
  frappe-tenant verify acme-corp --plan-name Pro --max-users 25 --max-storage 10

The tool keeps no tenant secret: for the one PUT it lends the site's Administrator a fresh API
key and secret (the secret Fernet-encrypted with the site's encryption_key into __Auth, as
Frappe stores one), then puts back whatever Administrator had, also when the call fails. A plan
below what the tenant uses now (enabled users, database and files) is refused unless --force;
a suspended tenant is refused (resume it first). The values are read back from the database.
Exit codes: 0 written, 1 failed (busy, no SaaS Settings DocType, REST refused; nothing changed),
2 invalid input (unknown site, not the tool's, suspended, plan below usage).")]
    Set(PlanSetArgs),
}

#[derive(Debug, Args)]
pub struct PlanSetArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: String,
    /// Plan name written to SaaS Settings
    #[arg(long)]
    pub plan_name: String,
    /// Maximum enabled users written to SaaS Settings (at least 1)
    #[arg(long)]
    pub max_users: u32,
    /// Maximum storage in GB written to SaaS Settings (above 0)
    #[arg(long)]
    pub max_storage: f64,
    /// Set the plan even when the tenant uses more than it allows
    #[arg(long)]
    pub force: bool,
    /// Seconds allowed for the whole run
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["site", "all"])))]
pub struct UsageArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: Option<String>,
    /// Every active or suspended tenant of the bench
    #[arg(long)]
    pub all: bool,
    /// JSON even on a terminal
    #[arg(long)]
    pub json: bool,
    /// Seconds allowed for the whole run
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: String,
    /// Also its public and private files
    #[arg(long)]
    pub with_files: bool,
    /// Copy the backup's files into this existing directory here
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seconds allowed for the whole run
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The tenant: a full site name, or a subdomain of SITE_DOMAIN
    pub site: String,
    /// Seconds allowed for the whole run
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct AppsOpts {
    /// Apps every tenant gets, comma-separated; an app the bench lacks is a warning
    #[arg(
        long,
        env = "INSTALL_APPS",
        default_value = "nexus_core",
        value_delimiter = ','
    )]
    pub install_apps: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// docker compose exec -T <DOCKER_SERVICE> bench …
    Docker,
    /// kubectl exec -i <KUBECTL_TARGET> -- bench …
    Kubectl,
    /// <BENCH_BIN> … run in <BENCH_PATH>
    Local,
}

/// How to reach bench, Frappe and MariaDB; shared by every command.
#[derive(Debug, Clone, Args)]
pub struct ConnectOpts {
    /// A bench of the inventory (`bench add`) to work on: its stored settings replace the
    /// executor, bench, Frappe and site-domain flags. `provision` also takes `auto`.
    #[arg(long, env = "BENCH", value_name = "NAME")]
    pub bench: Option<String>,
    /// How bench is run
    #[arg(long, env = "BENCH_EXECUTOR", value_enum, default_value = "docker")]
    pub bench_executor: ExecutorKind,
    /// Compose service that runs bench (docker executor); COMPOSE_FILE / COMPOSE_PROJECT_NAME are docker's own
    #[arg(long, env = "DOCKER_SERVICE", default_value = "backend")]
    pub docker_service: String,
    /// Pod (or deploy/<name>) that runs bench (kubectl executor)
    #[arg(long, env = "KUBECTL_TARGET")]
    pub kubectl_target: Option<String>,
    /// Namespace of KUBECTL_TARGET (kubectl executor; default: kubectl's current one)
    #[arg(long, env = "KUBECTL_NAMESPACE")]
    pub kubectl_namespace: Option<String>,
    /// Container in KUBECTL_TARGET's pod (kubectl executor; default: kubectl's choice)
    #[arg(long, env = "KUBECTL_CONTAINER")]
    pub kubectl_container: Option<String>,
    /// Bench directory: local path (local executor) or path inside the container (docker, kubectl; default: the container's workdir)
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
    /// Database holding the tenant registry (created and migrated on first use)
    #[arg(long, env = "REGISTRY_DB", default_value = "frappe_tenant")]
    pub registry_db: String,
    /// Frappe's Redis cache, for login links (default: redis_cache of the bench's
    /// common_site_config.json, which must then be reachable from here)
    #[arg(long, env = "REDIS_CACHE_URL", hide_env_values = true)]
    pub redis_cache_url: Option<String>,
    /// The bench's web workers (gunicorn --workers): at most this many sign-ups talk to it
    /// over REST at once, the others wait their turn, first come first served (default: no limit)
    #[arg(long, env = "WEB_WORKERS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub web_workers: Option<u32>,
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
        let Command::Provision(args) = cli.command else {
            panic!("provision parses as provision")
        };
        assert_eq!(args.password.unwrap().expose(), "Tr1cky-Lantern-42");
    }

    #[test]
    fn cleanup_needs_a_pattern_or_orphans() {
        assert!(Cli::try_parse_from(["frappe-tenant", "cleanup"]).is_err());
        assert!(Cli::try_parse_from(["frappe-tenant", "cleanup", "--orphans"]).is_ok());
        assert!(Cli::try_parse_from([
            "frappe-tenant",
            "cleanup",
            "--pattern",
            "test-*",
            "--orphans"
        ])
        .is_ok());
    }

    #[test]
    fn verify_keys_come_in_pairs() {
        assert!(Cli::try_parse_from(["frappe-tenant", "verify", "a", "--api-key", "k"]).is_err());
    }
}
