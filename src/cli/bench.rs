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

The MariaDB admin credentials are not stored: every bench of one inventory uses the
registry's MariaDB server (MARIADB_URL).")]
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
