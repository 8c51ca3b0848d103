//! The bench inventory: one row per bench the tool may place sign-ups on, with how to
//! reach it (executor settings, Frappe URL, site domain), its bench id, its capacity and
//! whether it is cordoned, and the database server its sites live on (`db_servers`; none:
//! the registry's server). It lives in the registry database; no secret is stored in it.

use std::collections::BTreeMap;

use super::Registry;
use crate::outside::mariadb::{Db, DbError};

/// One bench of the inventory. Executor and db-host flag are kept as their command-line
/// names, so this layer needs nothing of the command line's types.
#[derive(Debug, Clone)]
pub struct InventoryBench {
    pub name: String,
    pub bench_id: String,
    /// `docker`, `kubectl` or `local`.
    pub executor: String,
    pub docker_service: Option<String>,
    pub kubectl_target: Option<String>,
    pub kubectl_namespace: Option<String>,
    pub kubectl_container: Option<String>,
    pub bench_path: Option<String>,
    pub bench_bin: Option<String>,
    pub frappe_url: String,
    pub site_domain: String,
    /// `no-mariadb-socket` or `login-scope`.
    pub db_host_flag: String,
    /// Most tenant sites (provisioning, active, claimed) the bench takes; none: no limit.
    pub capacity: Option<u32>,
    /// A cordoned bench gets no new sign-ups.
    pub cordoned: bool,
    pub created_at: String,
    /// The database server its sites live on (`db-server add`); `None`: the registry's.
    pub db_server: Option<DbServerOf>,
    /// Its web workers: how many sign-ups it serves over REST at once; `None`: no limit.
    pub web_workers: Option<u32>,
}

/// A bench's database server as the inventory knows it (read with the bench).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbServerOf {
    pub name: String,
    /// `env:NAME` or `file:/path`.
    pub url_from: String,
    pub capacity: Option<u32>,
}

/// The sites a bench holds now, by the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Tenants (provisioning, active, claimed): what capacity counts.
    pub tenants: u64,
    /// Standby sites ready in its pool.
    pub standby: u64,
}

/// What `remove_bench` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    Removed,
    NotFound,
    /// Refused: this many registry rows of the bench are live.
    Live(u64),
}

const BENCH_COLUMNS: &str = "b.name, b.bench_id, b.executor, b.docker_service, \
    b.kubectl_target, b.kubectl_namespace, b.kubectl_container, b.bench_path, b.bench_bin, \
    b.frappe_url, b.site_domain, b.db_host_flag, b.capacity, b.cordoned, \
    DATE_FORMAT(b.created_at, '%Y-%m-%dT%H:%i:%sZ'), s.name, s.url_from, s.capacity, \
    b.web_workers";

/// The statuses of a site that should exist (`Status::is_live`), for SQL.
const LIVE: &str = "'provisioning','active','standby','claimed','suspended'";

impl Registry {
    fn benches_table(&self) -> String {
        format!(
            "{}.benches",
            crate::outside::mariadb::quote_ident(self.name())
        )
    }

    /// The benches joined with their database servers, as `b` and `s`.
    fn benches_with_servers(&self) -> String {
        format!(
            "{} b LEFT JOIN {}.db_servers s ON s.name = b.db_server",
            self.benches_table(),
            crate::outside::mariadb::quote_ident(self.name())
        )
    }

