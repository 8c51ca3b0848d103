//! Bench, the only outside program the tool starts, and what its commands mean here:
//! `new-site`, `install-app`, `backup`, `drop-site`, and the facts read before choosing
//! how to make a site. Secrets go to the child's stdin as answers to Frappe's getpass
//! prompts, never into argv. How a command reaches bench (docker compose, kubectl, a
//! local directory; timeouts, process groups, redaction, stopping what a run started in a
//! container) is `executor`'s; the bench's files are `files`' (locally through
//! `local_fs`, which follows no link the bench's owner could plant). Imports only `basics`.

mod executor;
mod files;
mod local_fs;
mod setup_lists;

pub use executor::{run_tag, Executor};
pub use files::{truthy, FileDigest, SiteConfig, SiteDir};
pub use setup_lists::{Country, Language, SetupLists};

use serde::Deserialize;
use tokio::time::Instant;

use crate::basics::secret::Secret;

/// How `new-site` is told to create the site's DB user for host `%`, so every container
/// can reach it: `--no-mariadb-socket` (v15 up to 15.47) or
/// `--mariadb-user-host-login-scope=%` (15.47.2 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbHostFlag {
    NoMariadbSocket,
    LoginScope,
}

/// The MariaDB account bench uses to create and drop site databases.
#[derive(Debug, Clone)]
pub struct RootCredentials {
    pub user: String,
    pub password: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`bench {action}` failed ({status}): {output}")]
    Failed {
        action: String,
        status: String,
        output: String,
    },
    #[error("`bench {action}` did not finish before the deadline and was killed")]
    TimedOut { action: String },
    /// A file or folder of the bench could not be read, written, moved or removed.
    #[error("{what}: {detail}")]
    File { what: String, detail: String },
}

/// The keys of `common_site_config.json` that change which prompts bench shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CommonConfig {
    pub root_password: Option<String>,
    pub admin_password: Option<String>,
    /// Frappe's cache (`redis://host:port`), where a one-time login key is kept.
    pub redis_cache: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Bench {
    pub executor: Executor,
    pub db_host_flag: DbHostFlag,
}

impl Bench {
    /// `bench new-site`. Answers Frappe's prompts in the order it asks them: the MariaDB
    /// root password (unless common_site_config.json has one), then, for a fresh site,
    /// the Administrator password twice (unless common_site_config.json has one).
    /// With `source_sql` (the template) Frappe finds frappe already installed in the dump
    /// and asks no Administrator password: the site keeps the dump's (none; see
    /// `Db::set_administrator_password`).
    #[allow(clippy::too_many_arguments)]
    pub async fn new_site(
        &self,
        site: &str,
        db_name: &str,
        root: &RootCredentials,
        admin_password: &Secret,
        common: &CommonConfig,
        source_sql: Option<&str>,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let mut args = vec![
            "new-site".into(),
            site.into(),
            "--db-name".into(),
            db_name.into(),
        ];
        args.extend(["--db-root-username".into(), root.user.clone()]);
        args.push(match self.db_host_flag {
            DbHostFlag::NoMariadbSocket => "--no-mariadb-socket".into(),
            DbHostFlag::LoginScope => "--mariadb-user-host-login-scope=%".into(),
        });
        if let Some(sql) = source_sql {
            args.extend(["--source-sql".into(), sql.into()]);
        }
        let mut answers = Vec::new();
        if common.root_password.is_none() {
            answers.push(&root.password);
        }
        if common.admin_password.is_none() && source_sql.is_none() {
            answers.extend([admin_password, admin_password]);
        }
        self.run(
            "new-site",
            args,
            &answers,
            &[&root.password, admin_password],
            deadline,
        )
        .await?;
        Ok(())
    }

    /// `bench --site <site> backup --backup-path-db <path>`: a gzipped mariadb-dump of the
    /// site's database (no CREATE DATABASE, no USE: it restores into any database).
    /// `path` is relative to `sites/`, bench's working directory.
    pub async fn backup_db(
        &self,
        site: &str,
        path: &str,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let args = vec![
            "--site".into(),
            site.into(),
            "backup".into(),
            "--backup-path-db".into(),
            path.into(),
        ];
        self.run("backup", args, &[], &[], deadline).await?;
        Ok(())
    }

    /// `bench --site <site> set-config …`: sets `key` of the site's `site_config.json` to
    /// `value`, or removes the key (`None`), through Frappe's own `update_site_config`
    /// (its file lock, its format). A value goes as a Python literal with `-p`
    /// (`ast.literal_eval`), so it lands with its JSON type; a removal is the plain value
    /// `None`, which `update_site_config` takes for "delete the key".
    pub async fn set_config(
        &self,
        site: &str,
        key: &str,
        value: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let mut args = vec!["--site".into(), site.into(), "set-config".into()];
        match value {
            Some(v) => args.extend(["-p".into(), key.into(), python_literal(v)]),
            None => args.extend([key.into(), "None".into()]),
        }
        self.run("set-config", args, &[], &[], deadline).await?;
        Ok(())
    }

