//! The tenant registry: one row per site this tool makes or keeps in its standby pool, in
//! a database the tool owns (`REGISTRY_DB`, default `frappe_tenant`), created and
//! migrated on first use. A row records who the tenant is, how far the run got and how it
//! ended; no secret is ever stored in it. Rows are scoped by bench id, so benches sharing
//! one MariaDB server never claim or list each other's sites.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{quote_ident, Db, DbError};

mod benches;
mod claims;
mod schema;

pub use benches::{InventoryBench, Load, Removed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A run is creating it (or was killed doing so: `cleanup --orphans` resolves it).
    Provisioning,
    /// A working tenant.
    Active,
    /// Failed and something may be left: the error and the run's rollback say what.
    Failed,
    /// Failed and everything the run created was undone.
    RolledBack,
    /// A ready site in the pool, waiting for a sign-up.
    Standby,
    /// A standby taken by a sign-up (or a drain) that has not finished yet.
    Claimed,
    /// Removed by cleanup or pool drain.
    Dropped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Provisioning => "provisioning",
            Status::Active => "active",
            Status::Failed => "failed",
            Status::RolledBack => "rolled_back",
            Status::Standby => "standby",
            Status::Claimed => "claimed",
            Status::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Status::Provisioning,
            Status::Active,
            Status::Failed,
            Status::RolledBack,
            Status::Standby,
            Status::Claimed,
            Status::Dropped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether a site with this status should exist: its database is never an orphan.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Status::Provisioning | Status::Active | Status::Standby | Status::Claimed
        )
    }
}

/// How a site was made: taken from the pool, restored from the template, or a fresh new-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SitePath {
    Pool,
    Template,
    Fresh,
}

impl SitePath {
    pub fn as_str(self) -> &'static str {
        match self {
            SitePath::Pool => "pool",
            SitePath::Template => "template",
            SitePath::Fresh => "fresh",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [SitePath::Pool, SitePath::Template, SitePath::Fresh]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One registry row, as `list`, `verify` and `pool status` print it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub id: u64,
    pub site: String,
    pub subdomain: String,
    pub db_name: String,
    pub organization: Option<String>,
    pub email: Option<String>,
    pub status: Status,
    pub path: Option<SitePath>,
    pub step: Option<String>,
    pub error: Option<String>,
    /// For a site taken from the pool: the standby name it had before.
    pub standby_site: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The bench the row belongs to; not printed (the command says which bench it read).
    #[serde(skip)]
    #[schemars(skip)]
    pub bench_id: String,
}

/// What a new row says about the site being made.
pub struct NewRow<'a> {
    pub bench_id: &'a str,
    pub site: &'a str,
    pub subdomain: &'a str,
    pub db_name: &'a str,
    pub organization: Option<&'a str>,
    pub email: Option<&'a str>,
    pub status: Status,
    pub path: SitePath,
    /// The step the run is about to take.
    pub step: &'a str,
}

/// The tenant a claimed standby becomes.
pub struct Claimant<'a> {
    pub site: &'a str,
    pub subdomain: &'a str,
    pub organization: &'a str,
    pub email: &'a str,
}

const COLUMNS: &str = "id, site, subdomain, db_name, organization, email, status, path, step, error, \
     standby_site, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ'), DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%sZ'), bench_id";

/// The registry database, by its validated name.
#[derive(Debug, Clone)]
pub struct Registry {
    name: String,
}

