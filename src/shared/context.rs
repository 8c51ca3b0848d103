//! What every command needs to reach the outside systems, validated from the connection
//! flags before any side effect: the bench, Frappe's URL, the site domain, MariaDB and
//! the registry.

use anyhow::Context as _;

use crate::outside::bench::{Bench, Executor, RootCredentials};
use crate::outside::mariadb::registry::Registry;
use crate::outside::mariadb::DbTarget;
use crate::shared::cli::{ConnectOpts, ExecutorKind, PlanOpts};
use crate::shared::input;
use crate::shared::report::{untouched, Code};

#[derive(Debug, Clone)]
pub struct Context {
    pub bench: Bench,
    pub frappe_url: String,
    pub site_domain: String,
    pub db: DbTarget,
    pub registry: Registry,
}

/// A failure found before anything was touched, with the code it reports.
pub type Prep<T> = Result<T, (Code, anyhow::Error)>;

impl Context {
    pub fn from_opts(c: &ConnectOpts) -> Prep<Self> {
        input::validate_site_domain(&c.site_domain).map_err(|e| (Code::InvalidInput, e.into()))?;
        let cfg_err = |e: anyhow::Error| (Code::ConfigError, e);
        let url = url::Url::parse(&c.frappe_url)
            .with_context(|| format!("FRAPPE_URL {:?} is not a URL", c.frappe_url))
            .map_err(cfg_err)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(cfg_err(anyhow::anyhow!(
                "FRAPPE_URL {:?} must be http:// or https://",
                c.frappe_url
            )));
        }
        let db = DbTarget::parse(&c.mariadb_url).map_err(|e| cfg_err(e.into()))?;
        let registry = Registry::new(&c.registry_db).map_err(|e| cfg_err(e.into()))?;
        let executor = match c.bench_executor {
            ExecutorKind::Docker => Executor::Docker {
                service: c.docker_service.clone(),
                workdir: c.bench_path.as_ref().map(|p| p.display().to_string()),
            },
            ExecutorKind::Kubectl => Executor::Kubectl {
                target: c.kubectl_target.clone().ok_or_else(|| {
                    cfg_err(anyhow::anyhow!(
                        "BENCH_EXECUTOR=kubectl needs KUBECTL_TARGET (--kubectl-target): the pod, or deploy/<name>, that runs bench"
                    ))
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
            db,
            registry,
        })
    }

    /// The MariaDB account bench creates and drops site databases with.
    pub fn root(&self) -> RootCredentials {
        RootCredentials {
            user: self.db.user.clone(),
            password: self.db.password.clone(),
        }
    }

    /// A site named on the command line: a full site name, or a subdomain of SITE_DOMAIN.
    pub fn site_name(&self, arg: &str) -> Result<String, input::InvalidInput> {
        let arg = arg.trim().to_ascii_lowercase();
        if arg.contains('.') {
            input::validate_site_domain(&arg).map_err(|e| input::InvalidInput {
                field: "site",
                reason: e.reason,
            })?;
            Ok(arg)
        } else {
            input::validate_label(&arg, "site")?;
            Ok(input::site_name(&arg, &self.site_domain))
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
    /// The context, or (printed as the failure JSON) why there is none, as an exit code.
    pub fn or_report(conn: &ConnectOpts, site: &str) -> Result<Context, u8> {
        Context::from_opts(conn).map_err(|(code, e)| untouched(code, format!("{e:#}"), site))
    }
}

/// The SaaS Settings single written for a tenant (and checked by verify).
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub max_users: u32,
    pub max_storage_gb: f64,
}

impl Plan {
    pub fn from_opts(p: &PlanOpts) -> Self {
        Plan {
            name: p.plan_name.clone(),
            max_users: p.max_users,
            max_storage_gb: p.max_storage,
        }
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
    fn sites_are_named_by_subdomain_or_in_full() {
        let c = ctx(&["--site-domain", "example.com"]);
        assert_eq!(c.site_name("Acme").unwrap(), "acme.example.com");
        assert_eq!(c.site_name("acme.example.com").unwrap(), "acme.example.com");
        assert!(c.site_name("../etc").is_err());
        assert!(c.site_name("a_b").is_err());
    }
}