    /// `bench --site <site> backup [--with-files]`: Frappe's own backup into the site's
    /// `private/backups` (the database gzipped, the site's config, with files their two
    /// tars), named by the second it started.
    pub async fn backup(
        &self,
        site: &str,
        with_files: bool,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let mut args = vec!["--site".into(), site.into(), "backup".into()];
        if with_files {
            args.push("--with-files".into());
        }
        self.run("backup", args, &[], &[], deadline).await?;
        Ok(())
    }

    /// `bench --site <site> install-app <app>`.
    pub async fn install_app(
        &self,
        site: &str,
        app: &str,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let args = vec![
            "--site".into(),
            site.into(),
            "install-app".into(),
            app.into(),
        ];
        self.run("install-app", args, &[], &[], deadline).await?;
        Ok(())
    }

    /// `bench drop-site <site> --force --no-backup`; the folder moves to archived/sites.
    pub async fn drop_site(
        &self,
        site: &str,
        root: &RootCredentials,
        common: &CommonConfig,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let args = vec![
            "drop-site".into(),
            site.into(),
            "--force".into(),
            "--no-backup".into(),
            "--db-root-username".into(),
            root.user.clone(),
        ];
        let answers = if common.root_password.is_none() {
            vec![&root.password]
        } else {
            vec![]
        };
        self.run("drop-site", args, &answers, &[&root.password], deadline)
            .await?;
        Ok(())
    }

    /// common_site_config.json, apps.txt, the bench id and the template's description.
    pub async fn facts(&self, deadline: Instant) -> Result<BenchFacts, BenchError> {
        let paths = [
            "sites/common_site_config.json",
            "sites/apps.txt",
            BENCH_ID_FILE,
            TEMPLATE_META,
        ]
        .map(String::from);
        let mut texts = self.read_files(&paths, deadline).await?.into_iter();
        let mut next = || texts.next().flatten();
        let common = match next() {
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| file_error("parsing sites/common_site_config.json", e.to_string()))?,
            None => CommonConfig::default(),
        };
        Ok(BenchFacts {
            common,
            apps: parse_apps_txt(&next().unwrap_or_default()),
            bench_id: next()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            template_json: next(),
        })
    }

    /// Each app's `__version__` from `apps/<app>/<app>/__init__.py`, read the way bench
    /// itself reads it (no Python start); `None` when the app or the line is missing.
    pub async fn app_versions(
        &self,
        apps: &[String],
        deadline: Instant,
    ) -> Result<Vec<Option<String>>, BenchError> {
        let paths: Vec<String> = apps
            .iter()
            .map(|a| format!("apps/{a}/{a}/__init__.py"))
            .collect();
        Ok(self
            .read_files(&paths, deadline)
            .await?
            .into_iter()
            .map(|text| text.as_deref().and_then(parse_version))
            .collect())
    }

    /// This bench's identity in the registry (`sites/.frappe-tenant/bench-id`), created on
    /// first use: benches sharing a MariaDB server never see each other's registry rows.
    pub async fn bench_id(
        &self,
        create: bool,
        deadline: Instant,
    ) -> Result<Option<String>, BenchError> {
        if let Some(id) = self.read_file(BENCH_ID_FILE, deadline).await? {
            let id = id.trim().to_string();
            if !id.is_empty() {
                return Ok(Some(id));
            }
        }
        if !create {
            return Ok(None);
        }
        let fresh = Secret::random(16).expose().to_ascii_lowercase();
        // No replace: when two first runs race, both end up with the winner's id.
        self.write_private_file(BENCH_ID_FILE, &Secret::new(fresh), false, deadline)
            .await?;
        Ok(self
            .read_file(BENCH_ID_FILE, deadline)
            .await?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }
}

/// Where the tool keeps its own files in the bench: hidden under `sites/`, so every
/// container sharing the sites volume sees them and Frappe never takes them for a site.
pub const TOOL_DIR: &str = "sites/.frappe-tenant";

const BENCH_ID_FILE: &str = "sites/.frappe-tenant/bench-id";

/// The template's description (see `template`).
pub const TEMPLATE_META: &str = "sites/.frappe-tenant/template.json";

/// What the tool reads of a bench before it chooses how to make a site: one batched read
/// (one exec in a container).
#[derive(Debug, Clone, Default)]
pub struct BenchFacts {
    pub common: CommonConfig,
    /// `sites/apps.txt`: the apps this bench has.
    pub apps: Vec<String>,
    pub bench_id: Option<String>,
    pub template_json: Option<String>,
}

/// `__version__ = "15.14.1"` → `15.14.1`, as bench's `get_version_from_string` reads it.
fn parse_version(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("__version__")?;
        let rest = rest.trim_start().strip_prefix('=')?.trim();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..];
        let end = value.find(quote)?;
        Some(value[..end].to_string())
    })
}

/// A JSON value as the Python literal `ast.literal_eval` reads back as the same value
/// (JSON's strings and numbers already are; true, false and null are spelled otherwise).
fn python_literal(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(_) | Value::String(_) => v.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn parse_apps_txt(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn file_error(what: impl Into<String>, detail: String) -> BenchError {
    BenchError::File {
        what: what.into(),
        detail,
    }
}
