//! What tenants use against their plans: users, database and plan from MariaDB for all of
//! them at once (`Db::usage`: the same statements for one tenant or a thousand), file
//! storage through the executor (one `du` in a container). `usage` prints it; `plan set`
//! refuses a plan below it.

use tokio::time::Instant;

use crate::context::Context;
use crate::error::Error;
use crate::output::TenantUsage;
use crate::outside::mariadb::registry::Row;
use crate::outside::mariadb::Db;

/// Each tenant's usage, in the order given; a tenant whose database is not a Frappe
/// schema is left out (the caller says so).
pub async fn measure(
    ctx: &Context,
    db: &mut Db,
    rows: &[Row],
    deadline: Instant,
) -> Result<Vec<TenantUsage>, Error> {
    let dbs: Vec<String> = rows.iter().map(|r| r.db_name.clone()).collect();
    let sites: Vec<String> = rows.iter().map(|r| r.site.clone()).collect();
    let stored = db.usage(&dbs).await?;
    let files = ctx.bench.files_sizes(&sites, deadline).await?;
    Ok(rows
        .iter()
        .zip(files)
        .filter_map(|(row, (public, private))| {
            let u = stored.get(&row.db_name)?;
            Some(
                TenantUsage {
                    site: row.site.clone(),
                    db_name: row.db_name.clone(),
                    status: row.status.as_str().into(),
                    bench: ctx.bench_name.clone(),
                    plan_name: u.plan_name.clone(),
                    users: u.users,
                    max_users: u.max_users.as_deref().and_then(int),
                    users_over: false,
                    database_bytes: u.database_bytes,
                    public_files_bytes: public,
                    private_files_bytes: private,
                    storage_bytes: u.database_bytes + public + private,
                    max_storage: u.max_storage.as_deref().and_then(|s| s.trim().parse().ok()),
                    storage_over: false,
                    over: false,
                    last_login: u.last_login.clone(),
                }
                .judge(),
            )
        })
        .collect())
}

/// An Int field as Frappe stores it in `tabSingles` (text; `cint`).
fn int(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| *f >= 0.0)
            .map(|f| f as u64)
    })
}
