//! The tenant registry: one row per site this tool makes or keeps in its standby pool, in
//! a database the tool owns (`REGISTRY_DB`, default `frappe_tenant`), created and
//! migrated on first use. A row records who the tenant is, how far the run got and how it
//! ended; no secret is ever stored in it. Rows are scoped by bench id, so benches sharing
//! one MariaDB server never claim or list each other's sites.

use serde::Serialize;
use std::collections::BTreeMap;

use super::{quote_ident, Db, DbError};

mod admission;
mod benches;
mod claims;
mod schema;
mod servers;

pub use benches::{DbServerOf, InventoryBench, Load, Removed};
pub use schema::SCHEMA_VERSION;
pub use servers::{DbServer, ServerRemoved};

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
    /// `cleanup --pattern` is removing it (or was killed doing so: `cleanup --orphans`
    /// finishes the removal).
    Dropping,
    /// A tenant `suspend` stopped serving, its data kept; `resume` makes it active again.
    /// Live: no cleanup removes it.
    Suspended,
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
            Status::Dropping => "dropping",
            Status::Suspended => "suspended",
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
            Status::Dropping,
            Status::Suspended,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether a site with this status should exist: its database is never an orphan.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Status::Provisioning
                | Status::Active
                | Status::Standby
                | Status::Claimed
                | Status::Suspended
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

/// One registry row (`output::Registration` is how commands print it).
#[derive(Debug, Clone)]
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
    /// The bench the row belongs to.
    pub bench_id: String,
    /// Whether `db_name` was drawn for this row alone (every row since registry migration
    /// 3). Rows of earlier versions share their site's database name with every other
    /// attempt at that site, so such a row alone never proves whose a database is.
    pub db_unique: bool,
    /// The run that last acted on the row: its commands in a container carry this tag.
    pub run_tag: Option<String>,
    /// While suspended: what `resume` restores (JSON, see `suspend`).
    pub suspension: Option<String>,
}

/// A live row (provisioning, active, standby, claimed) of any bench: what no removal for
/// another row may take from it.
#[derive(Debug, Clone)]
pub struct LiveRow {
    pub id: u64,
    pub bench_id: String,
    pub site: String,
    pub db_name: String,
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
    /// The tag of the run making it (see `Row::run_tag`).
    pub run_tag: &'a str,
}

/// The tenant a claimed standby becomes.
pub struct Claimant<'a> {
    pub site: &'a str,
    pub subdomain: &'a str,
    pub organization: &'a str,
    pub email: &'a str,
}

const COLUMNS: &str = "id, site, subdomain, db_name, organization, email, status, path, step, error, \
     standby_site, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ'), DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%sZ'), bench_id, \
     db_unique, run_tag, suspension";

