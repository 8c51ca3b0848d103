//! A tenant the tool made, held for one command that acts on it after sign-up (`suspend`,
//! `resume`, `plan set`, `backup`): its site's lock taken first, then, under it, its live
//! registry row and its folder read; it is acted on only when the row is in a state the
//! command accepts and the folder holds the row's instance (see docs/safety.md). The lock
//! is held by the returned connection until it is dropped or the run ends.

use tokio::time::Instant;

use crate::context::Context;
use crate::error::{Code, Error};
use crate::outside::bench::SiteConfig;
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::Conns;

/// A tenant under its lock: the connections (the registry's holds the lock; the bench's
/// database server has the site's database), its live row, its folder's config.
pub struct Held {
    pub dbs: Conns,
    pub row: Row,
    pub config: SiteConfig,
    pub site: String,
}

impl Held {
    /// Whether the lock is still this run's: asked before every change (a lost connection
    /// frees it silently).
    pub async fn still_held(&mut self) -> Result<(), Error> {
        if self.dbs.control().holds_site_lock(&self.site).await {
            return Ok(());
        }
        Err(Error::new(
            Code::SiteBusy,
            format!(
                "lost the lock of {} (MariaDB connection lost): stopped",
                self.site
            ),
        ))
    }
}

/// Takes `site`'s lock and reads its live row and folder under it. `what` names the
/// command in the errors; `accepts` the row statuses it may act on. Every refusal leaves
/// the site untouched: an unknown site or one the registry does not know is
/// `INVALID_INPUT`, a site another run holds `SITE_BUSY`, a row in another state
/// `INVALID_INPUT` naming it.
pub async fn hold(
    ctx: &Context,
    site: &str,
    what: &str,
    accepts: &[Status],
    deadline: Instant,
) -> Result<Held, Error> {
    let not_ours = |why: String| {
        Error::invalid(format!(
            "no {what} for {site}: {why}; only tenants this tool made are acted on"
        ))
    };
    let facts = ctx.bench.facts(deadline).await?;
    let mut dbs = ctx.connect().await?;
    let db = dbs.control();
    let bench_id = match (&facts.bench_id, ctx.registry.upgrade(db).await?) {
        (Some(id), true) => id.clone(),
        _ => return Err(not_ours("this bench has no registry".into())),
    };
    if !db.try_lock_site(site).await? {
        return Err(Error::new(
            Code::SiteBusy,
            format!("{site} is busy: another run (a provision, cleanup, suspend, resume, plan or backup) holds its lock; nothing was changed"),
        ));
    }
    let row = ctx.registry.live_row(db, &bench_id, site).await?;
    let config = ctx.bench.site_config(site, deadline).await?;
    let (row, config) = match (row, config) {
        (None, None) => return Err(not_ours(format!("the bench has no site {site}"))),
        (None, Some(_)) => return Err(not_ours("the registry has no live row for it".into())),
        (Some(r), None) => {
            return Err(not_ours(format!(
            "its registry row is {}, but the bench has no folder (or no site_config.json) for it",
            r.status.as_str()
        )))
        }
        (Some(r), Some(c)) => (r, c),
    };
    if config.db_name.as_deref() != Some(row.db_name.as_str()) {
        return Err(not_ours(format!(
            "its registry row names database {}, its folder holds {}",
            row.db_name,
            config.db_name.as_deref().unwrap_or("none")
        )));
    }
    if !accepts.contains(&row.status) {
        let wanted: Vec<&str> = accepts.iter().map(|s| s.as_str()).collect();
        return Err(Error::invalid(format!(
            "{site} is {}, and {what} acts only on a tenant that is {}; nothing was changed",
            row.status.as_str(),
            wanted.join(" or ")
        )));
    }
    Ok(Held {
        dbs,
        row,
        config,
        site: site.to_string(),
    })
}
