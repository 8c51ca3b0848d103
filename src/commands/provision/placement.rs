//! `provision --bench auto`: which bench of the inventory takes this sign-up, decided
//! under the tenant's site lock (one MariaDB server holds every bench's locks).
//!
//! 1. Every uncordoned bench is probed at once (its facts and whether the site exists
//!    there); one whose executor fails is skipped with a warning, so nothing is made on it.
//! 2. Benches at capacity (tenants = provisioning + active + claimed rows) are left out.
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

use super::{db_error, fail, Config, Made, State, StepError};
use crate::context::Context;
use crate::error::Code;
use crate::lifecycle::apps::wanted_apps;
use crate::lifecycle::claim::claim;
use crate::lifecycle::template;
use crate::outside::bench::{BenchError, BenchFacts};
use crate::outside::mariadb::registry::{Claimant, SitePath};
use crate::progress::progress;
use crate::signup::Tenant;

/// A bench placement may use: an uncordoned bench of the inventory.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub bench_id: String,
    pub capacity: Option<u32>,
    pub ctx: Context,
}

/// How long one bench may take to answer the probe before it is skipped.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Chooses the bench, sets `cfg.ctx` to it and `state.facts` to its facts; a standby
/// claimed on the way is in `state.placed` (and `state.made`, so a failure returns it).
pub(super) async fn place(
    cfg: &mut Config,
    t: &Tenant,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    let candidates = cfg.auto.clone().unwrap_or_default();
    let mut facts = probe(&candidates, t, state, deadline).await?;
    let db = state.db.as_mut().expect("connected in preflight");
    let loads = cfg
        .ctx
        .registry
        .loads(db)
        .await
        .map_err(|e| db_error("preflight", e))?;
    let load = |i: usize| loads.get(&candidates[i].bench_id).map_or(0, |l| l.tenants);
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
        eligible.push(i);
    }
    eligible.sort_by_key(|&i| (load(i), i));
    if eligible.is_empty() {
        return Err(fail(
            Code::ConfigError,
            "preflight",
            format!(
                "no bench of the inventory can take this sign-up ({})",
                if reasons.is_empty() {
                    "no uncordoned bench".into()
                } else {
                    reasons.join(", ")
                }
            ),
        ));
    }
    let mut chosen = None;
    if cfg.use_pool {
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
        if let Some(c) = claim(&pairs, db, &claimant, deadline)
            .await
            .map_err(|e| db_error("preflight", e))?
        {
            chosen = Some(eligible[c.bench]);
            state.row_id = Some(c.row.id);
            state.standby_site = Some(c.standby.clone());
            state.path = Some(SitePath::Pool);
            state.db_name = c.row.db_name.clone();
            state.made = Made::Claimed;
            state.placed = Some(c);
        }
    }
    let chosen = match chosen {
        Some(i) => i,
        None => {
            let mut pick = eligible[0];
            if cfg.use_template {
                state.template = Some(None);
                for &i in &eligible {
                    let f = facts[i].as_ref().expect("eligible benches were probed");
                    let (wanted, _) = wanted_apps(&cfg.install_apps, &f.apps);
                    if let Ok(Ok(meta)) =
                        template::check(&candidates[i].ctx.bench, f, &wanted, deadline).await
                    {
                        pick = i;
                        state.template = Some(Some(meta));
                        break;
                    }
                }
            }
            pick
        }
    };
    let c = &candidates[chosen];
    progress(&format!(
        "Placed on bench {} ({} tenant(s){}{})",
        c.name,
        load(chosen),
        c.capacity
            .map(|cap| format!(" of {cap}"))
            .unwrap_or_default(),
        if state.placed.is_some() {
            ", a standby from its pool"
        } else {
            ""
        }
    ));
    state.facts = facts[chosen].take().expect("the chosen bench was probed");
    cfg.ctx = c.ctx.clone();
    state.bench = Some(c.name.clone());
    Ok(())
}

/// Every candidate's facts (`None`: skipped with a warning), read concurrently; the
/// sign-up's site found on any of them is `SITE_EXISTS` (one DNS name, one tenant).
async fn probe(
    candidates: &[Candidate],
    t: &Tenant,
    state: &mut State,
    deadline: Instant,
) -> Result<Vec<Option<BenchFacts>>, StepError> {
    let probe_deadline = deadline.min(Instant::now() + PROBE_TIMEOUT);
    let mut probes = tokio::task::JoinSet::new();
    for (i, c) in candidates.iter().enumerate() {
        let (bench, site) = (c.ctx.bench.clone(), t.site.clone());
        probes.spawn(async move {
            let read = async {
                let facts = bench.facts(probe_deadline).await?;
                let exists = bench.site_dir_exists(&site, probe_deadline).await?;
                Ok::<_, BenchError>((facts, exists))
            };
            (i, read.await)
        });
    }
    let mut facts = vec![None; candidates.len()];
    while let Some(joined) = probes.join_next().await {
        let Ok((i, read)) = joined else { continue };
        let c = &candidates[i];
        let skip = match read {
            Ok((_, true)) => {
                return Err(fail(
                    Code::SiteExists,
                    "preflight",
                    format!("site {} already exists (on bench {})", t.site, c.name),
                ))
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
        };
        let warning = format!("bench {} skipped: {skip}", c.name);
        progress(&format!("⚠ {warning}"));
        state.warnings.push(warning);
    }
    Ok(facts)
}
