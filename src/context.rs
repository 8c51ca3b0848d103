//! What every command needs to reach the outside systems, validated from the connection
//! flags (or from a bench of the inventory, `--bench NAME`) before any side effect: the
//! bench, Frappe's URL, the site domain, MariaDB and the registry.

use crate::basics::secret_ref::SecretRef;
use crate::cli::{ConnectOpts, ExecutorKind, PlanOpts, SetupOpts};
use crate::error::Error;
use crate::outside::bench::{Bench, Executor, RootCredentials};
use crate::outside::mariadb::registry::{InventoryBench, Registry};
use crate::outside::mariadb::{Conns, Db, DbTarget};
use crate::signup::{self, SetupChoices};

#[derive(Debug, Clone)]
pub struct Context {
    pub bench: Bench,
    pub frappe_url: String,
    pub site_domain: String,
    /// The bench's database server: its sites' databases and DB users, and the admin
    /// account bench makes them with. The registry's server unless the bench names
    /// another (`bench add --db-server`).
    pub db: DbTarget,
    /// The registry's server (MARIADB_URL): the registry, every site lock and standby
    /// claim, whichever server a bench keeps its sites on.
    pub control: DbTarget,
    /// The inventory's name of `db` when it is not the registry's server.
    pub db_server: Option<String>,
    pub registry: Registry,
    /// The inventory bench this context reaches (`--bench NAME`), if any.
    pub bench_name: Option<String>,
    /// The bench id the inventory knows that bench by: a bench answering with another id
    /// is not the one that was added (something else now at that address).
    pub bench_id: Option<String>,
    /// REDIS_CACHE_URL: where Frappe's cache is reached from here, when the bench's own
    /// `redis_cache` (an address inside its network) is not.
    pub redis_cache_url: Option<String>,
    /// The bench's web workers: how many sign-ups may talk to it at once (`None`: any).
    pub web_workers: Option<u32>,
}

impl Context {
    pub fn from_opts(c: &ConnectOpts) -> Result<Self, Error> {
        signup::validate_site_domain(&c.site_domain).map_err(|e| Error::invalid(e.to_string()))?;
        let url = url::Url::parse(&c.frappe_url).map_err(|e| {
            Error::config(format!("FRAPPE_URL {:?} is not a URL: {e}", c.frappe_url))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::config(format!(
                "FRAPPE_URL {:?} must be http:// or https://",
                c.frappe_url
            )));
        }
        let db = DbTarget::parse(&c.mariadb_url).map_err(|e| Error::config(e.to_string()))?;
        let registry = Registry::new(&c.registry_db).map_err(|e| Error::config(e.to_string()))?;
        let executor = match c.bench_executor {
            ExecutorKind::Docker => Executor::Docker {
                service: c.docker_service.clone(),
                workdir: c.bench_path.as_ref().map(|p| p.display().to_string()),
            },
            ExecutorKind::Kubectl => Executor::Kubectl {
                target: c.kubectl_target.clone().ok_or_else(|| {
                    Error::config(
                        "BENCH_EXECUTOR=kubectl needs KUBECTL_TARGET (--kubectl-target): the pod, or deploy/<name>, that runs bench",
                    )
                })?,
                namespace: c.kubectl_namespace.clone(),
                container: c.kubectl_container.clone(),
                workdir: c.bench_path.as_ref().map(|p| p.display().to_string()),
            },
            ExecutorKind::Local => Executor::Local {
                bin: c.bench_bin.clone(),
                path: c.bench_path.clone().unwrap_or_else(|| ".".into()),
            },
        };
        Ok(Context {
            bench: Bench {
                executor,
                db_host_flag: c.db_host_flag,
            },
            frappe_url: c.frappe_url.clone(),
            site_domain: c.site_domain.clone(),
            control: db.clone(),
            db,
            db_server: None,
            registry,
            bench_name: None,
            bench_id: None,
            redis_cache_url: c.redis_cache_url.clone(),
            web_workers: c.web_workers,
        })
    }