impl Registry {
    pub fn new(name: &str) -> Result<Self, DbError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(DbError::BadRegistryName(name.into()));
        }
        Ok(Self { name: name.into() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn table(&self) -> String {
        format!("{}.tenants", quote_ident(&self.name))
    }

    pub async fn insert(&self, db: &mut Db, r: &NewRow<'_>) -> Result<u64, DbError> {
        let sql = format!(
            "INSERT INTO {} (bench_id, site, subdomain, db_name, organization, email, status, path, step, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            self.table()
        );
        db.run(
            &format!("registering {}", r.site),
            &sql,
            (
                r.bench_id,
                r.site,
                r.subdomain,
                r.db_name,
                r.organization,
                r.email,
                r.status.as_str(),
                r.path.as_str(),
                r.step,
            ),
        )
        .await?;
        Ok(db.conn.last_insert_id().unwrap_or_default())
    }

    /// Records the step a run has reached, so a killed run says where it stopped.
    pub async fn set_step(&self, db: &mut Db, id: u64, step: &str) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET step = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?",
            self.table()
        );
        db.run("recording a step in the registry", &sql, (step, id))
            .await
    }

    /// A sign-up succeeded: the row is an active tenant, made by `path`.
    pub async fn activate(&self, db: &mut Db, id: u64, path: SitePath) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET status = 'active', path = ?, step = 'done', error = NULL, \
             updated_at = UTC_TIMESTAMP(6) WHERE id = ?",
            self.table()
        );
        db.run(
            "recording the tenant active in the registry",
            &sql,
            (path.as_str(), id),
        )
        .await
    }

    /// Ends a row: its final status and, for failures, the error.
    pub async fn finish(
        &self,
        db: &mut Db,
        id: u64,
        status: Status,
        error: Option<&str>,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET status = ?, error = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?",
            self.table()
        );
        db.run(
            "recording an outcome in the registry",
            &sql,
            (status.as_str(), error, id),
        )
        .await
    }

    /// Marks the latest row of a site dropped (cleanup); a site made by hand has none.
    pub async fn mark_dropped(
        &self,
        db: &mut Db,
        bench_id: &str,
        site: &str,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {t} SET status = 'dropped', updated_at = UTC_TIMESTAMP(6) \
             WHERE id = (SELECT id FROM (SELECT MAX(id) AS id FROM {t} WHERE bench_id = ? AND site = ?) AS latest)",
            t = self.table()
        );
        db.run("recording a drop in the registry", &sql, (bench_id, site))
            .await
    }

    /// The latest row of every site of this bench, oldest first.
    pub async fn latest_rows(&self, db: &mut Db, bench_id: &str) -> Result<Vec<Row>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {t} WHERE id IN (SELECT MAX(id) FROM {t} WHERE bench_id = ? GROUP BY site) \
             ORDER BY created_at, id",
            t = self.table()
        );
        let rows: Vec<mysql_async::Row> =
            db.rows("reading the registry", &sql, (bench_id,)).await?;
        Ok(rows.into_iter().filter_map(row).collect())
    }

    pub async fn latest_for_site(
        &self,
        db: &mut Db,
        bench_id: &str,
        site: &str,
    ) -> Result<Option<Row>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND site = ? ORDER BY id DESC LIMIT 1",
            self.table()
        );
        let r: Option<mysql_async::Row> = db
            .first(
                &format!("reading the registry row of {site}"),
                &sql,
                (bench_id, site),
            )
            .await?;
        Ok(r.and_then(row))
    }

    /// This bench's rows in one of `statuses`, oldest first.
    pub async fn rows_with_status(
        &self,
        db: &mut Db,
        bench_id: &str,
        statuses: &[Status],
    ) -> Result<Vec<Row>, DbError> {
        let list = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND status IN ({list}) ORDER BY created_at, id",
            self.table()
        );
        let rows: Vec<mysql_async::Row> =
            db.rows("reading the registry", &sql, (bench_id,)).await?;
        Ok(rows.into_iter().filter_map(row).collect())
    }

    /// Database names the registry, on any bench, says belong to a site that should exist.
    /// One query; `cleanup --orphans` never drops these.
    pub async fn live_databases(&self, db: &mut Db) -> Result<BTreeSet<String>, DbError> {
        let sql = format!(
            "SELECT db_name, status FROM {t} WHERE id IN (SELECT MAX(id) FROM {t} GROUP BY db_name)",
            t = self.table()
        );
        let rows: Vec<(String, String)> = db.rows("reading the registry", &sql, ()).await?;
        Ok(rows
            .into_iter()
            .filter(|(_, s)| Status::parse(s).is_some_and(Status::is_live))
            .map(|(d, _)| d)
            .collect())
    }
}

fn row(mut r: mysql_async::Row) -> Option<Row> {
    let status: String = r.take(6)?;
    let path: Option<String> = r.take(7)?;
    Some(Row {
        id: r.take(0)?,
        site: r.take(1)?,
        subdomain: r.take(2)?,
        db_name: r.take(3)?,
        organization: r.take(4)?,
        email: r.take(5)?,
        status: Status::parse(&status)?,
        path: path.as_deref().and_then(SitePath::parse),
        step: r.take(8)?,
        error: r.take(9)?,
        standby_site: r.take(10)?,
        created_at: r.take(11)?,
        updated_at: r.take(12)?,
        bench_id: r.take(13)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_plain_identifiers() {
        assert!(Registry::new("frappe_tenant").is_ok());
        for bad in ["", "a-b", "a`b", "a b", &"x".repeat(65)] {
            assert!(Registry::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statuses_round_trip_and_know_what_is_live() {
        for s in [
            "provisioning",
            "active",
            "failed",
            "rolled_back",
            "standby",
            "claimed",
            "dropped",
        ] {
            assert_eq!(Status::parse(s).unwrap().as_str(), s);
        }
        let live: Vec<_> = ["provisioning", "active", "standby", "claimed"]
            .into_iter()
            .map(|s| Status::parse(s).unwrap())
            .collect();
        assert!(live.iter().all(|s| s.is_live()));
        assert!(
            !Status::Failed.is_live()
                && !Status::Dropped.is_live()
                && !Status::RolledBack.is_live()
        );
    }
}
