//! `provision --bench auto`: which bench of the inventory takes this sign-up, decided
//! under the tenant's site lock (one MariaDB server holds every bench's locks).
//!
//! 1. Every uncordoned bench is probed at once (its facts and whether the site exists
//!    there); one whose executor fails is skipped with a warning, so nothing is made on it.
//! 2. Benches at capacity (tenants = provisioning + active + claimed rows) are left out,
//!    and so are benches whose database server is at its capacity (its tenants across
//!    all its benches); a bench whose database server does not answer is skipped.
//! 3. The oldest standby across the rest is claimed: the 32 oldest read plainly, then
//!    each locked alone with `FOR UPDATE SKIP LOCKED` and its status checked again, in one
//!    transaction, so racing sign-ups never share one (`Registry::claim_standby`).
//! 4. Without a standby: the least-loaded bench whose template matches, else the least
//!    loaded.
//!
//! Capacity is read, not reserved: sign-ups racing for a bench's last slot may overshoot
//! it by as many as race (a soft limit).

use std::time::Duration;

use tokio::time::Instant;

use super::Config;
use crate::context::Context;
use crate::error::{Code, Error};
use crate::lifecycle::apps::wanted_apps;
use crate::lifecycle::claim::{claim, Claim};
use crate::lifecycle::template;
use crate::output::TemplateMeta;
use crate::outside::bench::{BenchError, BenchFacts};
use crate::outside::mariadb::registry::Claimant;
use crate::outside::mariadb::Db;
use crate::progress::progress;
use crate::signup::Tenant;

/// A bench placement may use: an uncordoned bench of the inventory.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub bench_id: String,
    pub capacity: Option<u32>,
    /// The capacity of its database server (`db-server add --capacity`), if it has one.
    pub server_capacity: Option<u32>,
    pub ctx: Context,
}

/// How long one bench may take to answer the probe before it is skipped.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a sign-up goes: the bench, its facts, and how its site will be made there.
pub(super) struct Placement {
    /// The inventory's name of the bench.
    pub(super) bench: String,
    pub(super) facts: BenchFacts,
    pub(super) placed: Placed,
}

/// How placement chose to make the site on its bench.
pub(super) enum Placed {
    /// A standby of its pool, claimed for the tenant already.
    Standby(Box<Claim>),
    /// Its template, which fits.
    Template(TemplateMeta),
    Fresh,
}

/// Chooses the bench (and sets `cfg.ctx` to it). A standby claimed on the way is the
/// run's from here: a failure after this returns it to the pool.
pub(super) async fn place(
    cfg: &mut Config,
    t: &Tenant,
    db: &mut Db,
    warnings: &mut Vec<String>,
    deadline: Instant,
) -> Result<Placement, Error> {
    let candidates = cfg.auto.clone().unwrap_or_default();
    let mut facts = probe(&candidates, t, warnings, deadline).await?;
    let loads = cfg
        .ctx
        .registry
        .loads(db)
        .await
        .map_err(|e| Error::from(e).at("preflight"))?;
    let load = |i: usize| loads.get(&candidates[i].bench_id).map_or(0, |l| l.tenants);
    let server_loads = match candidates.iter().any(|c| c.server_capacity.is_some()) {
        true => cfg
            .ctx
            .registry
            .server_loads(db)
            .await
            .map_err(|e| Error::from(e).at("preflight"))?,
        false => Default::default(),
    };
    let server_load = |i: usize| {
        let server = candidates[i].ctx.db_server.clone();
        server_loads.get(&server).copied().unwrap_or(0)
    };
    let eligible = eligible(&candidates, &facts, &load, &server_load)?;
    let (chosen, placed) = match claim_across(cfg, t, db, &candidates, &eligible, deadline).await? {
        Some((i, claim)) => (i, Placed::Standby(Box::new(claim))),
        None => template_or_fresh(cfg, &candidates, &facts, &eligible, deadline).await,
    };
    let c = &candidates[chosen];
    progress(&format!(
        "Placed on bench {} ({} tenant(s){}{})",
        c.name,
        load(chosen),
        c.capacity
            .map(|cap| format!(" of {cap}"))
            .unwrap_or_default(),
        if matches!(placed, Placed::Standby(_)) {
            ", a standby from its pool"
        } else {
            ""
        }
    ));
    cfg.ctx = c.ctx.clone();
    Ok(Placement {
        bench: c.name.clone(),
        facts: facts[chosen].take().expect("the chosen bench was probed"),
        placed,
    })
}

