//! The command line of `bench` (the inventory of benches sign-ups may be placed on):
//! add, list, remove, cordon, uncordon.

use clap::{Args, Subcommand};

use super::ConnectOpts;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Add a bench to the inventory with its executor settings (the flags below); reaches
    /// it once to read (or create) its bench id.
    #[command(after_help = "Examples:
  frappe-tenant bench add web1 --bench-executor docker --docker-service backend \\
    --frappe-url http://web1:8080 --site-domain example.com --capacity 200
  frappe-tenant bench add web2 --bench-executor kubectl --kubectl-target deploy/erp \\
    --kubectl-namespace erp --frappe-url http://erp.erp.svc:8080 --site-domain example.com

  frappe-tenant bench add web3 --db-server db2 --bench-executor docker \\
    --docker-service backend-db2 --frappe-url http://web3:8080 --site-domain example.com

Without --db-server the bench keeps its sites on the registry's MariaDB server (MARIADB_URL).
With it, on a server of `db-server add` (the bench's own common_site_config.json must name
that server as db_host). No credential is stored in the inventory.")]
    Add(BenchAddArgs),
    /// Every bench of the inventory with its tenants and standby sites.
    List(BenchListArgs),
    /// Remove a bench from the inventory (refused while the registry has live sites on it).
    Remove(BenchNameArgs),
    /// No new sign-ups on this bench (its tenants keep working).
    Cordon(BenchNameArgs),
    /// New sign-ups may land on this bench again.
    Uncordon(BenchNameArgs),
}

#[derive(Debug, Args)]
pub struct BenchAddArgs {
    /// The bench's name in the inventory (letters, digits, '-' and '_'; not `auto`)
    pub name: String,
    /// Most tenant sites it takes (default: no limit)
    #[arg(long)]
    pub capacity: Option<u32>,
    /// The database server (of `db-server add`) its sites live on (default: the registry's, MARIADB_URL)
    #[arg(long, value_name = "NAME")]
    pub db_server: Option<String>,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Subcommand)]
pub enum DbServerCommand {
    /// Add a database server some benches keep their sites on; connects once to prove it.
    #[command(after_help = "Examples:
  export DB2_MARIADB_URL='mysql://root:secret@db2.internal:3306'
  frappe-tenant db-server add db2 --url-from env:DB2_MARIADB_URL --capacity 1500
  frappe-tenant db-server add db3 --url-from file:/etc/frappe-tenant/db3.url

The inventory stores the reference, never the URL: every run on a bench of that server
resolves it again (env:NAME from its environment; file:PATH from a regular file owned by
the tool's user, mode 600, not a link). The registry, site locks and tenant rows stay on
the registry's server (MARIADB_URL).")]
    Add(DbServerAddArgs),
    /// Every database server of the inventory with its benches and tenants.
    List(BenchListArgs),
    /// Remove a database server from the inventory (refused while a bench names it).
    Remove(BenchNameArgs),
}

#[derive(Debug, Args)]
pub struct DbServerAddArgs {
    /// The server's name in the inventory (letters, digits, '-' and '_')
    pub name: String,
    /// Where its admin URL (mysql://user:password@host:port) comes from: env:NAME or file:/absolute/path
    #[arg(long, value_name = "REF")]
    pub url_from: String,
    /// Most tenants placement puts on it across all its benches (default: no limit)
    #[arg(long)]
    pub capacity: Option<u32>,
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct BenchListArgs {
    #[command(flatten)]
    pub conn: ConnectOpts,
}

#[derive(Debug, Args)]
pub struct BenchNameArgs {
    /// The bench's name in the inventory
    pub name: String,
    #[command(flatten)]
    pub conn: ConnectOpts,
}
