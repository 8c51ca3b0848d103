//! `suspend <site>` and `resume <site>`: a tenant stops serving its users and its API
//! keys, its data untouched, and comes back exactly as it was.
//!
//! Suspended is Frappe's maintenance mode without reads (`maintenance_mode: 1`, no
//! `allow_reads_during_maintenance`: frappe/app.py `init_request` then raises
//! `SessionStopped` for every request, before any auth, a 503) with its scheduler paused
//! (`pause_scheduler: 1`: frappe/utils/scheduler.py enqueues nothing for it), written
//! through `bench set-config`. What those keys held before is kept in the registry row
//! (`suspension`) before anything changes, so a killed or failed suspend is finished or
//! undone by `resume`, and `resume` restores exactly that, absent keys removed again.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::basics::clock::now_utc;
use crate::cli::{ResumeArgs, SuspendArgs};
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::held::{hold, Held};
use crate::output::{round2, ConfigChange, Output, SuspensionReport};
use crate::outside::bench::run_tag;
use crate::outside::mariadb::registry::Status;
use crate::signup::validate_name;

/// The keys a suspension sets, and to what (`None`: removed).
fn suspended_values() -> [(&'static str, Option<Value>); 3] {
    [
        ("maintenance_mode", Some(json!(1))),
        ("allow_reads_during_maintenance", None),
        ("pause_scheduler", Some(json!(1))),
    ]
}

pub async fn run_suspend(args: SuspendArgs) -> Result<Output, Error> {
    let started = Instant::now();
    let (ctx, site) = Context::resolve_for_site(&args.conn, &args.site).await?;
    let for_site = |e: Error| e.for_site(&site);
    let reason = match &args.reason {
        Some(r) => Some(validate_name("reason", r).map_err(|e| for_site(Error::from(e)))?),
        None => None,
    };
    let deadline = deadline(args.timeout);
    let mut held = hold(&ctx, &site, "suspend", &[Status::Active], deadline)
        .await
        .map_err(for_site)?;
    let at = now_utc();
    let previous: Map<String, Value> = suspended_values()
        .iter()
        .filter_map(|(k, _)| held.config.flag(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let record = json!({"reason": reason, "at": at, "previous": previous}).to_string();
    // The registry first: from here on `resume` knows what to restore, however this ends.
    held.still_held().await.map_err(for_site)?;
    ctx.registry
        .suspend(held.dbs.control(), held.row.id, &record, run_tag())
        .await
        .map_err(|e| for_site(Error::from(e)))?;
    let targets: Vec<(&str, Option<Value>)> = suspended_values().into_iter().collect();
    match apply(&ctx, &mut held, &targets, deadline).await {
        Ok(config) => Ok(Output::Suspension(SuspensionReport {
            success: true,
            site: site.clone(),
            db_name: held.row.db_name.clone(),
            status: Status::Suspended.as_str().into(),
            reason,
            suspended_at: Some(at),
            config,
            elapsed: round2(started.elapsed().as_secs_f64()),
        })),
        Err((e, done)) => Err(for_site(
            undo_suspend(&ctx, &mut held, &previous, done, e, deadline).await,
        )),
    }
}

/// A suspend that failed midway: the keys it changed are restored and the row is active
/// again; if that fails too, the row stays suspended and `resume` finishes it.
async fn undo_suspend(
    ctx: &Context,
    held: &mut Held,
    previous: &Map<String, Value>,
    done: Vec<&'static str>,
    e: Error,
    deadline: tokio::time::Instant,
) -> Error {
    let back: Vec<(&str, Option<Value>)> = done
        .iter()
        .map(|k| (*k, previous.get(*k).cloned()))
        .collect();
    let undone = match apply(ctx, held, &back, deadline).await {
        Ok(_) => ctx
            .registry
            .resume(held.dbs.control(), held.row.id, run_tag())
            .await
            .map_err(|e| e.to_string()),
        Err((u, _)) => Err(u.message),
    };
    match undone {
        Ok(()) => Error::new(
            e.code,
            format!("{}; undone: the tenant is active, as before", e.message),
        ),
        Err(u) => Error::new(
            e.code,
            format!(
                "{}; undoing it failed too ({u}): the registry keeps it suspended with what it \
                 had before, and `resume` restores that",
                e.message
            ),
        ),
    }
}

pub async fn run_resume(args: ResumeArgs) -> Result<Output, Error> {
    let started = Instant::now();
    let (ctx, site) = Context::resolve_for_site(&args.conn, &args.site).await?;
    let for_site = |e: Error| e.for_site(&site);
    let deadline = deadline(args.timeout);
    let mut held = hold(&ctx, &site, "resume", &[Status::Suspended], deadline)
        .await
        .map_err(for_site)?;
    let record: Value = held
        .row
        .suspension
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| {
            for_site(Error::config(format!(
                "the registry row of {site} is suspended but keeps no readable record of what \
                 it had before: nothing was changed"
            )))
        })?;
    let previous = record["previous"].as_object().cloned().unwrap_or_default();
    let targets: Vec<(&str, Option<Value>)> = suspended_values()
        .iter()
        .map(|(k, _)| (*k, previous.get(*k).cloned()))
        .collect();
    let config = apply(&ctx, &mut held, &targets, deadline)
        .await
        .map_err(|(e, _)| {
            for_site(Error::new(
                e.code,
                format!(
                    "{}; the tenant stays suspended: run resume again",
                    e.message
                ),
            ))
        })?;
    held.still_held().await.map_err(for_site)?;
    ctx.registry
        .resume(held.dbs.control(), held.row.id, run_tag())
        .await
        .map_err(|e| for_site(Error::from(e)))?;
    Ok(Output::Suspension(SuspensionReport {
        success: true,
        site: site.clone(),
        db_name: held.row.db_name.clone(),
        status: Status::Active.as_str().into(),
        reason: record["reason"].as_str().map(String::from),
        suspended_at: record["at"].as_str().map(String::from),
        config,
        elapsed: round2(started.elapsed().as_secs_f64()),
    }))
}

/// Sets each key to its target through bench (only those that differ), checking the lock
/// before each. On failure: the error and the keys changed so far.
async fn apply(
    ctx: &Context,
    held: &mut Held,
    targets: &[(&'static str, Option<Value>)],
    deadline: tokio::time::Instant,
) -> Result<Vec<ConfigChange>, (Error, Vec<&'static str>)> {
    let mut changes = vec![];
    let mut done = vec![];
    for (key, target) in targets {
        let before = held.config.flag(key).cloned();
        let changed = before != *target;
        if changed {
            if let Err(e) = held.still_held().await {
                return Err((e, done));
            }
            if let Err(e) = ctx
                .bench
                .set_config(&held.site, key, target.as_ref(), deadline)
                .await
            {
                return Err((Error::from(e).at("set-config"), done));
            }
            held.config.set_flag(key, target.clone());
            done.push(*key);
        }
        changes.push(ConfigChange {
            key: key.to_string(),
            before,
            after: target.clone(),
            changed,
        });
    }
    Ok(changes)
}

fn deadline(seconds: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspension_serves_nothing_and_runs_nothing() {
        let v = suspended_values();
        assert_eq!(v[0], ("maintenance_mode", Some(json!(1))));
        assert_eq!(v[1], ("allow_reads_during_maintenance", None));
        assert_eq!(v[2], ("pause_scheduler", Some(json!(1))));
    }
}
