//! Undoing what one provision made, and only that: the site it created (removed
//! completely), or the standby it claimed (returned to the pool before its folder moved,
//! removed after).

use tokio::time::Instant;

use super::{Config, Made, State, ROLLBACK_GRACE};
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Removal, Steps, Target};
use crate::output::Undo;
use crate::outside::mariadb::registry::Status;
use crate::progress::progress;

/// Undoes, in reverse, what this run made. Never touches anything unless this run made
/// it under the site lock, so everything at this site's names is ours.
pub(super) async fn rollback(cfg: &Config, site: &str, state: &mut State) -> Removal {
    let ctx = &cfg.ctx;
    if matches!(state.made, Made::Nothing) {
        return Removal::default();
    }
    progress(&format!("↺ Rolling back {site}..."));
    let deadline = Instant::now() + ROLLBACK_GRACE;
    let Some(db) = state.db.as_mut() else {
        return Removal {
            steps: vec![Undo {
                action: format!("roll back {site}"),
                ok: false,
                detail: Some("no MariaDB connection".into()),
            }],
            ..Removal::default()
        };
    };
    let mut steps = Steps::default();
    match state.made {
        Made::Nothing => {}
        Made::Claimed => {
            let standby = state.standby_site.clone().unwrap_or_default();
            let row_id = state.row_id.expect("a claim sets the row");
            let r = ctx
                .registry
                .unclaim(db, row_id, Status::Standby, None)
                .await
                .map_err(|e| e.to_string());
            steps.record(format!("return standby {standby} to the pool"), r);
        }
        Made::NewSite | Made::Renamed => {
            let proof = match (&state.made, state.row_id) {
                (Made::Renamed, Some(id)) => Proof::Row(id),
                _ => Proof::MadeByThisRun,
            };
            let target = Target {
                site,
                db_name: &state.db_name,
                proof,
            };
            let guard = Guard::fixed(ctx);
            return remove_site(ctx, db, &state.facts.common, &target, &guard, deadline).await;
        }
    }
    Removal {
        steps: steps.0,
        ..Removal::default()
    }
}
