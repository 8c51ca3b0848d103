//! MariaDB, reached directly with the root credentials (mysql_async; the only module that
//! knows it): per-site locks, existence checks before anything is created, the undo bench
//! cannot do, and, in submodules, the catalog scan behind `list` and `cleanup --orphans`
//! (`catalog`), the tenant registry (`registry`) and a site database's tenant state for
//! `verify` (`tenant`), and what tenants use, for many at once (`usage`).

pub mod catalog;
pub mod registry;
pub mod tenant;
pub mod usage;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Params};

use crate::basics::secret::Secret;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("MariaDB: {what}: a row with that key exists already")]
    Duplicate { what: String },
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
    #[error("registry database name {0:?} must be 1 to 64 letters, digits or '_'")]
    BadRegistryName(String),
    #[error("MariaDB: {what}: the row was no longer as this step needs it; nothing changed")]
    Unchanged { what: String },
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
        let _waiting = crate::basics::waits::waiting();
        let conn = Conn::new(self.opts.clone())
            .await
            .map_err(|source| DbError::Connect { host, source })?;
        Ok(Db { conn, queries: 0 })
    }
}

/// The registry's server and a bench's database server, reached as one connection when
/// the bench keeps its sites on the registry's server. `control` takes the registry, site
/// locks and claims; `sites` the site databases, DB users and the catalog.
pub struct Conns {
    control: Db,
    sites: Option<Db>,
}

impl Conns {
    pub async fn open(control: &DbTarget, sites: Option<&DbTarget>) -> Result<Self, DbError> {
        let control = control.connect().await?;
        let sites = match sites {
            Some(t) => Some(t.connect().await?),
            None => None,
        };
        Ok(Conns { control, sites })
    }

    /// Reaches the bench's database server too, when it is not the registry's (`sites`
    /// is `None` then): for a run whose bench is chosen after its lock was taken.
    pub async fn reach(&mut self, sites: Option<&DbTarget>) -> Result<(), DbError> {
        self.sites = match sites {
            Some(t) => Some(t.connect().await?),
            None => None,
        };
        Ok(())
    }

    pub fn control(&mut self) -> &mut Db {
        &mut self.control
    }

    /// Whether the bench's database server is another than the registry's.
    pub fn separate(&self) -> bool {
        self.sites.is_some()
    }

    pub fn sites(&mut self) -> &mut Db {
        self.sites.as_mut().unwrap_or(&mut self.control)
    }
}

/// One connection. Every statement goes through the helpers below, which count them:
/// `cleanup --orphans` reports how many catalog queries its scan took.
pub struct Db {
    conn: Conn,
    queries: u64,
}

