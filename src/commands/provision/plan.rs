//! The plan of a sign-up: everything decided before anything is made, by reading only —
//! the bench, the password policy the verdict is made under, that the site is free, the
//! apps, and how the site will be made (the route). `--dry-run` prints this plan; the run
//! builds the same plan, under the site's lock, and carries it out.

use tokio::time::Instant;

use super::placement::{Placed, Placement};
use super::Config;
use crate::basics::clock::today_utc;
use crate::error::{Code, Error};
use crate::lifecycle::apps::wanted_apps;
use crate::lifecycle::claim::Claim;
use crate::lifecycle::setup::{erpnext_company, resolve, Company, Locale};
use crate::lifecycle::template::{self, sign_up_policy};
use crate::output::{PlannedStep, TemplateMeta};
use crate::outside::bench::{Bench, BenchFacts};
use crate::outside::mariadb::registry::{Row, SitePath};
use crate::outside::mariadb::Db;
use crate::signup::Tenant;
use frappe_password::PasswordPolicy;

/// How the site will be made.
pub(super) enum Route {
    /// A standby of this bench's pool, claimed when the run gets there (`oldest` is the one
    /// a claim would take now); if the pool is empty by then, the template or a fresh site.
    Pool {
        oldest: Option<Box<Row>>,
    },
    /// The standby `--bench auto` placement claimed already.
    Claimed(Box<Claim>),
    Template(TemplateMeta),
    Fresh,
}

impl Route {
    pub(super) fn path(&self) -> SitePath {
        match self {
            Route::Pool { .. } | Route::Claimed(_) => SitePath::Pool,
            Route::Template(_) => SitePath::Template,
            Route::Fresh => SitePath::Fresh,
        }
    }
}

/// A sign-up decided: read-only, built once.
pub(super) struct Plan {
    pub(super) facts: BenchFacts,
    /// The bench's id, when it has one already (the run makes one otherwise).
    pub(super) bench_id: Option<String>,
    /// The policy the password was judged under (see `sign_up_policy`).
    pub(super) policy: PasswordPolicy,
    /// frappe, then the apps of INSTALL_APPS the bench has.
    pub(super) apps: Vec<String>,
    pub(super) route: Route,
    /// What the setup wizard is given; `None` with `--skip-setup-wizard`.
    pub(super) locale: Option<Locale>,
    /// ERPNext's company, when ERPNext is among the apps (its wizard needs one).
    pub(super) company: Option<Company>,
    pub(super) warnings: Vec<String>,
}

/// The setup wizard's locale for `t`, checked against Frappe's own lists on the bench;
/// `None` with `--skip-setup-wizard`. Reads only.
pub(super) async fn setup_locale(
    cfg: &Config,
    t: &Tenant,
    deadline: Instant,
) -> Result<Option<Locale>, Error> {
    let Some(defaults) = &cfg.setup else {
        return Ok(None);
    };
    // With `--bench auto`, from the first bench that answers: placement skips the others.
    let benches: Vec<&Bench> = match &cfg.auto {
        Some(candidates) => candidates.iter().map(|c| &c.ctx.bench).collect(),
        None => vec![&cfg.ctx.bench],
    };
    let mut lists = Err(String::from("no bench to read them from"));
    for bench in benches {
        lists = bench.setup_lists(deadline).await.map_err(|e| e.to_string());
        if lists.is_ok() {
            break;
        }
    }
    let lists = lists.map_err(|e| {
        Error::config(format!(
            "Frappe's setup wizard lists could not be read: {e}"
        ))
    })?;
    resolve(&t.setup, defaults, &lists)
        .map(Some)
        .map_err(Error::from)
}

/// ERPNext's company for `t`, when ERPNext is among the apps and the wizard is the tool's.
fn company(t: &Tenant, apps: &[String], locale: Option<&Locale>) -> Result<Option<Company>, Error> {
    let (Some(locale), true) = (locale, apps.iter().any(|a| a == "erpnext")) else {
        return Ok(None);
    };
    // ERPNext's wizard refuses this name (setup_wizard.js `validate`).
    if t.organization_name.eq_ignore_ascii_case("company") {
        return Err(Error::invalid(
            "Organization name: ERPNext does not accept \"Company\" as a company name",
        )
        .on_field("organizationName"));
    }
    Ok(Some(erpnext_company(
        &t.organization_name,
        &locale.country,
        &today_utc(),
    )))
}

