//! Standby claims: the oldest standby of a set of benches taken with `FOR UPDATE SKIP
//! LOCKED`, so concurrent claims never share one, and given back when a claim is undone.

use super::{row, Claimant, Registry, Row, Status, COLUMNS};
use crate::outside::mariadb::{q, Db, DbError};
use mysql_async::prelude::*;
use mysql_async::TxOpts;

/// What the errors of a claim say it was doing.
const CLAIMING: &str = "claiming a standby site";

/// How many of the oldest standbys a claim across benches tries to lock.
const CANDIDATES: usize = 32;

impl Registry {
    /// The standby a claim would take now, read without locking it (`--dry-run`).
    pub async fn oldest_standby(
        &self,
        db: &mut Db,
        bench_id: &str,
    ) -> Result<Option<Row>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND status = 'standby' \
             ORDER BY created_at, id LIMIT 1",
            self.table()
        );
        let rows: Vec<mysql_async::Row> = db.rows("reading the pool", &sql, (bench_id,)).await?;
        Ok(rows.into_iter().filter_map(row).next())
    }

    /// Atomically takes the oldest standby of these benches (one, or every bench a
    /// placement may use) and marks it `claimed` with `step`; the row says which bench.
    /// `FOR UPDATE SKIP LOCKED`: concurrent claims each get a different row (or none)
    /// instead of the same one. With a claimant, the row already names the tenant,
    /// so a killed claim can be resolved from the row alone; `run_tag` names the claiming
    /// run. A claimant whose site has a live row already is refused by the registry
    /// (`DbError::Duplicate`).
    pub async fn claim_standby(
        &self,
        db: &mut Db,
        bench_ids: &[&str],
        step: &str,
        claimant: Option<&Claimant<'_>>,
        exclude: &[u64],
        run_tag: &str,
    ) -> Result<Option<Row>, DbError> {
        if bench_ids.is_empty() {
            return Ok(None);
        }
        db.queries += 3;
        let _waiting = crate::basics::waits::waiting();
        let mut tx = db
            .conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(q(CLAIMING))?;
        let (picked, reads) = self.lock_oldest(&mut tx, bench_ids, exclude).await?;
        db.queries += reads;
        let Some(mut r) = picked.and_then(row) else {
            tx.rollback().await.map_err(q(CLAIMING))?;
            return Ok(None);
        };
        // A claimant's row names the tenant from here on; a drain's keeps the standby's.
        // `path` stays how the standby was made until the sign-up succeeds (`activate`).
        let update = format!(
            "UPDATE {} SET status = 'claimed', step = ?, standby_site = site, \
             site = COALESCE(?, site), subdomain = COALESCE(?, subdomain), \
             organization = ?, email = ?, run_tag = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?",
            self.table()
        );
        let values = (
            step,
            claimant.map(|c| c.site),
            claimant.map(|c| c.subdomain),
            claimant.map(|c| c.organization),
            claimant.map(|c| c.email),
            run_tag,
            r.id,
        );
        tx.exec_drop(update, values).await.map_err(q(CLAIMING))?;
        tx.commit().await.map_err(q(CLAIMING))?;
        r.standby_site = Some(r.site.clone());
        if let Some(c) = claimant {
            r.site = c.site.into();
            r.subdomain = c.subdomain.into();
            r.organization = Some(c.organization.into());
            r.email = Some(c.email.into());
        }
        r.status = Status::Claimed;
        r.step = Some(step.into());
        r.run_tag = Some(run_tag.into());
        Ok(Some(r))
    }

    /// The oldest standby of these benches, locked in `tx` (`None`: every one is taken or
    /// there is none), and how many more reads that took.
    async fn lock_oldest(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        bench_ids: &[&str],
        exclude: &[u64],
    ) -> Result<(Option<mysql_async::Row>, u64), DbError> {
        // Ids are integers we read back from this table: safe to inline.
        let skip = match exclude.is_empty() {
            true => String::new(),
            false => {
                let ids: Vec<String> = exclude.iter().map(u64::to_string).collect();
                format!("AND id NOT IN ({}) ", ids.join(","))
            }
        };
        if let [bench_id] = bench_ids {
            // One bench: the (bench_id, status, created_at) index gives the rows in age
            // order, so the locking read locks only the one it returns.
            let pick = format!(
                "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND status = 'standby' {skip}\
                 ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                self.table()
            );
            let picked = tx
                .exec_first(pick, (bench_id,))
                .await
                .map_err(q(CLAIMING))?;
            return Ok((picked, 0));
        }
        // Several benches: no index orders their rows together, and a locking read that
        // sorts locks every row it sorts, so racing claims would find them all taken.
        // Instead: the oldest candidates by a plain read, then each locked alone by its
        // primary key (status checked again under the lock), skipping any another claim
        // holds. Two claims still never get one row.
        let marks = vec!["?"; bench_ids.len()].join(",");
        let candidates = format!(
            "SELECT id FROM {} WHERE bench_id IN ({marks}) AND status = 'standby' {skip}\
             ORDER BY created_at, id LIMIT {CANDIDATES}",
            self.table()
        );
        let ids: Vec<u64> = tx
            .exec(candidates, bench_ids.to_vec())
            .await
            .map_err(q(CLAIMING))?;
        let lock = format!(
            "SELECT {COLUMNS} FROM {} WHERE id = ? AND status = 'standby' FOR UPDATE SKIP LOCKED",
            self.table()
        );
        let mut reads = 0;
        for id in ids {
            reads += 1;
            if let Some(r) = tx.exec_first(&lock, (id,)).await.map_err(q(CLAIMING))? {
                return Ok((Some(r), reads));
            }
        }
        Ok((None, reads))
    }

    /// Undoes a claim before the standby's folder moved: the row names the standby again
    /// (its own site, path and no tenant), as `standby` when it goes back to the pool, or
    /// `failed` with `error` when it was found broken (cleanup --orphans removes those).
    pub async fn unclaim(
        &self,
        db: &mut Db,
        id: u64,
        status: Status,
        error: Option<&str>,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET status = ?, site = standby_site, \
             subdomain = SUBSTRING_INDEX(standby_site, '.', 1), standby_site = NULL, \
             organization = NULL, email = NULL, step = 'ready', error = ?, \
             updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = 'claimed'",
            self.table()
        );
        let what = "undoing a standby claim";
        // An undo that changed nothing says so: the row was not (or no longer) claimed.
        match db
            .run_counted(what, &sql, (status.as_str(), error, id))
            .await?
        {
            0 => Err(DbError::Unchanged { what: what.into() }),
            _ => Ok(()),
        }
    }
}