    /// The context of inventory bench `name`: its stored settings, with MariaDB and the
    /// registry from `base` (the inventory stores no credentials).
    pub async fn from_inventory(
        base: &ConnectOpts,
        name: &str,
    ) -> Result<(Context, InventoryBench), Error> {
        if name == "auto" {
            return Err(Error::config(
                "--bench auto only places a sign-up (provision); name a bench here",
            ));
        }
        let db = DbTarget::parse(&base.mariadb_url).map_err(|e| Error::config(e.to_string()))?;
        let registry =
            Registry::new(&base.registry_db).map_err(|e| Error::config(e.to_string()))?;
        let mut conn = db.connect().await?;
        registry.ensure(&mut conn).await?;
        let b = registry.bench(&mut conn, name).await?.ok_or_else(|| {
            Error::config(format!(
                "no bench {name:?} in the inventory of {} (see `bench list`)",
                base.registry_db
            ))
        })?;
        Ok((Self::for_bench(base, &b)?, b))
    }

    /// The context of an inventory bench already read. Its database server's reference
    /// is resolved here, so a bench whose server cannot be reached is refused before any
    /// side effect.
    pub fn for_bench(base: &ConnectOpts, b: &InventoryBench) -> Result<Context, Error> {
        let opts = opts_for(base, b)?;
        let mut ctx = Context::from_opts(&opts)?;
        ctx.bench_name = Some(b.name.clone());
        ctx.bench_id = Some(b.bench_id.clone());
        if let Some(server) = &b.db_server {
            ctx.db = resolve_server(&server.name, &server.url_from)?;
            ctx.db_server = Some(server.name.clone());
        }
        Ok(ctx)
    }

    /// Connections to the registry's server and the bench's database server (one
    /// connection when they are the same server).
    pub async fn connect(&self) -> Result<Conns, Error> {
        let sites = self.db_server.as_ref().map(|_| &self.db);
        Ok(Conns::open(&self.control, sites).await?)
    }

    /// The MariaDB account bench creates and drops site databases with.
    pub fn root(&self) -> RootCredentials {
        RootCredentials {
            user: self.db.user.clone(),
            password: self.db.password.clone(),
        }
    }

    /// A site named on the command line: a full site name, or a subdomain of SITE_DOMAIN.
    pub fn site_name(&self, arg: &str) -> Result<String, signup::InvalidInput> {
        let arg = arg.trim().to_ascii_lowercase();
        if arg.contains('.') {
            signup::validate_site_domain(&arg).map_err(|e| signup::InvalidInput {
                field: "site",
                reason: e.reason,
            })?;
            Ok(arg)
        } else {
            signup::validate_label(&arg, "site")?;
            Ok(signup::site_name(&arg, &self.site_domain))
        }
    }

    /// The tenant's address in the success JSON: `public` filled in (`--public-url`),
    /// else `site_url`.
    pub fn tenant_url(&self, public: Option<&UrlTemplate>, subdomain: &str, site: &str) -> String {
        match public {
            Some(template) => template.fill(subdomain, site),
            None => self.site_url(site),
        }
    }

    /// `http://<site>:<port of FRAPPE_URL>`, as the seed reported it.
    pub fn site_url(&self, site: &str) -> String {
        match url::Url::parse(&self.frappe_url) {
            Ok(u) => match u.port() {
                Some(p) => format!("{}://{site}:{p}", u.scheme()),
                None => format!("{}://{site}", u.scheme()),
            },
            Err(_) => format!("http://{site}"),
        }
    }
}

impl Context {
    /// The context of a command about one site, and that site's full name (`arg` may be
    /// the subdomain alone); a name that is no site's is that site's `INVALID_INPUT`.
    pub async fn resolve_for_site(
        conn: &ConnectOpts,
        arg: &str,
    ) -> Result<(Context, String), Error> {
        let ctx = Self::resolve(conn).await?;
        let site = ctx
            .site_name(arg)
            .map_err(|e| Error::from(e).for_site(arg))?;
        Ok((ctx, site))
    }

