//! The registry's schema: created on first use and migrated, version by version, under a
//! server-wide lock so concurrent first runs migrate exactly once.

use super::Registry;
use crate::outside::mariadb::{quote_ident, Db, DbError};

/// Schema versions, applied in order once each; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the tenants.
    "CREATE TABLE IF NOT EXISTS tenants (
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
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    // 2: the bench inventory (`bench add`). Executor settings only: the MariaDB admin
    // credentials stay in MARIADB_URL, so the inventory holds no secret.
    "CREATE TABLE IF NOT EXISTS benches (
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
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
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
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            db.text(
                &format!("registry migration {version}"),
                format!("USE {name}"),
            )
            .await?;
            db.text(&format!("registry migration {version}"), sql.to_string())
                .await?;
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