fn q(what: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> DbError {
    let what = what.into();
    move |source| match &source {
        // ER_DUP_ENTRY: a unique key said no (the registry's one live row per site).
        mysql_async::Error::Server(e) if e.code == 1062 => DbError::Duplicate { what },
        _ => DbError::Query { what, source },
    }
}

/// A database (and DB user) name for a site about to be made: `ft_` and 16 random hex
/// digits, drawn for this one attempt. It is the site's identity: the registry row records
/// it before anything is made, bench writes it into the site's `site_config.json`, and
/// every removal acts on a folder or database only when they carry the name of the row it
/// is removing. Two attempts at one site never share it, so a leftover of one is never
/// taken for another's. (Before this, the name was derived from the site name and every
/// attempt at a site had the same: see `registry` for how such rows are handled.)
pub fn new_db_name() -> String {
    let hex: String = (0..8)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    format!("ft_{hex}")
}

/// MariaDB's named locks are at most 64 characters: the lock of a site is named by 16 hex
/// digits of SHA-256 of its name. Every version of the tool names it so, so runs of
/// different versions exclude each other.
fn lock_name(site: &str) -> String {
    let digest = Sha256::digest(site.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("frappe-tenant:ft_{hex}")
}

/// Databases MariaDB itself owns: never scanned as tenants, never dropped.
pub const SYSTEM_SCHEMAS: &[&str] = &["information_schema", "mysql", "performance_schema", "sys"];

impl Db {
    /// Statements run on this connection so far.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    async fn first<T, P>(&mut self, what: &str, sql: &str, params: P) -> Result<Option<T>, DbError>
    where
        T: FromRow + Send + 'static,
        P: Into<Params> + Send,
    {
        self.queries += 1;
        let _waiting = crate::basics::waits::waiting();
        self.conn.exec_first(sql, params).await.map_err(q(what))
    }

    async fn rows<T, P>(&mut self, what: &str, sql: &str, params: P) -> Result<Vec<T>, DbError>
    where
        T: FromRow + Send + 'static,
        P: Into<Params> + Send,
    {
        self.queries += 1;
        let _waiting = crate::basics::waits::waiting();
        self.conn.exec(sql, params).await.map_err(q(what))
    }

    async fn run<P>(&mut self, what: &str, sql: &str, params: P) -> Result<(), DbError>
    where
        P: Into<Params> + Send,
    {
        self.queries += 1;
        let _waiting = crate::basics::waits::waiting();
        self.conn.exec_drop(sql, params).await.map_err(q(what))
    }

    /// `run`, telling how many rows the statement changed.
    async fn run_counted<P>(&mut self, what: &str, sql: &str, params: P) -> Result<u64, DbError>
    where
        P: Into<Params> + Send,
    {
        self.run(what, sql, params).await?;
        Ok(self.conn.affected_rows())
    }

    /// A statement that cannot take bound parameters (DDL, account names).
    async fn text(&mut self, what: &str, sql: String) -> Result<(), DbError> {
        self.queries += 1;
        let _waiting = crate::basics::waits::waiting();
        self.conn.query_drop(sql).await.map_err(q(what))
    }

    /// Takes the site's lock without waiting. It is held by this connection until
    /// `unlock_site` or the end of the run, however it ends (even SIGKILL closes the
    /// socket), so two runs touching one site, on any number of hosts, cannot overlap.
    /// Provision, pool claims and every cleanup take it.
    pub async fn try_lock_site(&mut self, site: &str) -> Result<bool, DbError> {
        let got: Option<Option<i64>> = self
            .first(
                &format!("taking the lock of {site}"),
                "SELECT GET_LOCK(?, 0)",
                (lock_name(site),),
            )
            .await?;
        Ok(got.flatten() == Some(1))
    }

    /// Whether no run holds the site's lock, without taking it (`provision --dry-run`).
    pub async fn site_lock_is_free(&mut self, site: &str) -> Result<bool, DbError> {
        let free: Option<Option<i64>> = self
            .first(
                &format!("looking at the lock of {site}"),
                "SELECT IS_FREE_LOCK(?)",
                (lock_name(site),),
            )
            .await?;
        Ok(free.flatten() == Some(1))
    }

    /// Whether this connection still holds the site's lock. A lost connection (a network
    /// blip, a server restart, `KILL CONNECTION`, `wait_timeout`) frees the lock silently:
    /// every destructive or renaming step asks first, and a failed question is a no.
    pub async fn holds_site_lock(&mut self, site: &str) -> bool {
        let mine: Result<Option<Option<i64>>, _> = self
            .first(
                &format!("checking the lock of {site}"),
                "SELECT IS_USED_LOCK(?) = CONNECTION_ID()",
                (lock_name(site),),
            )
            .await;
        matches!(mine, Ok(Some(Some(1))))
    }

    pub async fn unlock_site(&mut self, site: &str) -> Result<(), DbError> {
        self.run(
            &format!("releasing the lock of {site}"),
            "DO RELEASE_LOCK(?)",
            (lock_name(site),),
        )
        .await
    }

    /// Which server this connection reached, as `host:port:datadir`: two names for one
    /// server are told apart from two servers by it.
    pub async fn server_identity(&mut self) -> Result<String, DbError> {
        let r: Option<(String, u32, String)> = self
            .first(
                "reading the server's identity",
                "SELECT @@hostname, @@port, @@datadir",
                (),
            )
            .await?;
        Ok(r.map(|(h, p, d)| format!("{h}:{p}:{d}"))
            .unwrap_or_default())
    }

    pub async fn database_exists(&mut self, db_name: &str) -> Result<bool, DbError> {
        let n: Option<i64> = self
            .first(
                &format!("looking up database {db_name}"),
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (db_name,),
            )
            .await?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// Hosts for which a DB user of that name exists.
    pub async fn user_hosts(&mut self, user: &str) -> Result<Vec<String>, DbError> {
        self.rows(
            &format!("looking up DB user {user}"),
            "SELECT Host FROM mysql.user WHERE User = ?",
            (user,),
        )
        .await
    }

    pub async fn drop_database(&mut self, db_name: &str) -> Result<(), DbError> {
        if SYSTEM_SCHEMAS.contains(&db_name.to_ascii_lowercase().as_str()) {
            // A last guard under every caller: no path of this tool drops these.
            return Err(DbError::Query {
                what: format!("dropping database {db_name}"),
                source: mysql_async::Error::Other("refusing to drop a system schema".into()),
            });
        }
        self.text(
            &format!("dropping database {db_name}"),
            format!("DROP DATABASE IF EXISTS {}", quote_ident(db_name)),
        )
        .await
    }

    pub async fn drop_user(&mut self, user: &str, host: &str) -> Result<(), DbError> {
        // Account names cannot be bound as parameters in DROP USER.
        self.text(
            &format!("dropping DB user {user}@{host}"),
            format!(
                "DROP USER IF EXISTS {}@{}",
                quote_literal(user),
                quote_literal(host)
            ),
        )
        .await
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
        assert!(lock_name("a-very-long-subdomain-name-of-63-characters.example.com").len() <= 64);
    }

    #[test]
    fn every_attempt_draws_its_own_database_name() {
        let (a, b) = (new_db_name(), new_db_name());
        assert_ne!(a, b);
        for n in [a, b] {
            assert_eq!(n.len(), 19);
            assert!(n.starts_with("ft_"));
            assert!(n[3..]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn the_lock_name_is_what_every_version_used() {
        // sha256("acme.localhost")[..8] as hex: earlier versions named the lock so too.
        assert_eq!(
            lock_name("acme.localhost"),
            "frappe-tenant:ft_32cbb78500f61cb3"
        );
    }
}