    /// The context of the command line: its flags, or with `--bench NAME` the inventory's
    /// settings of that bench.
    pub async fn resolve(conn: &ConnectOpts) -> Result<Context, Error> {
        match &conn.bench {
            None => Self::from_opts(conn),
            Some(name) => Self::from_inventory(conn, name).await.map(|(ctx, _)| ctx),
        }
    }

    /// The benches of the inventory, by name, with their contexts (`--all`); cordoned ones
    /// only with `cordoned` (a cordoned bench takes no sign-ups, so `pool fill --all` does
    /// not refill it). A bench whose stored settings cannot be used is skipped, said on
    /// stderr.
    pub async fn inventory(
        conn: &ConnectOpts,
        cordoned: bool,
    ) -> Result<Vec<(String, Context)>, Error> {
        let base = Self::from_opts(conn)?;
        let mut db = base.db.connect().await?;
        base.registry.ensure(&mut db).await?;
        let benches = base.registry.benches(&mut db).await?;
        let mut out = vec![];
        for b in benches.iter().filter(|b| cordoned || !b.cordoned) {
            match Self::for_bench(conn, b) {
                Ok(ctx) => out.push((b.name.clone(), ctx)),
                Err(e) => crate::progress::progress(&format!("⚠ bench {} skipped: {e}", b.name)),
            }
        }
        Ok(out)
    }
}

/// The registry, migrated, on its server.
pub async fn registry(conn: &ConnectOpts) -> Result<(Db, Registry), Error> {
    let target = DbTarget::parse(&conn.mariadb_url).map_err(|e| Error::config(e.to_string()))?;
    let registry = Registry::new(&conn.registry_db).map_err(|e| Error::config(e.to_string()))?;
    let mut db = target.connect().await?;
    registry.ensure(&mut db).await?;
    Ok((db, registry))
}

/// A bench name: a plain word, so it is safe in logs, JSON and cron lines; `auto` and
/// `all` mean something else on the command line.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !matches!(name, "auto" | "all")
}

/// The admin URL of database server `name`, from where its reference says; the URL itself
/// is never said (it holds the password).
pub fn resolve_server(name: &str, url_from: &str) -> Result<DbTarget, Error> {
    let at = |e: &dyn std::fmt::Display| {
        Error::config(format!("database server {name} ({url_from}): {e}"))
    };
    let url = SecretRef::parse(url_from)
        .and_then(|r| r.resolve())
        .map_err(|e| at(&e))?;
    DbTarget::parse(url.expose()).map_err(|e| at(&e))
}

/// The connection flags an inventory bench stands for.
fn opts_for(base: &ConnectOpts, b: &InventoryBench) -> Result<ConnectOpts, Error> {
    use clap::ValueEnum;
    let bad = |what: &str, v: &str| {
        Error::config(format!("bench {}: stored {what} {v:?} is unknown", b.name))
    };
    Ok(ConnectOpts {
        bench: None,
        bench_executor: ExecutorKind::from_str(&b.executor, true)
            .map_err(|_| bad("executor", &b.executor))?,
        docker_service: b.docker_service.clone().unwrap_or_else(|| "backend".into()),
        kubectl_target: b.kubectl_target.clone(),
        kubectl_namespace: b.kubectl_namespace.clone(),
        kubectl_container: b.kubectl_container.clone(),
        bench_path: b.bench_path.clone().map(Into::into),
        bench_bin: b.bench_bin.clone().unwrap_or_else(|| "bench".into()).into(),
        db_host_flag: crate::outside::bench::DbHostFlag::from_str(&b.db_host_flag, true)
            .map_err(|_| bad("db-host flag", &b.db_host_flag))?,
        frappe_url: b.frappe_url.clone(),
        site_domain: b.site_domain.clone(),
        mariadb_url: base.mariadb_url.clone(),
        registry_db: base.registry_db.clone(),
        redis_cache_url: base.redis_cache_url.clone(),
        web_workers: b.web_workers,
    })
}

