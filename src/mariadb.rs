//! MariaDB, reached directly with the root credentials: the per-site provisioning lock,
//! existence checks before anything is created, and the undo bench cannot do.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("MARIADB_URL is not a valid mysql:// URL: {0}")]
    BadUrl(String),
    #[error("connecting to MariaDB at {host}: {source}")]
    Connect {
        host: String,
        source: mysql_async::Error,
    },
    #[error("MariaDB: {what}: {source}")]
    Query {
        what: String,
        source: mysql_async::Error,
    },
}

/// Parsed `MARIADB_URL`; its credentials are the root credentials handed to bench.
#[derive(Clone)]
pub struct DbTarget {
    opts: Opts,
    pub user: String,
    pub password: Secret,
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Opts` would print the password; show only what is safe.
        f.debug_struct("DbTarget")
            .field("host", &self.opts.ip_or_hostname())
            .field("port", &self.opts.tcp_port())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<Self, DbError> {
        // Never echo the URL: it may carry the root password.
        let opts = Opts::from_url(url)
            .map_err(|_| DbError::BadUrl("check scheme, host and port".into()))?;
        let user = opts.user().unwrap_or("root").to_owned();
        let password = Secret::new(opts.pass().unwrap_or_default());
        Ok(Self {
            opts,
            user,
            password,
        })
    }

    pub async fn connect(&self) -> Result<Db, DbError> {
        let host = format!("{}:{}", self.opts.ip_or_hostname(), self.opts.tcp_port());
        let conn = Conn::new(self.opts.clone())
            .await
            .map_err(|source| DbError::Connect { host, source })?;
        Ok(Db { conn })
    }
}

pub struct Db {
    conn: Conn,
}

fn q(what: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> DbError {
    let what = what.into();
    move |source| DbError::Query { what, source }
}

/// MariaDB's named locks are at most 64 characters; the db name is unique per site.
fn lock_name(db_name: &str) -> String {
    format!("frappe-tenant:{db_name}")
}

impl Db {
    /// Takes the site's provisioning lock without waiting. It is held by this connection
    /// and released when the run ends, however it ends (even SIGKILL closes the socket),
    /// so two provisions of one site on any number of hosts cannot both proceed.
    pub async fn try_lock_site(&mut self, db_name: &str) -> Result<bool, DbError> {
        let got: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, 0)", (lock_name(db_name),))
            .await
            .map_err(q("taking the site lock"))?;
        Ok(got.flatten() == Some(1))
    }

    pub async fn database_exists(&mut self, db_name: &str) -> Result<bool, DbError> {
        let n: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (db_name,),
            )
            .await
            .map_err(q(format!("looking up database {db_name}")))?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// Hosts for which a DB user of that name exists.
    pub async fn user_hosts(&mut self, user: &str) -> Result<Vec<String>, DbError> {
        self.conn
            .exec("SELECT Host FROM mysql.user WHERE User = ?", (user,))
            .await
            .map_err(q(format!("looking up DB user {user}")))
    }

    pub async fn drop_database(&mut self, db_name: &str) -> Result<(), DbError> {
        let sql = format!("DROP DATABASE IF EXISTS {}", quote_ident(db_name));
        self.conn
            .query_drop(sql)
            .await
            .map_err(q(format!("dropping database {db_name}")))
    }

    pub async fn drop_user(&mut self, user: &str, host: &str) -> Result<(), DbError> {
        // Account names cannot be bound as parameters in DROP USER.
        let sql = format!(
            "DROP USER IF EXISTS {}@{}",
            quote_literal(user),
            quote_literal(host)
        );
        self.conn
            .query_drop(sql)
            .await
            .map_err(q(format!("dropping DB user {user}@{host}")))
    }
}

/// Backtick-quotes an identifier. Our names are `ft_` + hex, but never trust that here.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_become_root_credentials() {
        let t = DbTarget::parse("mysql://root:s3cret@127.0.0.1:3306").unwrap();
        assert_eq!(t.user, "root");
        assert_eq!(t.password.expose(), "s3cret");
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("ft_ab"), "`ft_ab`");
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_literal("o'k\\"), "'o''k\\\\'");
        assert!(lock_name("ft_0123456789abcdef").len() <= 64);
    }
}
