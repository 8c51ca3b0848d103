//! Undoing what one provision made, and only that (`Run::made`): the site it created
//! (removed completely), or the standby it claimed (returned to the pool before its folder
//! moved, removed after).

use tokio::time::Instant;

use super::{Made, Run, ROLLBACK_GRACE};
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Removal, Steps, Target};
use crate::output::Undo;
use crate::outside::mariadb::registry::Status;
use crate::progress::progress;

/// Undoes, in reverse, what this run made. Never touches anything unless this run made
/// it under the site lock: every removal checks the lock and the instance first.
pub(super) async fn rollback(run: &mut Run, site: &str) -> Removal {
    let Some(made) = run.made.clone() else {
        return Removal::default();
    };
    progress(&format!("↺ Rolling back {site}..."));
    let deadline = Instant::now() + ROLLBACK_GRACE;
    let common = run.common.clone();
    let Some(db) = run.db.as_mut() else {
        return Removal {
            steps: vec![Undo {
                action: format!("roll back {site}"),
                ok: false,
                detail: Some("no MariaDB connection".into()),
            }],
            ..Removal::default()
        };
    };
    let ctx = &run.cfg.ctx;
    match &made {
        Made::Claimed {
            row_id, standby, ..
        } => {
            let mut steps = Steps::default();
            let r = ctx
                .registry
                .unclaim(db.control(), *row_id, Status::Standby, None)
                .await
                .map_err(|e| e.to_string());
            steps.record(format!("return standby {standby} to the pool"), r);
            Removal {
                steps: steps.0,
                ..Removal::default()
            }
        }
        Made::Renamed {
            row_id, db_name, ..
        } => {
            let target = Target {
                site,
                db_name,
                proof: Proof::Row(*row_id),
            };
            remove_site(ctx, db, &common, &target, &Guard::fixed(ctx), deadline).await
        }
        Made::NewSite { db_name, .. } => {
            let target = Target {
                site,
                db_name,
                proof: Proof::MadeByThisRun,
            };
            remove_site(ctx, db, &common, &target, &Guard::fixed(ctx), deadline).await
        }
    }
}