/// The candidates that answered and are below capacity, least loaded first.
fn eligible(
    candidates: &[Candidate],
    facts: &[Option<BenchFacts>],
    load: &dyn Fn(usize) -> u64,
    server_load: &dyn Fn(usize) -> u64,
) -> Result<Vec<usize>, Error> {
    let mut eligible = vec![];
    let mut reasons = vec![];
    for (i, c) in candidates.iter().enumerate() {
        if facts[i].is_none() {
            reasons.push(format!("{}: unreachable", c.name));
            continue;
        }
        if let Some(cap) = c.capacity.filter(|cap| load(i) >= u64::from(*cap)) {
            progress(&format!(
                "  bench {} is at capacity ({}/{cap}); not used",
                c.name,
                load(i)
            ));
            reasons.push(format!("{}: at capacity", c.name));
            continue;
        }
        if let Some(cap) = c
            .server_capacity
            .filter(|cap| server_load(i) >= u64::from(*cap))
        {
            let server = c.ctx.db_server.as_deref().unwrap_or_default();
            progress(&format!(
                "  bench {}: its database server {server} is at capacity ({}/{cap}); not used",
                c.name,
                server_load(i)
            ));
            reasons.push(format!("{}: database server {server} at capacity", c.name));
            continue;
        }
        eligible.push(i);
    }
    eligible.sort_by_key(|&i| (load(i), i));
    if eligible.is_empty() {
        let why = match reasons.is_empty() {
            true => "no uncordoned bench".into(),
            false => reasons.join(", "),
        };
        return Err(Error::config(format!(
            "no bench of the inventory can take this sign-up ({why})"
        ))
        .at("preflight"));
    }
    Ok(eligible)
}

/// The oldest standby across the eligible benches, claimed for the tenant, with the
/// candidate it is on (`None`: no pool has one, or the pool is not to be used).
async fn claim_across(
    cfg: &Config,
    t: &Tenant,
    db: &mut Db,
    candidates: &[Candidate],
    eligible: &[usize],
    deadline: Instant,
) -> Result<Option<(usize, Claim)>, Error> {
    if !cfg.use_pool {
        return Ok(None);
    }
    let pairs: Vec<(&str, &Context)> = eligible
        .iter()
        .map(|&i| (candidates[i].bench_id.as_str(), &candidates[i].ctx))
        .collect();
    let claimant = Claimant {
        site: &t.site,
        subdomain: &t.subdomain,
        organization: &t.organization_name,
        email: &t.email,
    };
    let claimed = claim(&pairs, db, &claimant, deadline)
        .await
        .map_err(|e| Error::new(Code::DbUnavailable, e).at("preflight"))?;
    Ok(claimed.map(|c| (eligible[c.bench], c)))
}

/// Without a standby: the least-loaded bench whose template fits, else the least loaded.
async fn template_or_fresh(
    cfg: &Config,
    candidates: &[Candidate],
    facts: &[Option<BenchFacts>],
    eligible: &[usize],
    deadline: Instant,
) -> (usize, Placed) {
    if cfg.use_template {
        for &i in eligible {
            let f = facts[i].as_ref().expect("eligible benches were probed");
            let (wanted, _) = wanted_apps(&cfg.install_apps, &f.apps);
            if let Ok(Ok(meta)) =
                template::check(&candidates[i].ctx.bench, f, &wanted, deadline).await
            {
                return (i, Placed::Template(meta));
            }
        }
        progress("  template not used: none fits on any bench placement could use");
    }
    (eligible[0], Placed::Fresh)
}

/// Every candidate's facts (`None`: skipped with a warning), read concurrently; the
/// sign-up's site found on any of them is `SITE_EXISTS` (one DNS name, one tenant).
async fn probe(
    candidates: &[Candidate],
    t: &Tenant,
    warnings: &mut Vec<String>,
    deadline: Instant,
) -> Result<Vec<Option<BenchFacts>>, Error> {
    let probe_deadline = deadline.min(Instant::now() + PROBE_TIMEOUT);
    let mut probes = tokio::task::JoinSet::new();
    for (i, c) in candidates.iter().enumerate() {
        let (bench, site) = (c.ctx.bench.clone(), t.site.clone());
        let server = c.ctx.db_server.as_ref().map(|_| c.ctx.db.clone());
        probes.spawn(async move {
            let read = async {
                let facts = bench.facts(probe_deadline).await?;
                let exists = bench.site_dir_exists(&site, probe_deadline).await?;
                Ok::<_, BenchError>((facts, exists))
            };
            let server = async {
                match &server {
                    None => Ok(()),
                    Some(t) => match tokio::time::timeout_at(probe_deadline, t.connect()).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("no answer in time".to_string()),
                    },
                }
            };
            let (read, server) = tokio::join!(read, server);
            (i, read, server)
        });
    }
    let mut facts = vec![None; candidates.len()];
    while let Some(joined) = probes.join_next().await {
        let Ok((i, read, server)) = joined else {
            continue;
        };
        let c = &candidates[i];
        let skip = match (read, server) {
            // Its sites' server does not answer: nothing is made there.
            (Ok((_, false)), Err(e)) => format!(
                "its database server {} does not answer ({e})",
                c.ctx.db_server.as_deref().unwrap_or_default()
            ),
            (read, _) => match read {
                Ok((_, true)) => {
                    return Err(Error::new(
                        Code::SiteExists,
                        format!("site {} already exists (on bench {})", t.site, c.name),
                    )
                    .at("preflight"))
                }
                Ok((f, false)) if f.bench_id.as_deref() == Some(c.bench_id.as_str()) => {
                    facts[i] = Some(f);
                    continue;
                }
                Ok(_) => {
                    "its bench id is not the one in the inventory (another bench at that address?)"
                        .to_string()
                }
                Err(e) => format!("its executor failed: {e}"),
            },
        };
        let warning = format!("bench {} skipped: {skip}", c.name);
        progress(&format!("⚠ {warning}"));
        warnings.push(warning);
    }
    Ok(facts)
}
