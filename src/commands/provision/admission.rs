//! Admission to the bench's web workers (`WEB_WORKERS`, `bench add --web-workers`): a
//! sign-up's REST steps run only while fewer than that many sign-ups of its bench are
//! ahead of it; the others wait in arrival order (tickets in the registry, see
//! `registry::admission`). Served one after another, the first customer is done in one
//! sign-up's time instead of the whole burst's, and the burst ends no later. A run that is
//! stopped (its deadline, a signal) while it waits ends there: on the pool path nothing
//! has been made yet.

use std::time::Duration;

use tokio::time::Instant;

use super::Run;
use crate::error::{Code, Error};
use crate::progress::progress;

/// How often a waiting sign-up looks whether its turn came (one indexed count): a turn
/// handed on is taken this much later at most.
const POLL: Duration = Duration::from_millis(10);
/// How often it sweeps the tickets of killed runs (a join with the process list).
const SWEEP: Duration = Duration::from_millis(250);

/// Waits for this run's turn on its bench, if the bench has a web-worker limit.
pub(super) async fn admit(run: &mut Run, bench_id: &str, step: &'static str) -> Result<(), Error> {
    let Some(workers) = run.cfg.ctx.web_workers else {
        return Ok(());
    };
    let registry = run.cfg.ctx.registry.clone();
    let unavailable = |e: crate::outside::mariadb::DbError| {
        Error::new(Code::DbUnavailable, e.to_string()).at(step)
    };
    let clock = Instant::now();
    let ticket = registry
        .take_ticket(run.db(), bench_id)
        .await
        .map_err(unavailable)?;
    run.ticket = Some(ticket);
    let mut said = false;
    let mut swept: Option<Instant> = None;
    loop {
        if swept.map_or(true, |t| t.elapsed() >= SWEEP) {
            registry
                .sweep_tickets(run.db(), bench_id, ticket)
                .await
                .map_err(unavailable)?;
            swept = Some(Instant::now());
        }
        let ahead = registry
            .tickets_ahead(run.db(), bench_id, ticket)
            .await
            .map_err(unavailable)?;
        if ahead < u64::from(workers) {
            break;
        }
        if !said {
            progress(&format!(
                "Queued: {ahead} sign-up(s) ahead for the bench's {workers} web worker(s)..."
            ));
            said = true;
        }
        run.go_on(step)?;
        tokio::time::sleep(POLL).await;
    }
    run.queued = clock.elapsed();
    Ok(())
}

/// Gives the run's turn to the next sign-up (after its last REST step, or on failure).
pub(super) async fn leave(run: &mut Run) {
    let Some(ticket) = run.ticket.take() else {
        return;
    };
    let registry = run.cfg.ctx.registry.clone();
    if let Err(e) = registry.return_ticket(run.db(), ticket).await {
        // Not lost: the ticket goes with this run's connection, which ends with it.
        progress(&format!("⚠ admission ticket {ticket} not returned ({e})"));
    }
}
