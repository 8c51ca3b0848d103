//! The database servers of the inventory (`db-server add`): where a bench that keeps its
//! sites apart from the registry's server finds that server. A row holds the reference to
//! the admin URL (`env:NAME`, `file:/path`), never the URL, and an optional capacity: the
//! most tenants placement puts on the server across all its benches.

use std::collections::BTreeMap;

use super::Registry;
use crate::outside::mariadb::{quote_ident, Db, DbError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbServer {
    pub name: String,
    /// `env:NAME` or `file:/path`: resolved by each run, never stored resolved.
    pub url_from: String,
    pub capacity: Option<u32>,
    pub created_at: String,
}

/// What `remove_server` found.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerRemoved {
    Removed,
    NotFound,
    /// Refused: these benches keep their sites on it.
    InUse(Vec<String>),
}

impl Registry {
    fn servers_table(&self) -> String {
        format!("{}.db_servers", quote_ident(self.name()))
    }

    /// Adds a database server; fails when the name is taken.
    pub async fn add_server(&self, db: &mut Db, s: &DbServer) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {} (name, url_from, capacity, created_at, updated_at) \
             VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            self.servers_table()
        );
        db.run(
            &format!("adding database server {}", s.name),
            &sql,
            (&s.name, &s.url_from, s.capacity),
        )
        .await
    }

    /// Every database server of the inventory, by name.
    pub async fn servers(&self, db: &mut Db) -> Result<Vec<DbServer>, DbError> {
        let sql = format!(
            "SELECT name, url_from, capacity, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ') \
             FROM {} ORDER BY name",
            self.servers_table()
        );
        let rows: Vec<(String, String, Option<u32>, String)> = db
            .rows("reading the database servers of the inventory", &sql, ())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(name, url_from, capacity, created_at)| DbServer {
                name,
                url_from,
                capacity,
                created_at,
            })
            .collect())
    }

    pub async fn server(&self, db: &mut Db, name: &str) -> Result<Option<DbServer>, DbError> {
        Ok(self.servers(db).await?.into_iter().find(|s| s.name == name))
    }

    /// Removes a database server unless a bench keeps its sites on it (one statement: a
    /// bench added meanwhile wins).
    pub async fn remove_server(&self, db: &mut Db, name: &str) -> Result<ServerRemoved, DbError> {
        if self.server(db, name).await?.is_none() {
            return Ok(ServerRemoved::NotFound);
        }
        let benches = format!("{}.benches", quote_ident(self.name()));
        let sql = format!(
            "DELETE FROM {} WHERE name = ? AND NOT EXISTS \
             (SELECT 1 FROM {benches} WHERE db_server = ?)",
            self.servers_table()
        );
        db.run(
            &format!("removing database server {name}"),
            &sql,
            (name, name),
        )
        .await?;
        if db.conn.affected_rows() == 1 {
            return Ok(ServerRemoved::Removed);
        }
        let users: Vec<String> = db
            .rows(
                "reading the benches of a database server",
                &format!("SELECT name FROM {benches} WHERE db_server = ? ORDER BY name"),
                (name,),
            )
            .await?;
        Ok(ServerRemoved::InUse(users))
    }

    /// Live tenants (provisioning, active, claimed, suspended) per database server, by
    /// the server's name; the registry's own server is `None`.
    pub async fn server_loads(
        &self,
        db: &mut Db,
    ) -> Result<BTreeMap<Option<String>, u64>, DbError> {
        let sql = format!(
            "SELECT b.db_server, CAST(COUNT(*) AS UNSIGNED) FROM {t} t \
             JOIN {b} b ON b.bench_id = t.bench_id \
             WHERE t.status IN ('provisioning','active','claimed','suspended') \
             GROUP BY b.db_server",
            t = self.table(),
            b = format_args!("{}.benches", quote_ident(self.name())),
        );
        let rows: Vec<(Option<String>, u64)> = db
            .rows("counting tenants per database server", &sql, ())
            .await?;
        Ok(rows.into_iter().collect())
    }
}