/// Where tenants are reached from outside (`--public-url` / TENANT_PUBLIC_URL), e.g.
/// `https://{subdomain}.example.com`: FRAPPE_URL is how the tool reaches the bench, often
/// an internal address no user can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    /// Checked before anything runs: `{subdomain}` or `{site}` in it, no other
    /// placeholder, and an http(s) URL once filled in.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::config(format!("TENANT_PUBLIC_URL {raw:?} {why}"));
        if !raw.contains("{subdomain}") && !raw.contains("{site}") {
            return Err(bad("names no tenant: put {subdomain} or {site} in it"));
        }
        let sample = UrlTemplate(raw.to_owned()).fill("acme", "acme.example.com");
        if sample.contains(['{', '}']) {
            return Err(bad("has a placeholder other than {subdomain} and {site}"));
        }
        match url::Url::parse(&sample) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(UrlTemplate(raw.to_owned()))
            }
            _ => Err(bad("is not an http:// or https:// URL once filled in")),
        }
    }

    pub fn fill(&self, subdomain: &str, site: &str) -> String {
        self.0
            .replace("{subdomain}", subdomain)
            .replace("{site}", site)
    }
}

/// The SaaS Settings single written for a tenant (and checked by verify).
#[derive(Debug, Clone)]
pub struct SaasPlan {
    pub name: String,
    pub max_users: u32,
    pub max_storage_gb: f64,
}

impl SaasPlan {
    pub fn from_opts(p: &PlanOpts) -> Self {
        SaasPlan {
            name: p.plan_name.clone(),
            max_users: p.max_users,
            max_storage_gb: p.max_storage,
        }
    }
}

/// The setup wizard's defaults from the flags (a sign-up's own values win).
pub fn setup_defaults(o: &SetupOpts) -> SetupChoices {
    let given = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    SetupChoices {
        language: given(&o.language),
        country: given(&o.country),
        timezone: given(&o.timezone),
        currency: given(&o.currency),
    }
}

/// INSTALL_APPS as a list: trimmed, empty entries dropped.
pub fn install_apps(raw: &[String]) -> Vec<String> {
    raw.iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn ctx(args: &[&str]) -> Context {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            c: ConnectOpts,
        }
        let mut argv = vec!["t"];
        argv.extend(args);
        Context::from_opts(&T::parse_from(argv).c).unwrap()
    }

    #[test]
    fn url_keeps_the_frappe_port() {
        let c = ctx(&["--frappe-url", "http://localhost:8080"]);
        assert_eq!(c.site_url("a.localhost"), "http://a.localhost:8080");
        let c = ctx(&["--frappe-url", "https://erp.internal/"]);
        assert_eq!(c.site_url("a.example.com"), "https://a.example.com");
    }

    #[test]
    fn a_public_url_template_names_the_tenant_and_is_an_http_url() {
        let c = ctx(&["--frappe-url", "http://nx1.localhost:8000"]);
        let t = UrlTemplate::parse("https://{subdomain}.example.com").unwrap();
        assert_eq!(
            c.tenant_url(Some(&t), "acme", "acme.localhost"),
            "https://acme.example.com"
        );
        let t = UrlTemplate::parse("https://{site}/app").unwrap();
        assert_eq!(t.fill("acme", "acme.erp.io"), "https://acme.erp.io/app");
        assert_eq!(
            c.tenant_url(None, "acme", "acme.localhost"),
            "http://acme.localhost:8000"
        );
        for bad in [
            "https://example.com",
            "https://{tenant}.example.com",
            "ftp://{subdomain}.example.com",
            "{subdomain}",
            "https://{subdomain",
        ] {
            assert!(UrlTemplate::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn sites_are_named_by_subdomain_or_in_full() {
        let c = ctx(&["--site-domain", "example.com"]);
        assert_eq!(c.site_name("Acme").unwrap(), "acme.example.com");
        assert_eq!(c.site_name("acme.example.com").unwrap(), "acme.example.com");
        assert!(c.site_name("../etc").is_err());
        assert!(c.site_name("a_b").is_err());
    }
}
