//! One scan of the server's catalog: every database, which of them hold a Frappe schema,
//! and every DB account. A constant number of queries however many databases there
//! are (three), so `list` and `cleanup --orphans` stay cheap on a server with thousands.

use std::collections::{BTreeMap, BTreeSet};

use super::{Db, DbError};

/// Tables Frappe's framework SQL creates in every site database (v15
/// `frappe/database/mariadb/framework_mariadb.sql`): a database with all four holds a
/// Frappe schema. A database with fewer is someone else's, or a half-imported one, and
/// is never treated as an orphan.
pub const FRAPPE_MARKER_TABLES: [&str; 4] =
    ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"];

#[derive(Debug, Default)]
pub struct Catalog {
    pub databases: BTreeSet<String>,
    /// Databases holding every marker table.
    pub frappe: BTreeSet<String>,
    /// DB account name → hosts.
    pub users: BTreeMap<String, Vec<String>>,
    /// Statements the scan took.
    pub queries: u64,
}

impl Catalog {
    pub fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }
}

impl Db {
    pub async fn scan_catalog(&mut self) -> Result<Catalog, DbError> {
        let before = self.queries;
        let databases: Vec<String> = self
            .rows(
                "listing databases",
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA",
                (),
            )
            .await?;
        // One equality lookup per marker: MariaDB answers those from the data dictionary
        // without opening every table of every database.
        let lookups = FRAPPE_MARKER_TABLES
            .iter()
            .map(|_| "SELECT TABLE_SCHEMA AS s FROM information_schema.TABLES WHERE TABLE_NAME = ?")
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let frappe: Vec<String> = self
            .rows(
                "finding Frappe schemas",
                &format!(
                    "SELECT s FROM ({lookups}) AS markers GROUP BY s HAVING COUNT(*) = {}",
                    FRAPPE_MARKER_TABLES.len()
                ),
                FRAPPE_MARKER_TABLES.to_vec(),
            )
            .await?;
        let accounts: Vec<(String, String)> = self
            .rows("listing DB users", "SELECT User, Host FROM mysql.user", ())
            .await?;
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (user, host) in accounts {
            users.entry(user).or_default().push(host);
        }
        Ok(Catalog {
            databases: databases.into_iter().collect(),
            frappe: frappe.into_iter().collect(),
            users,
            queries: self.queries - before,
        })
    }
}