    /// Adds a bench; fails when its name or its bench id is already in the inventory.
    pub async fn add_bench(&self, db: &mut Db, b: &InventoryBench) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {} (name, bench_id, executor, docker_service, kubectl_target, \
             kubectl_namespace, kubectl_container, bench_path, bench_bin, frappe_url, site_domain, \
             db_host_flag, capacity, db_server, web_workers, cordoned, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            self.benches_table()
        );
        let params: Vec<mysql_async::Value> = vec![
            b.name.clone().into(),
            b.bench_id.clone().into(),
            b.executor.clone().into(),
            b.docker_service.clone().into(),
            b.kubectl_target.clone().into(),
            b.kubectl_namespace.clone().into(),
            b.kubectl_container.clone().into(),
            b.bench_path.clone().into(),
            b.bench_bin.clone().into(),
            b.frappe_url.clone().into(),
            b.site_domain.clone().into(),
            b.db_host_flag.clone().into(),
            b.capacity.into(),
            b.db_server.as_ref().map(|s| s.name.clone()).into(),
            b.web_workers.into(),
        ];
        db.run(&format!("adding bench {}", b.name), &sql, params)
            .await
    }

    /// Every bench of the inventory, by name.
    pub async fn benches(&self, db: &mut Db) -> Result<Vec<InventoryBench>, DbError> {
        let sql = format!(
            "SELECT {BENCH_COLUMNS} FROM {} ORDER BY b.name",
            self.benches_with_servers()
        );
        let rows: Vec<mysql_async::Row> = db.rows("reading the bench inventory", &sql, ()).await?;
        Ok(rows.into_iter().filter_map(bench_row).collect())
    }

    /// Whether this registry has ever seen the bench `bench_id`: a row of one of its sites
    /// or its inventory entry. A bench the tool used has one of them in the registry it
    /// used (its id is made by its first sign-up or `bench add`, after the registry).
    pub async fn knows_bench(&self, db: &mut Db, bench_id: &str) -> Result<bool, DbError> {
        let sql = format!(
            "SELECT EXISTS(SELECT 1 FROM {} WHERE bench_id = ?) \
             OR EXISTS(SELECT 1 FROM {} WHERE bench_id = ?)",
            self.table(),
            self.benches_table()
        );
        let known: Option<i64> = db
            .first("reading the registry", &sql, (bench_id, bench_id))
            .await?;
        Ok(known == Some(1))
    }

    pub async fn bench(&self, db: &mut Db, name: &str) -> Result<Option<InventoryBench>, DbError> {
        let sql = format!(
            "SELECT {BENCH_COLUMNS} FROM {} WHERE b.name = ?",
            self.benches_with_servers()
        );
        let r: Option<mysql_async::Row> = db
            .first(&format!("reading bench {name}"), &sql, (name,))
            .await?;
        Ok(r.and_then(bench_row))
    }

    /// Removes a bench from the inventory unless the registry has live rows for it; the
    /// check and the delete are one statement, so a sign-up recorded meanwhile wins.
    pub async fn remove_bench(&self, db: &mut Db, name: &str) -> Result<Removed, DbError> {
        let Some(b) = self.bench(db, name).await? else {
            return Ok(Removed::NotFound);
        };
        let sql = format!(
            "DELETE FROM {b} WHERE name = ? AND NOT EXISTS \
             (SELECT 1 FROM {t} WHERE bench_id = ? AND status IN ({LIVE}))",
            b = self.benches_table(),
            t = self.table()
        );
        db.run(&format!("removing bench {name}"), &sql, (name, &b.bench_id))
            .await?;
        if db.conn.affected_rows() == 1 {
            return Ok(Removed::Removed);
        }
        let live = self
            .loads(db)
            .await?
            .remove(&b.bench_id)
            .unwrap_or_default();
        Ok(Removed::Live(live.tenants + live.standby))
    }

    /// Cordons or uncordons a bench; `false` when there is no bench of that name.
    pub async fn set_cordoned(
        &self,
        db: &mut Db,
        name: &str,
        cordoned: bool,
    ) -> Result<bool, DbError> {
        let sql = format!(
            "UPDATE {} SET cordoned = ?, updated_at = UTC_TIMESTAMP(6) WHERE name = ?",
            self.benches_table()
        );
        db.run(&format!("cordoning bench {name}"), &sql, (cordoned, name))
            .await?;
        // Found even when it already had that state: compare with the row, not the count.
        Ok(self.bench(db, name).await?.is_some())
    }

    /// Every bench id's live sites, in one query.
    pub async fn loads(&self, db: &mut Db) -> Result<BTreeMap<String, Load>, DbError> {
        let sql = format!(
            "SELECT bench_id, CAST(SUM(status <> 'standby') AS UNSIGNED), \
             CAST(SUM(status = 'standby') AS UNSIGNED) FROM {} \
             WHERE status IN ({LIVE}) GROUP BY bench_id",
            self.table()
        );
        let rows: Vec<(String, u64, u64)> = db.rows("counting sites per bench", &sql, ()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, tenants, standby)| (id, Load { tenants, standby }))
            .collect())
    }

    /// Takes a named lock for `what` on one bench without waiting (held by this
    /// connection until `release_bench_lock` or its end): `false` when another run,
    /// on any host, holds it.
    pub async fn try_bench_lock(
        &self,
        db: &mut Db,
        what: &str,
        bench_id: &str,
    ) -> Result<bool, DbError> {
        let got: Option<Option<i64>> = db
            .first(
                &format!("taking the {what} lock of bench {bench_id}"),
                "SELECT GET_LOCK(?, 0)",
                (bench_lock_name(what, bench_id),),
            )
            .await?;
        Ok(got.flatten() == Some(1))
    }

    pub async fn release_bench_lock(
        &self,
        db: &mut Db,
        what: &str,
        bench_id: &str,
    ) -> Result<(), DbError> {
        db.run(
            &format!("releasing the {what} lock of bench {bench_id}"),
            "DO RELEASE_LOCK(?)",
            (bench_lock_name(what, bench_id),),
        )
        .await
    }
}

/// Named locks are at most 64 characters: a bench id is 16, `what` a short word.
fn bench_lock_name(what: &str, bench_id: &str) -> String {
    let mut s = format!("frappe-tenant:{what}:{bench_id}");
    s.truncate(64);
    s
}

fn bench_row(mut r: mysql_async::Row) -> Option<InventoryBench> {
    let cordoned: i64 = r.take(13)?;
    let web_workers = r.take(18)?;
    Some(InventoryBench {
        web_workers,
        name: r.take(0)?,
        bench_id: r.take(1)?,
        executor: r.take(2)?,
        docker_service: r.take(3)?,
        kubectl_target: r.take(4)?,
        kubectl_namespace: r.take(5)?,
        kubectl_container: r.take(6)?,
        bench_path: r.take(7)?,
        bench_bin: r.take(8)?,
        frappe_url: r.take(9)?,
        site_domain: r.take(10)?,
        db_host_flag: r.take(11)?,
        capacity: r.take(12)?,
        cordoned: cordoned != 0,
        created_at: r.take(14)?,
        db_server: match r.take::<Option<String>, _>(15)? {
            Some(name) => Some(DbServerOf {
                name,
                url_from: r.take(16)?,
                capacity: r.take(17)?,
            }),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lock_names_fit_mariadb() {
        assert_eq!(
            bench_lock_name("pool-fill", "0123456789abcdef"),
            "frappe-tenant:pool-fill:0123456789abcdef"
        );
        assert!(bench_lock_name("x", &"y".repeat(80)).len() <= 64);
    }
}