/// The statuses of a site that should exist (`Status::is_live`), as SQL.
const LIVE: &str = "('provisioning','active','standby','claimed','suspended')";

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

    /// Registers a site about to be made. Its database name must be new (`new_db_name`):
    /// the registry refuses a second row with it, and a second live row for the site on
    /// this bench (`DbError::Duplicate`).
    pub async fn insert(&self, db: &mut Db, r: &NewRow<'_>) -> Result<u64, DbError> {
        let sql = format!(
            "INSERT INTO {} (bench_id, site, subdomain, db_name, organization, email, status, path, step, \
             db_unique, run_tag, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
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
                r.run_tag,
            ),
        )
        .await?;
        Ok(db.conn.last_insert_id().unwrap_or_default())
    }

    /// Says a removal of row `id`'s site by this run (`run_tag`) is starting, if the row is
    /// still what the plan saw (`was`): killed midway, `cleanup --orphans` finishes it.
    pub async fn mark_dropping(
        &self,
        db: &mut Db,
        id: u64,
        was: Status,
        run_tag: &str,
    ) -> Result<(), DbError> {
        let what = "recording a removal in the registry";
        let sql = format!(
            "UPDATE {} SET status = 'dropping', step = 'cleanup', run_tag = ?, \
             updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = ?",
            self.table()
        );
        match db
            .run_counted(what, &sql, (run_tag, id, was.as_str()))
            .await?
        {
            1 => Ok(()),
            _ => Err(DbError::Query {
                what: what.into(),
                source: mysql_async::Error::Other(
                    format!("row {id} is no longer {}", was.as_str()).into(),
                ),
            }),
        }
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

    /// A sign-up succeeded: the row is an active tenant, made by `path`. Only a row still
    /// being made becomes active: if another run resolved it meanwhile (this run's lock was
    /// lost), that is an error, and the sign-up is not reported a success.
    pub async fn activate(&self, db: &mut Db, id: u64, path: SitePath) -> Result<(), DbError> {
        let what = "recording the tenant active in the registry";
        let sql = format!(
            "UPDATE {} SET status = 'active', path = ?, step = 'done', error = NULL, \
             updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status IN ('provisioning','claimed')",
            self.table()
        );
        match db.run_counted(what, &sql, (path.as_str(), id)).await? {
            1 => Ok(()),
            _ => Err(DbError::Query {
                what: what.into(),
                source: mysql_async::Error::Other(
                    format!("row {id} is no longer being made: another run resolved it").into(),
                ),
            }),
        }
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

    /// The row that speaks for a site now: its live row, else the newest row of the
    /// instance its folder holds (`db_name`), else its newest.
    pub async fn row_of_site(
        &self,
        db: &mut Db,
        bench_id: &str,
        site: &str,
        db_name: Option<&str>,
    ) -> Result<Option<Row>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND site = ? \
             ORDER BY status IN {LIVE} DESC, db_name <=> ? DESC, id DESC LIMIT 1",
            self.table()
        );
        let r: Option<mysql_async::Row> = db
            .first(
                &format!("reading the registry row of {site}"),
                &sql,
                (bench_id, site, db_name),
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

    /// Every live row of every bench (one query): their databases are never dropped for
    /// another row, and `cleanup --orphans` never takes them for orphans.
    pub async fn live_rows(&self, db: &mut Db) -> Result<Vec<LiveRow>, DbError> {
        let sql = format!(
            "SELECT id, bench_id, site, db_name FROM {} WHERE status IN {LIVE}",
            self.table()
        );
        let rows: Vec<(u64, String, String, String)> =
            db.rows("reading the registry", &sql, ()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, bench_id, site, db_name)| LiveRow {
                id,
                bench_id,
                site,
                db_name,
            })
            .collect())
    }

    /// The databases the other registries on this server name (any row, any status),
    /// each with its registry: another deployment of the tool (staging beside production)
    /// keeps its tenants there, and what it names is its business. A registry is known by
    /// its `tenants` table's columns.
    pub async fn named_by_other_registries(
        &self,
        db: &mut Db,
    ) -> Result<BTreeMap<String, String>, DbError> {
        let find = "SELECT TABLE_SCHEMA FROM information_schema.COLUMNS \
                    WHERE TABLE_NAME = 'tenants' \
                    AND COLUMN_NAME IN ('bench_id', 'db_name', 'standby_site') \
                    GROUP BY TABLE_SCHEMA HAVING COUNT(*) = 3";
        let registries: Vec<String> = db.rows("finding the registries", find, ()).await?;
        let mut named = BTreeMap::new();
        for r in registries.into_iter().filter(|r| *r != self.name) {
            let sql = format!("SELECT DISTINCT db_name FROM {}.tenants", quote_ident(&r));
            let names: Vec<String> = match db.rows("reading another registry", &sql, ()).await {
                Ok(names) => names,
                // Dropped since it was found: it names nothing any more.
                Err(DbError::Query {
                    source: mysql_async::Error::Server(e),
                    ..
                }) if e.code == 1049 || e.code == 1146 => vec![],
                Err(e) => return Err(e),
            };
            for n in names {
                named.entry(n).or_insert_with(|| r.clone());
            }
        }
        Ok(named)
    }

    /// Every row of these sites on this bench, oldest first.
    pub async fn rows_of_sites(
        &self,
        db: &mut Db,
        bench_id: &str,
        sites: &[String],
    ) -> Result<Vec<Row>, DbError> {
        if sites.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; sites.len()].join(",");
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND site IN ({marks}) ORDER BY id",
            self.table()
        );
        let mut params: Vec<mysql_async::Value> = vec![bench_id.into()];
        params.extend(sites.iter().map(|s| s.as_str().into()));
        let rows: Vec<mysql_async::Row> = db.rows("reading the registry", &sql, params).await?;
        Ok(rows.into_iter().filter_map(row).collect())
    }

    /// An active tenant becomes suspended, keeping `suspension` (what `resume` restores),
    /// only if row `id` is still active: a resume or cleanup that got there first wins,
    /// and this is an error.
    pub async fn suspend(
        &self,
        db: &mut Db,
        id: u64,
        suspension: &str,
        run_tag: &str,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET status = 'suspended', step = 'suspended', suspension = ?, run_tag = ?, \
             updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = 'active'",
            self.table()
        );
        self.changed_one(
            db,
            "recording the suspension",
            &sql,
            (suspension, run_tag, id),
            "active",
        )
        .await
    }

    /// A suspended tenant becomes active again, if row `id` is still suspended.
    pub async fn resume(&self, db: &mut Db, id: u64, run_tag: &str) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET status = 'active', step = 'done', suspension = NULL, run_tag = ?, \
             updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = 'suspended'",
            self.table()
        );
        self.changed_one(db, "recording the resume", &sql, (run_tag, id), "suspended")
            .await
    }

    async fn changed_one<P: Into<mysql_async::Params> + Send>(
        &self,
        db: &mut Db,
        what: &str,
        sql: &str,
        params: P,
        was: &str,
    ) -> Result<(), DbError> {
        match db.run_counted(what, sql, params).await? {
            1 => Ok(()),
            _ => Err(DbError::Query {
                what: what.into(),
                source: mysql_async::Error::Other(
                    format!("the row is no longer {was}: another run changed it").into(),
                ),
            }),
        }
    }

    /// The site's live row on this bench, if it has one (the registry allows one).
    pub async fn live_row(
        &self,
        db: &mut Db,
        bench_id: &str,
        site: &str,
    ) -> Result<Option<Row>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE bench_id = ? AND site = ? AND status IN {LIVE} LIMIT 1",
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
        db_unique: r.take::<i64, _>(14)? == 1,
        run_tag: r.take(15)?,
        suspension: r.take(16)?,
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
            "dropping",
            "suspended",
        ] {
            assert_eq!(Status::parse(s).unwrap().as_str(), s);
        }
        let live: Vec<_> = ["provisioning", "active", "standby", "claimed", "suspended"]
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
