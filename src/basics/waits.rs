//! How long this process has spent waiting on the outside systems (bench and its files,
//! Frappe's HTTP API, MariaDB): the union of those waits, so concurrent calls count once.
//! A run's wall time minus this is the tool's own work, which the benchmark reports.

use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Clock {
    in_flight: u32,
    since: Option<Instant>,
    total: Duration,
}

static CLOCK: Mutex<Clock> = Mutex::new(Clock {
    in_flight: 0,
    since: None,
    total: Duration::ZERO,
});

/// Held while an outside call is in flight.
pub struct Waiting(());

/// Starts counting outside time until the returned guard is dropped.
pub fn waiting() -> Waiting {
    let mut c = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    if c.in_flight == 0 {
        c.since = Some(Instant::now());
    }
    c.in_flight += 1;
    Waiting(())
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut c = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
        c.in_flight -= 1;
        if c.in_flight == 0 {
            if let Some(since) = c.since.take() {
                c.total += since.elapsed();
            }
        }
    }
}

/// Outside time so far, including any wait still in flight.
pub fn waited() -> Duration {
    let c = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    c.total + c.since.map(|s| s.elapsed()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_waits_count_once() {
        let nap = || std::thread::sleep(Duration::from_millis(30));
        let before = waited();
        let t0 = Instant::now();
        let a = waiting();
        nap();
        let b = waiting();
        nap();
        drop(a);
        nap();
        drop(b);
        let t3 = Instant::now();
        let spent = waited() - before;
        assert!(spent >= Duration::from_millis(90), "{spent:?}");
        // Summing the two 60 ms waits would count their 30 ms overlap twice; the union
        // never exceeds the span from the first start to the last end.
        assert!(
            spent <= t3 - t0,
            "{spent:?} > {:?}: overlap counted twice",
            t3 - t0
        );
    }
}
