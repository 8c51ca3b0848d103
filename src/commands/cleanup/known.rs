//! What a cleanup knows names a database or DB user, and so keeps: the site folders of
//! this bench (and, for `--orphans`, of the inventory's other benches), the registry's
//! live rows and what other registries on the server name; and what makes an orphan
//! uncertain. Read when the cleanup plans, and again after its countdown (`guard_now`).

use super::Options;
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::guard::Guard;
use crate::outside::bench::{BenchFacts, SiteDir};
use crate::outside::mariadb::catalog::Catalog;
use crate::outside::mariadb::registry::LiveRow;
use crate::outside::mariadb::{Conns, Db};
use std::collections::BTreeMap;
use tokio::time::Instant;

/// Whether the server scanned is plainly not where this bench's sites are: some of its
/// sites name a database, and none of those is there (MARIADB_URL, or the bench's
/// db-server, naming another server than the one in its common_site_config.json).
pub(super) fn elsewhere_than_its_sites(sites: &[SiteDir], catalog: &Catalog) -> Option<String> {
    let named: Vec<&str> = sites
        .iter()
        .filter_map(|s| s.config.as_ref()?.db_name.as_deref())
        .collect();
    let none_here = !named.is_empty() && !named.iter().any(|d| catalog.databases.contains(*d));
    none_here.then(|| {
        format!(
            "none of the {} databases this bench's sites name is on the server scanned \
             (do MARIADB_URL and the bench's db-server name the server its sites use?)",
            named.len()
        )
    })
}

/// A bench the tool used is cleaned up only with the registry it was used with, and an
/// orphan scan needs a registry: without it no live row and no other bench is known, and
/// another bench's tenants would pass for orphans (REGISTRY_DB mistyped, or MARIADB_URL
/// naming another server).
pub(super) async fn own_registry(
    ctx: &Context,
    dbs: &mut Conns,
    opts: &Options,
    facts: &BenchFacts,
    registry: bool,
) -> Result<(), Error> {
    if opts.orphans && !registry {
        return Err(Error::config(format!(
            "registry {} does not exist on this server, and without it no tenant of another \
             bench is known: an orphan scan needs it; check REGISTRY_DB and MARIADB_URL; \
             nothing was removed",
            ctx.registry.name()
        )));
    }
    let Some(id) = &facts.bench_id else {
        return Ok(());
    };
    if registry && ctx.registry.knows_bench(dbs.control(), id).await? {
        return Ok(());
    }
    Err(Error::config(format!(
        "this bench (id {id}) was used with a registry, but registry {} on this server {}: \
         check REGISTRY_DB and MARIADB_URL; nothing was removed",
        ctx.registry.name(),
        match registry {
            true => "has never seen it",
            false => "does not exist",
        }
    )))
}

/// What names a database or DB user: the site folders of this bench (and, with
/// `--orphans`, of the inventory's other benches) and the registry's live rows.
pub(super) struct Known {
    pub sites: Vec<SiteDir>,
    /// `sites` and the other benches' sites.
    pub everywhere: Vec<SiteDir>,
    pub live_rows: Vec<LiveRow>,
    /// Database name → the other registry on the server that names it.
    other_registries: BTreeMap<String, String>,
    pub uncertain: Vec<String>,
    pub unread_elsewhere: Vec<String>,
}

impl Known {
    pub fn guard(&self, ctx: &Context) -> Guard {
        Guard::fixed(ctx)
            .knowing(&self.everywhere, &self.live_rows)
            .and_other_registries(self.other_registries.clone())
    }
}

pub(super) async fn known(
    ctx: &Context,
    dbs: &mut Conns,
    opts: &Options,
    facts: &BenchFacts,
    registry: bool,
    deadline: Instant,
) -> Result<Known, Error> {
    let live_rows: Vec<LiveRow> = match registry {
        true => ctx.registry.live_rows(dbs.control()).await?,
        false => vec![],
    };
    // Only an orphan scan reaches databases no folder of this bench names.
    let mut other_registries = BTreeMap::new();
    if opts.orphans {
        let registry = &ctx.registry;
        other_registries = registry.named_by_other_registries(dbs.control()).await?;
        if dbs.separate() {
            other_registries.extend(registry.named_by_other_registries(dbs.sites()).await?);
        }
    }
    let sites = ctx.bench.list_sites(deadline).await?;
    let (elsewhere, unread, unread_elsewhere) = match opts.orphans && registry {
        true => other_benches(ctx, dbs.control(), opts, facts, deadline).await?,
        false => (vec![], vec![], vec![]),
    };
    let everywhere: Vec<SiteDir> = sites.iter().chain(&elsewhere).cloned().collect();
    let mut uncertain: Vec<String> = unread
        .into_iter()
        .map(|b| format!("the sites of {b} could not be read"))
        .collect();
    if opts.orphans {
        uncertain.extend(everywhere.iter().filter_map(|s| {
            let why = s.unparsed.as_ref()?;
            Some(format!(
                "the site_config.json of {} is not JSON ({why})",
                s.name
            ))
        }));
    }
    Ok(Known {
        sites,
        everywhere,
        live_rows,
        other_registries,
        uncertain,
        unread_elsewhere,
    })
}

/// The guard read again, just before anything is removed: a site folder or live row that
/// appeared since the plan (during the countdown: a site restored by hand, say) keeps
/// what it names. A bench of this server whose sites cannot be read now stops the
/// removal, as it stops the planning of orphans.
pub(super) async fn guard_now(
    ctx: &Context,
    dbs: &mut Conns,
    opts: &Options,
    facts: &BenchFacts,
    registry: bool,
    deadline: Instant,
) -> Result<Guard, Error> {
    let known = known(ctx, dbs, opts, facts, registry, deadline).await?;
    if !known.uncertain.is_empty() {
        return Err(Error::config(format!(
            "nothing was removed: {}",
            known.uncertain.join("; ")
        )));
    }
    Ok(known.guard(ctx))
}

/// The sites of the inventory's other benches (a database only one of their sites names,
/// a site made there by hand, is nobody's orphan), and the benches that could not be read:
/// first those on this bench's database server (no orphan there is certain then), then
/// those on other servers (their sites' databases are on their own server: nothing here
/// is kept for them, and nothing here is taken because of them).
async fn other_benches(
    ctx: &Context,
    db: &mut Db,
    opts: &Options,
    facts: &BenchFacts,
    deadline: Instant,
) -> Result<(Vec<SiteDir>, Vec<String>, Vec<String>), Error> {
    let (mut sites, mut here, mut elsewhere) = (vec![], vec![], vec![]);
    for b in ctx.registry.benches(db).await? {
        if Some(&b.bench_id) == facts.bench_id.as_ref() {
            continue;
        }
        let listed = match Context::for_bench(&opts.conn, &b) {
            Ok(other) => other
                .bench
                .list_sites(deadline)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let same_server = b.db_server.as_ref().map(|s| &s.name) == ctx.db_server.as_ref();
        match (listed, same_server) {
            (Ok(s), _) => sites.extend(s),
            (Err(e), true) => here.push(format!("bench {} ({e})", b.name)),
            (Err(e), false) => elsewhere.push(format!("bench {} ({e})", b.name)),
        }
    }
    Ok((sites, here, elsewhere))
}
