//! What tenants use, read for many site databases at once, so `usage --all` costs the same
//! number of statements for 1,000 tenants as for one: their sizes and the columns they
//! have from MariaDB's catalog (two `information_schema` queries), then their users and
//! plan from their own tables in one `UNION ALL` statement.

use std::collections::{BTreeMap, BTreeSet};

use super::{quote_ident, Db, DbError};

/// One site database's usage and plan, as stored.
#[derive(Debug, Clone, Default)]
pub struct DbUsage {
    /// Bytes of its tables and indexes (`DATA_LENGTH + INDEX_LENGTH`).
    pub database_bytes: u64,
    /// Enabled System Users, Administrator and Guest not counted.
    pub users: u64,
    /// The latest `last_login` of those users as Frappe writes it (sessions.py:
    /// `frappe.utils.now()`, the bench's local time, in a Read Only field, so text).
    pub last_login: Option<String>,
    /// `SaaS Settings` as stored: plan_name, max_users, max_storage (absent: `None`).
    pub plan_name: Option<String>,
    pub max_users: Option<String>,
    pub max_storage: Option<String>,
}

impl Db {
    /// Usage of each of `dbs` that holds Frappe's `tabUser` and `tabSingles` (others are
    /// left out of the answer): three statements whatever their number.
    pub async fn usage(&mut self, dbs: &[String]) -> Result<BTreeMap<String, DbUsage>, DbError> {
        let mut out = BTreeMap::new();
        if dbs.is_empty() {
            return Ok(out);
        }
        let marks = vec!["?"; dbs.len()].join(",");
        let params =
            || -> Vec<mysql_async::Value> { dbs.iter().map(|d| d.as_str().into()).collect() };
        let sizes: Vec<(String, Option<u64>)> = self
            .rows(
                "reading the databases' sizes",
                &format!(
                    "SELECT TABLE_SCHEMA, CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS UNSIGNED) \
                     FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({marks}) GROUP BY TABLE_SCHEMA"
                ),
                params(),
            )
            .await?;
        let columns: Vec<(String, String, String)> = self
            .rows(
                "reading the tenants' tables",
                &format!(
                    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA IN ({marks}) AND TABLE_NAME IN ('tabUser', 'tabSingles') \
                     AND COLUMN_NAME IN ('name', 'last_login', 'field')"
                ),
                params(),
            )
            .await?;
        let has = |db: &str, table: &str, column: &str| {
            columns
                .iter()
                .any(|(d, t, c)| d == db && t == table && c == column)
        };
        let frappe: Vec<&String> = dbs
            .iter()
            .filter(|d| has(d, "tabUser", "name") && has(d, "tabSingles", "field"))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for (db, bytes) in sizes {
            if frappe.contains(&&db) {
                out.entry(db)
                    .or_insert_with(DbUsage::default)
                    .database_bytes = bytes.unwrap_or(0);
            }
        }
        if frappe.is_empty() {
            return Ok(out);
        }
        let selects: Vec<String> = frappe
            .iter()
            .map(|db| tenant_select(db, has(db, "tabUser", "last_login")))
            .collect();
        self.users_and_plans(&selects, &frappe, &mut out).await?;
        Ok(out)
    }

    /// One statement for all of them: each tenant's enabled people, last login and plan.
    async fn users_and_plans(
        &mut self,
        selects: &[String],
        frappe: &[&String],
        out: &mut BTreeMap<String, DbUsage>,
    ) -> Result<(), DbError> {
        type Line = (
            String,
            u64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let lines: Vec<Line> = self
            .rows(
                "reading the tenants' users and plans",
                &selects.join(" UNION ALL "),
                frappe
                    .iter()
                    .map(|d| mysql_async::Value::from(d.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await?;
        for (db, users, last_login, plan_name, max_users, max_storage) in lines {
            let u = out.entry(db).or_default();
            u.users = users;
            u.last_login = last_login;
            u.plan_name = plan_name;
            u.max_users = max_users;
            u.max_storage = max_storage;
        }
        Ok(())
    }
}

/// The part of the statement about one tenant's database `db` (its name a bound parameter,
/// its identifier quoted): people are enabled System Users other than Administrator and
/// Guest; `last_login` only where the table has it.
fn tenant_select(db: &str, with_last_login: bool) -> String {
    let d = quote_ident(db);
    let people =
        "enabled = 1 AND user_type = 'System User' AND name NOT IN ('Administrator', 'Guest')";
    let last = match with_last_login {
        true => format!("(SELECT MAX(last_login) FROM {d}.tabUser WHERE {people})"),
        false => "NULL".into(),
    };
    let single = |field: &str| {
        format!(
            "(SELECT value FROM {d}.tabSingles WHERE doctype = 'SaaS Settings' AND field = '{field}' LIMIT 1)"
        )
    };
    format!(
        "SELECT ? AS db, (SELECT COUNT(*) FROM {d}.tabUser WHERE {people}) AS users, \
         {last} AS last_login, {} AS plan_name, {} AS max_users, {} AS max_storage",
        single("plan_name"),
        single("max_users"),
        single("max_storage"),
    )
}