/// Builds the plan of `t`'s sign-up on `cfg`'s bench (or where `placement` put it): reads
/// only. `placement` already read the bench's facts, and made its choice of route.
pub(super) async fn plan(
    cfg: &Config,
    t: &Tenant,
    db: &mut Db,
    placement: Option<Placement>,
    locale: Option<Locale>,
    deadline: Instant,
) -> Result<Plan, Error> {
    let ctx = &cfg.ctx;
    let (facts, placed) = match placement {
        Some(p) => (p.facts, Some(p.placed)),
        None => {
            let facts = ctx.bench.facts(deadline).await?;
            if ctx.bench.site_dir_exists(&t.site, deadline).await? {
                return Err(site_exists(format!("site {} already exists", t.site)));
            }
            (facts, None)
        }
    };
    let policy = sign_up_policy(&facts);
    t.check_password_strength(&policy).map_err(Error::from)?;
    let registry = ctx.registry.upgrade(db).await?;
    // One live row per site and bench: a killed run's row must be resolved first. (A
    // standby placement claimed is this run's own row; the registry let the claim name the
    // site only because no other row was live for it.)
    let claimed = matches!(placed, Some(Placed::Standby(_)));
    if let (true, Some(id), false) = (registry, &facts.bench_id, claimed) {
        if let Some(row) = ctx.registry.live_row(db, id, &t.site).await? {
            return Err(site_exists(live_row_exists(&row)));
        }
    }
    let mut warnings = vec![];
    let (apps, missing) = wanted_apps(&cfg.install_apps, &facts.apps);
    for app in missing {
        crate::progress::progress(&format!(
            "⚠ App installation skipped: {app} is not in this bench's apps.txt"
        ));
        warnings.push(format!(
            "app {app} is not available on this bench; not installed"
        ));
    }
    let company = company(t, &apps, locale.as_ref())?;
    let route = match placed {
        Some(Placed::Standby(claim)) => Route::Claimed(claim),
        Some(Placed::Template(meta)) => Route::Template(meta),
        Some(Placed::Fresh) => Route::Fresh,
        None => match (cfg.use_pool, registry, &facts.bench_id) {
            (true, true, Some(id)) => match ctx.registry.oldest_standby(db, id).await? {
                Some(row) => Route::Pool {
                    oldest: Some(Box::new(row)),
                },
                None => without_pool(cfg, &facts, &apps, &mut warnings, deadline).await,
            },
            _ => without_pool(cfg, &facts, &apps, &mut warnings, deadline).await,
        },
    };
    Ok(Plan {
        bench_id: facts.bench_id.clone(),
        facts,
        policy,
        apps,
        route,
        locale,
        company,
        warnings,
    })
}

/// The route when the pool has nothing: the template when it fits the bench now, else a
/// fresh new-site (saying why not the template).
pub(super) async fn without_pool(
    cfg: &Config,
    facts: &BenchFacts,
    apps: &[String],
    warnings: &mut Vec<String>,
    deadline: Instant,
) -> Route {
    if !cfg.use_template {
        return Route::Fresh;
    }
    match template::check(&cfg.ctx.bench, facts, apps, deadline).await {
        Ok(Ok(meta)) => Route::Template(meta),
        Ok(Err(why)) => {
            crate::progress::progress(&format!("  template not used: {why}"));
            // A bench without a template is the plain case; one whose template no
            // longer fits makes every sign-up slow, and the JSON says so.
            if facts.template_json.is_some() {
                warnings.push(format!("template not used: {why}"));
            }
            Route::Fresh
        }
        Err(e) => {
            warnings.push(format!("template not checked: {e}"));
            Route::Fresh
        }
    }
}

fn site_exists(message: String) -> Error {
    Error::new(Code::SiteExists, message).at("preflight")
}

/// Why a new sign-up of a site is refused while `row` is live.
pub(super) fn live_row_exists(row: &Row) -> String {
    format!(
        "site {} is registered already (registry row {}, {}); if that run was killed, \
         `cleanup --orphans` resolves it",
        row.site,
        row.id,
        row.status.as_str()
    )
}

impl Plan {
    /// What step 5 will do: it depends on the site's setup state, known once it exists.
    fn setup_does(&self) -> String {
        match &self.locale {
            None => "leave the setup wizard to the tenant's admin (reopen it if the site's \
                     setup is complete)"
                .into(),
            Some(l) => format!(
                "setup wizard with {}, {}, {}, {}{}: run it if the site's setup is not \
                 complete, else update the System Settings that differ",
                l.language.name,
                l.country,
                l.timezone,
                l.currency,
                self.company
                    .as_ref()
                    .map(|c| format!(", ERPNext company {} ({})", c.name, c.abbr))
                    .unwrap_or_default()
            ),
        }
    }

    /// The six steps, each with what it will do.
    pub(super) fn steps(&self, cfg: &Config, t: &Tenant) -> Vec<PlannedStep> {
        let site = &t.site;
        let create = match &self.route {
            Route::Pool { oldest } => format!(
                "claim standby {} from the pool and rename it to {site}",
                oldest.as_ref().map_or("(the oldest)", |r| r.site.as_str())
            ),
            Route::Claimed(c) => format!("rename the claimed standby {} to {site}", c.standby),
            Route::Template(meta) => format!("bench new-site {site} --source-sql {}", meta.sql),
            Route::Fresh => format!(
                "bench new-site {site} --db-name ft_<16 random hex digits, drawn by the run>"
            ),
        };
        let to_install: Vec<String> = match &self.route {
            Route::Fresh => self.apps.iter().skip(1).cloned().collect(),
            _ => vec![],
        };
        let install = if to_install.is_empty() {
            "nothing: the site has every app".to_string()
        } else {
            to_install
                .iter()
                .map(|a| format!("bench --site {site} install-app {a}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let plan = &cfg.plan;
        let does = [
            ("create-site", create),
            ("install-apps", install),
            (
                "create-user",
                format!(
                    "POST /api/resource/User {} (System User, System Manager, API key and secret)",
                    t.email
                ),
            ),
            (
                "subscription",
                format!(
                    "PUT /api/resource/SaaS Settings/SaaS Settings (plan {}: {} users, {} GB)",
                    plan.name, plan.max_users, plan.max_storage_gb
                ),
            ),
            ("setup-wizard", self.setup_does()),
            (
                "api-keys",
                "GET /api/method/frappe.auth.get_logged_user with the new keys".into(),
            ),
        ];
        does.into_iter()
            .enumerate()
            .map(|(i, (step, does))| PlannedStep {
                n: i as u8 + 1,
                step,
                does,
            })
            .collect()
    }
}
