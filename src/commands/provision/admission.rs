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

/// How often the next sign-up in line looks whether its turn came (one indexed count): a
/// turn handed on is taken this much later at most. One further back, with `k` turns to
/// end before its own, looks `k` times less often (at most every `MAX_POLL`): twenty
/// waiters all looking every 10 ms kept the registry's server and the tool busy enough
/// to starve the web workers of a 2-core bench (measured: see docs/performance.md).
const POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(200);
/// How often the next in line sweeps the tickets of killed runs ahead of it (a delete
/// joined with the process list); one `k` turns back, `k` times less often, at most every
/// `MAX_SWEEP`, so a run of dead tickets ahead is cleared by whoever waits behind it.
const SWEEP: Duration = Duration::from_millis(250);
const MAX_SWEEP: Duration = Duration::from_secs(2);

/// The pauses of a waiter with `ahead` sign-ups ahead of it on a bench of `workers`
/// web workers: between two looks, and between two sweeps.
fn pauses(ahead: u64, workers: u32) -> (Duration, Duration) {
    let turns = ahead
        .saturating_add(1)
        .saturating_sub(u64::from(workers))
        .clamp(1, 1000) as u32;
    ((POLL * turns).min(MAX_POLL), (SWEEP * turns).min(MAX_SWEEP))
}

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
    let mut sweep_every = SWEEP;
    loop {
        if swept.map_or(true, |t| t.elapsed() >= sweep_every) {
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
        let (poll, sweep) = pauses(ahead, workers);
        sweep_every = sweep;
        if !said {
            progress(&format!(
                "Queued: {ahead} sign-up(s) ahead for the bench's {workers} web worker(s)..."
            ));
            said = true;
        }
        run.go_on(step)?;
        tokio::time::sleep(poll).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_in_line_looks_often_and_those_behind_it_less() {
        let ms = |d: Duration| d.as_millis();
        // Two workers busy, none waiting before it: next in line.
        let (poll, sweep) = pauses(2, 2);
        assert_eq!((ms(poll), ms(sweep)), (10, 250));
        // Three turns to end first: three times less often.
        let (poll, sweep) = pauses(4, 2);
        assert_eq!((ms(poll), ms(sweep)), (30, 750));
        // Far back: capped, so a dead ticket ahead is still swept within MAX_SWEEP.
        let (poll, sweep) = pauses(500, 2);
        assert_eq!((ms(poll), ms(sweep)), (200, 2000));
        let (poll, _) = pauses(u64::MAX, 1);
        assert_eq!(ms(poll), 200);
    }
}
