//! The registry's schema: created on first use and migrated, version by version, under a
//! server-wide lock so concurrent first runs migrate exactly once.

use super::Registry;
use crate::outside::mariadb::{quote_ident, Db, DbError};

/// The registry schema this version writes and reads.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Schema versions, applied in order once each, each one or more statements; never edit
/// one that has shipped.
const MIGRATIONS: &[&[&str]] = &[
    // 1: the tenants.
    &["CREATE TABLE IF NOT EXISTS tenants (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        bench_id VARCHAR(64) NOT NULL,
        site VARCHAR(255) NOT NULL,
        subdomain VARCHAR(63) NOT NULL,
        db_name VARCHAR(64) NOT NULL,
        organization VARCHAR(140) NULL,
        email VARCHAR(140) NULL,
        status ENUM('provisioning','active','failed','rolled_back','standby','claimed','dropped') NOT NULL,
        path ENUM('pool','template','fresh') NULL,
        step VARCHAR(40) NULL,
        error TEXT NULL,
        standby_site VARCHAR(255) NULL,
        created_at DATETIME(6) NOT NULL,
        updated_at DATETIME(6) NOT NULL,
        KEY by_site (bench_id, site),
        KEY by_status (bench_id, status, created_at),
        KEY by_db (db_name)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"],
    // 2: the bench inventory (`bench add`). Executor settings only: the MariaDB admin
    // credentials stay in MARIADB_URL, so the inventory holds no secret.
    &["CREATE TABLE IF NOT EXISTS benches (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        bench_id VARCHAR(64) NOT NULL,
        executor VARCHAR(16) NOT NULL,
        docker_service VARCHAR(255) NULL,
        kubectl_target VARCHAR(255) NULL,
        kubectl_namespace VARCHAR(255) NULL,
        kubectl_container VARCHAR(255) NULL,
        bench_path VARCHAR(1024) NULL,
        bench_bin VARCHAR(1024) NULL,
        frappe_url VARCHAR(1024) NOT NULL,
        site_domain VARCHAR(255) NOT NULL,
        db_host_flag VARCHAR(32) NOT NULL,
        capacity INT UNSIGNED NULL,
        cordoned TINYINT(1) NOT NULL DEFAULT 0,
        created_at DATETIME(6) NOT NULL,
        updated_at DATETIME(6) NOT NULL,
        UNIQUE KEY by_bench_id (bench_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"],
    // 3: instance identity. Rows made from now on name a database drawn for them alone
    // (`db_unique`): the registry refuses a second row with that name, and a second live
    // row (provisioning, active, standby, claimed) for one site of one bench. Rows of
    // earlier versions share their site's database name with every other attempt at it;
    // where such a site has several live rows, the one to keep is its active row (or its
    // newest), and the others, which a killed run left, are marked failed for
    // `cleanup --orphans` to resolve without touching the site. `run_tag` names the run
    // that last acted on the row, so the bench processes it left in a container can be
    // stopped. Status `dropping`: a `cleanup --pattern` removing the site, which
    // `cleanup --orphans` finishes if it was killed.
    &[
        "UPDATE tenants t JOIN (
            SELECT bench_id, site,
                   COALESCE(MAX(IF(status = 'active', id, NULL)), MAX(id)) AS keep
            FROM tenants WHERE status IN ('provisioning','active','standby','claimed')
            GROUP BY bench_id, site HAVING COUNT(*) > 1
        ) d ON t.bench_id = d.bench_id AND t.site = d.site AND t.id <> d.keep
        SET t.status = 'failed',
            t.error = CONCAT('superseded by row ', d.keep, ', another live row of this site (registry migration 3)'),
            t.updated_at = UTC_TIMESTAMP(6)
        WHERE t.status IN ('provisioning','active','standby','claimed')",
        "ALTER TABLE tenants MODIFY status ENUM('provisioning','active','failed','rolled_back',
            'standby','claimed','dropped','dropping') NOT NULL",
        "ALTER TABLE tenants
            ADD COLUMN IF NOT EXISTS db_unique TINYINT(1) NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS run_tag VARCHAR(32) NULL,
            ADD COLUMN IF NOT EXISTS live_site VARCHAR(255) AS
                (IF(status IN ('provisioning','active','standby','claimed'), site, NULL)) PERSISTENT,
            ADD COLUMN IF NOT EXISTS unique_db_name VARCHAR(64) AS
                (IF(db_unique = 1, db_name, NULL)) PERSISTENT,
            ADD UNIQUE KEY IF NOT EXISTS one_live_row (bench_id, live_site),
            ADD UNIQUE KEY IF NOT EXISTS one_row_per_db (unique_db_name)",
    ],
    // 4: status `suspended`: a tenant `suspend` stopped serving (Frappe's maintenance
    // mode, its scheduler paused), its data kept. It is live: its site and database stay
    // the tenant's, so no cleanup takes them and no second row may claim the site.
    // `suspension` keeps what `resume` restores (the site's previous maintenance_mode and
    // pause_scheduler, the reason, when), as JSON; NULL when the tenant is not suspended.
    &[
        "ALTER TABLE tenants MODIFY status ENUM('provisioning','active','failed','rolled_back',
            'standby','claimed','dropped','dropping','suspended') NOT NULL",
        "ALTER TABLE tenants ADD COLUMN IF NOT EXISTS suspension TEXT NULL",
        "ALTER TABLE tenants DROP INDEX IF EXISTS one_live_row",
        "ALTER TABLE tenants MODIFY live_site VARCHAR(255) AS
            (IF(status IN ('provisioning','active','standby','claimed','suspended'), site, NULL)) PERSISTENT",
        "ALTER TABLE tenants ADD UNIQUE KEY IF NOT EXISTS one_live_row (bench_id, live_site)",
    ],
    // 5: database servers (`db-server add`). A bench may keep its sites on a server of
    // its own; the row says where that server's admin URL comes from (`env:NAME` or
    // `file:/path`), never the URL. The registry, its locks and every tenant row stay on
    // the registry's server. A bench without one uses the registry's server.
    &[
        "CREATE TABLE IF NOT EXISTS db_servers (
            name VARCHAR(64) NOT NULL PRIMARY KEY,
            url_from VARCHAR(1100) NOT NULL,
            capacity INT UNSIGNED NULL,
            created_at DATETIME(6) NOT NULL,
            updated_at DATETIME(6) NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "ALTER TABLE benches ADD COLUMN IF NOT EXISTS db_server VARCHAR(64) NULL",
        "ALTER TABLE benches ADD CONSTRAINT bench_db_server
            FOREIGN KEY IF NOT EXISTS (db_server) REFERENCES db_servers (name)",
    ],
    // 6: admission. `web_workers`: how many sign-ups a bench serves over REST at once.
    // `admissions`: one ticket per sign-up waiting or admitted, in arrival order (`id`),
    // with the MariaDB connection of its run: a ticket whose connection is gone (a killed
    // run) is swept by the next waiter, so nothing waits on the dead.
    &[
        "ALTER TABLE benches ADD COLUMN IF NOT EXISTS web_workers INT UNSIGNED NULL",
        "CREATE TABLE IF NOT EXISTS admissions (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            bench_id VARCHAR(64) NOT NULL,
            conn_id BIGINT UNSIGNED NOT NULL,
            created_at DATETIME(6) NOT NULL,
            KEY by_bench (bench_id, id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    ],
];

impl Registry {
    /// Creates or migrates the registry. One query when it is up to date; otherwise the
    /// migration runs under a server-wide named lock, so concurrent first runs are safe.
    pub async fn ensure(&self, db: &mut Db) -> Result<(), DbError> {
        let latest = MIGRATIONS.len() as i64;
        let versions = format!(
            "SELECT MAX(version) FROM {}.schema_migrations",
            quote_ident(&self.name)
        );
        // Any error here (no database, no table) means: not migrated yet.
        if let Ok(Some(Some(v))) = db
            .first::<Option<i64>, _>("reading the registry version", &versions, ())
            .await
        {
            if v >= latest {
                return Ok(());
            }
        }
        let lock = format!("frappe-tenant:registry:{}", self.name);
        let got: Option<Option<i64>> = db
            .first(
                "waiting for the registry migration lock",
                "SELECT GET_LOCK(?, 30)",
                (&lock,),
            )
            .await?;
        if got.flatten() != Some(1) {
            return Err(DbError::Query {
                what: "migrating the registry".into(),
                source: mysql_async::Error::Other(
                    "another run held the migration lock for 30 s".into(),
                ),
            });
        }
        let result = self.migrate(db, &versions).await;
        let released = db
            .run(
                "releasing the registry migration lock",
                "DO RELEASE_LOCK(?)",
                (&lock,),
            )
            .await;
        result.and(released)
    }

    /// Migrates the registry if it exists (one an earlier version made: this version's
    /// queries need this version's schema); says whether it exists. Never creates it.
    pub async fn upgrade(&self, db: &mut Db) -> Result<bool, DbError> {
        if !db.database_exists(&self.name).await? {
            return Ok(false);
        }
        self.ensure(db).await?;
        Ok(true)
    }

    pub(super) async fn migrate(&self, db: &mut Db, versions: &str) -> Result<(), DbError> {
        let name = quote_ident(&self.name);
        db.text(
            "creating the registry database",
            format!("CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
        )
        .await?;
        db.text(
            "creating the registry's schema_migrations",
            format!(
                "CREATE TABLE IF NOT EXISTS {name}.schema_migrations \
                 (version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
            ),
        )
        .await?;
        let current: i64 = db
            .first::<Option<i64>, _>("reading the registry version", versions, ())
            .await?
            .flatten()
            .unwrap_or(0);
        for (i, statements) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            db.text(
                &format!("registry migration {version}"),
                format!("USE {name}"),
            )
            .await?;
            for sql in *statements {
                db.text(&format!("registry migration {version}"), sql.to_string())
                    .await?;
            }
            db.run(
                &format!("recording registry migration {version}"),
                &format!(
                    "INSERT INTO {name}.schema_migrations (version, applied_at) VALUES (?, UTC_TIMESTAMP(6))"
                ),
                (version,),
            )
            .await?;
        }
        Ok(())
    }
}
