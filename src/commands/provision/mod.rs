//! `provision`: one sign-up to one working tenant, in the five steps of the seed script
//! and a sixth, the setup wizard, so the first login lands on the desk.
//! A plan first (`plan`: read-only; `--dry-run` prints it), under the site's lock, then its
//! execution: the site from the pool when a standby is ready, else from the template when
//! it matches the bench, else from a fresh `bench new-site` (the JSON's `path` says which);
//! then the apps, the user and plan, the keys. What step 1 made (`Made`) is all a failure
//! undoes; the whole run has one deadline, and Ctrl-C / SIGTERM roll back like a failure.
//! The registry row says who the tenant is, how far the run got and how it ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::basics::secret::Secret;
use crate::basics::signals::StopSignals;
use crate::context::{Context, SaasPlan, UrlTemplate};
use crate::error::{Code, Error};
use crate::lifecycle::login_link;
use crate::lifecycle::removal::Removal;
use crate::output::{round2, Failure, ProvisionSuccess, Setup, StepTiming, Undo};
use crate::outside::bench::{run_tag, CommonConfig};
use crate::outside::frappe::Session;
use crate::outside::frappe_cache::FrappeCache;
use crate::outside::mariadb::registry::{SitePath, Status};
use crate::outside::mariadb::{Conns, Db};
use crate::progress::{progress, step_event};
use crate::signup::{SetupChoices, SignupRequest, Tenant};

mod admission;
mod dry_run;
mod placement;
mod plan;
mod request;
mod rollback;
mod site;
mod site_password;
mod steps;

pub use placement::Candidate;
pub use request::run;

#[derive(Debug, Clone)]
pub struct Config {
    pub ctx: Context,
    pub admin_password: Option<Secret>,
    pub install_apps: Vec<String>,
    pub timeout: Duration,
    pub plan: SaasPlan,
    /// The setup wizard's defaults; `None`: the wizard is left to the tenant's admin.
    pub setup: Option<SetupChoices>,
    /// `--login-link`: how long the link in the result stays valid.
    pub login_link: Option<Duration>,
    pub use_pool: bool,
    pub use_template: bool,
    /// `--bench auto`: the benches placement chooses among (`ctx` is then the first,
    /// until placement sets the chosen one).
    pub auto: Option<Vec<Candidate>>,
    /// Said before the run starts (benches of the inventory skipped), for the JSON.
    pub warnings: Vec<String>,
    /// The tenant's public address (`--public-url`), for the success's `url`.
    pub public_url: Option<UrlTemplate>,
}

/// How long the undo may take after the provisioning deadline has passed.
const ROLLBACK_GRACE: Duration = Duration::from_secs(90);

/// What this run has made: set the moment it exists (before a long step, so a run stopped
/// midway still knows), read by the rollback, and only it.
#[derive(Debug, Clone)]
enum Made {
    /// A standby claimed for this tenant (its registry row now names the tenant); its
    /// folder has not moved yet.
    Claimed {
        row_id: u64,
        standby: String,
        db_name: String,
    },
    /// The claimed standby's folder now carries the tenant's name.
    Renamed {
        row_id: u64,
        standby: String,
        db_name: String,
    },
    /// new-site (fresh or from the template) started under this run's site lock, with a
    /// database name drawn for this run and registered first (`row_id`).
    NewSite {
        row_id: u64,
        db_name: String,
        path: SitePath,
    },
}

impl Made {
    fn row_id(&self) -> u64 {
        match self {
            Made::Claimed { row_id, .. }
            | Made::Renamed { row_id, .. }
            | Made::NewSite { row_id, .. } => *row_id,
        }
    }

    fn db_name(&self) -> &str {
        match self {
            Made::Claimed { db_name, .. }
            | Made::Renamed { db_name, .. }
            | Made::NewSite { db_name, .. } => db_name,
        }
    }

    fn path(&self) -> SitePath {
        match self {
            Made::NewSite { path, .. } => *path,
            _ => SitePath::Pool,
        }
    }

    fn standby(&self) -> Option<&str> {
        match self {
            Made::Claimed { standby, .. } | Made::Renamed { standby, .. } => Some(standby),
            Made::NewSite { .. } => None,
        }
    }
}

/// One run: its configuration (placement may move it to another bench), the connections
/// (the registry's holds the site's lock; the bench's database server's, when it has its
/// own), what it made, and what it has to say.
struct Run {
    cfg: Config,
    db: Option<Conns>,
    made: Option<Made>,
    /// The inventory bench it is on: `--bench NAME`'s, or placement's choice.
    bench: Option<String>,
    /// The route's path once planned, for a failure's JSON.
    path: Option<SitePath>,
    /// The bench's common_site_config.json, once read: how bench drop-site prompts.
    common: CommonConfig,
    warnings: Vec<String>,
    timings: Vec<StepTiming>,
    /// What step 5 did to the site's setup.
    setup: Option<Setup>,
    /// `--login-link`: Frappe's cache, found answering before anything was made.
    login_cache: Option<FrappeCache>,
    /// Set when the deadline passed or a signal came: the steps end at their next check.
    stopping: Arc<AtomicBool>,
    /// How long it waited for one of the bench's web workers.
    queued: Duration,
    /// Its admission ticket while it holds one (returned after the last REST step).
    ticket: Option<u64>,
}

impl Run {
    /// What step 1 made, which every later step works on.
    fn made(&self) -> &Made {
        self.made.as_ref().expect("step 1 made the site")
    }

    /// Err once the run is stopping (deadline or signal): checked before each step, so a
    /// stop lands between calls, never inside one.
    fn go_on(&self, step: &'static str) -> Result<(), Error> {
        match self.stopping.load(Ordering::SeqCst) {
            true => Err(Error::new(Code::Interrupted, "the run is stopping").at(step)),
            false => Ok(()),
        }
    }

    /// The registry's server: the registry and the site's lock.
    fn db(&mut self) -> &mut Db {
        self.conns().control()
    }

    /// The bench's database server: the site's database.
    fn sites(&mut self) -> &mut Db {
        self.conns().sites()
    }

    fn conns(&mut self) -> &mut Conns {
        self.db
            .as_mut()
            .expect("every step runs after the preflight connected")
    }
}

/// One sign-up. A success counts once its JSON is written to `out` (and the registry says
/// active): a result nobody received is rolled back, since its API secret reached no one.
pub async fn provision(
    cfg: &Config,
    request: SignupRequest,
    out: &mut (dyn std::io::Write + Send),
) -> Result<ProvisionSuccess, Failure> {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let naive_site = format!("{}.{}", request.subdomain, cfg.ctx.site_domain);
    // Listening before anything is made: a signal that comes before the steps are awaited
    // is kept, and stops them at their first check.
    let signals = StopSignals::listen().map_err(|e| {
        Error::new(
            Code::ConfigError,
            format!("cannot listen for SIGINT/SIGTERM: {e}"),
        )
    });
    let (tenant, mut signals) = match (request.validate(&cfg.ctx.site_domain), signals) {
        (Ok(t), Ok(signals)) => (t, signals),
        (_, Err(e)) => {
            let e = e.for_site(&naive_site);
            progress(&format!("✗ {}", e.message));
            let failure = Failure::from(&e);
            let _ = write_line(out, &failure);
            return Err(failure);
        }
        (Err(e), _) => {
            progress(&format!("✗ Invalid input: {e}"));
            let e = Error::from(e).for_site(&naive_site);
            let failure = Failure::from(&e);
            let _ = write_line(out, &failure);
            return Err(failure);
        }
    };
    let keys = ApiKeys::new();
    let mut run = Run {
        bench: cfg
            .auto
            .is_none()
            .then(|| cfg.ctx.bench_name.clone())
            .flatten(),
        cfg: cfg.clone(),
        db: None,
        made: None,
        path: None,
        common: CommonConfig::default(),
        warnings: cfg.warnings.clone(),
        timings: vec![],
        setup: None,
        login_cache: None,
        stopping: Arc::default(),
        queued: Duration::ZERO,
        ticket: None,
    };
    let stopping = run.stopping.clone();
    let outcome = {
        let steps = run_steps(&mut run, &tenant, &keys, deadline);
        tokio::pin!(steps);
        tokio::select! {
            r = &mut steps => r,
            e = stop_reason(deadline, cfg.timeout.as_secs(), &mut signals) => {
                stop_steps(cfg, &stopping, &e, steps.as_mut()).await;
                Err(e)
            }
        }
    };
    match activate(&mut run, outcome).await {
        Ok(()) => deliver(run, &tenant, &keys, started, out).await,
        Err(e) => {
            let failure = fail_run(&mut run, &tenant.site, e, started).await;
            let _ = write_line(out, &failure);
            Err(failure)
        }
    }
}

/// The six steps: the plan (read-only, under the site's lock), then the site, the apps,
/// the user and plan (concurrently) and the setup as Administrator through a key lent for
/// them and taken back after, then the tenant's keys proven.
async fn run_steps(
    run: &mut Run,
    t: &Tenant,
    keys: &ApiKeys,
    deadline: Instant,
) -> Result<(), Error> {
    let (plan, bench_id) = steps::prepare(run, t, deadline).await?;
    // A standby's sign-up is all REST: it queues before anything is made. A template or
    // fresh site is made first (bench, not the web workers), then queues.
    let pooled = plan.route.path() == SitePath::Pool;
    if pooled {
        admission::admit(run, &bench_id, "create-site").await?;
    }

    let clock = started(&["create-site"]);
    site::create_site(run, t, &plan, &bench_id, deadline).await?;
    finished(run, "create-site", &["create-site"], clock);

    let clock = started(&["install-apps"]);
    steps::install_apps(run, t, &plan, deadline).await?;
    finished(run, "install-apps", &["install-apps"], clock);

    if !pooled {
        admission::admit(run, &bench_id, "create-user").await?;
    }
    let lent = steps::lend_admin_key(run, t, deadline).await?;
    let as_admin = as_administrator(run, t, keys, &plan, &lent.session).await;
    let taken_back = steps::take_back_admin_key(run, t, lent).await;
    as_admin.and(taken_back)?;

    let clock = started(&["api-keys"]);
    steps::prove_keys(run, t, keys).await?;
    finished(run, "api-keys", &["api-keys"], clock);
    admission::leave(run).await;
    Ok(())
}

/// Steps 3 to 5, as Administrator through `admin`.
async fn as_administrator(
    run: &mut Run,
    t: &Tenant,
    keys: &ApiKeys,
    plan: &plan::Plan,
    admin: &Session,
) -> Result<(), Error> {
    let clock = started(&["create-user", "subscription"]);
    steps::create_user_and_settings(run, t, keys, admin).await?;
    finished(
        run,
        "user-and-subscription",
        &["create-user", "subscription"],
        clock,
    );

    let clock = started(&["setup-wizard"]);
    steps::set_up_site(run, t, plan, admin).await?;
    finished(run, "setup-wizard", &["setup-wizard"], clock);
    Ok(())
}

/// A tenant the registry does not call active would be taken for a killed run's by the
/// next `cleanup --orphans`: until its row says so, it is no success.
async fn activate(run: &mut Run, outcome: Result<(), Error>) -> Result<(), Error> {
    outcome?;
    let made = run.made.clone().expect("a run that succeeded made a site");
    let registry = run.cfg.ctx.registry.clone();
    registry
        .activate(run.db(), made.row_id(), made.path())
        .await
        .map_err(|e| {
            Error::new(
                Code::DbUnavailable,
                format!("the tenant could not be recorded active: {e}"),
            )
            .at("api-keys")
        })
}

/// Writes the success; one that cannot be written is rolled back (`UNDELIVERED`).
async fn deliver(
    mut run: Run,
    t: &Tenant,
    keys: &ApiKeys,
    started: Instant,
    out: &mut (dyn std::io::Write + Send),
) -> Result<ProvisionSuccess, Failure> {
    let made = run.made.clone().expect("a run that succeeded made a site");
    let login_url = login_link(&mut run, t, made.db_name()).await;
    let elapsed = round2(started.elapsed().as_secs_f64());
    let success = ProvisionSuccess {
        success: true,
        url: run
            .cfg
            .ctx
            .tenant_url(run.cfg.public_url.as_ref(), &t.subdomain, &t.site),
        site: t.site.clone(),
        email: t.email.clone(),
        api_key: keys.key.clone(),
        api_secret: keys.secret.expose().to_owned(),
        organization_name: t.organization_name.clone(),
        elapsed,
        waited: (crate::basics::waits::waited().as_secs_f64() * 1e4).round() / 1e4,
        queued: round2(run.queued.as_secs_f64()),
        db_name: made.db_name().to_string(),
        path: made.path(),
        standby_site: made.standby().map(String::from),
        bench: run.bench.clone(),
        setup: run.setup.clone(),
        login_url,
        warnings: run.warnings.clone(),
        steps: std::mem::take(&mut run.timings),
    };
    match write_line(out, &success) {
        Ok(()) => {
            progress(&format!("\n✅ Provisioning completed in {elapsed:.2}s"));
            Ok(success)
        }
        Err(e) => {
            let e = Error::new(
                Code::Undelivered,
                format!(
                    "the result could not be written ({e}): nobody received the API secret, so \
                     the tenant was not kept"
                ),
            );
            let failure = fail_run(&mut run, &t.site, e, started).await;
            // Most likely nobody reads this either; stderr has said it.
            let _ = write_line(out, &failure);
            Err(failure)
        }
    }
}

/// `--login-link`: the tenant's admin's one-time link into the desk. The tenant is made
/// and works without it, so a link that cannot be made is a warning, not a failure.
async fn login_link(run: &mut Run, t: &Tenant, db_name: &str) -> Option<String> {
    let (cache, ttl) = (run.login_cache.as_ref()?, run.cfg.login_link?);
    let site_url = run.cfg.ctx.site_url(&t.site);
    match login_link::mint(cache, &site_url, db_name, &t.email, ttl).await {
        Ok(url) => Some(url),
        Err(e) => {
            progress(&format!("⚠ {}", e.message));
            run.warnings.push(e.message);
            None
        }
    }
}

/// One JSON line, flushed: written or not, the caller knows which.
fn write_line<T: serde::Serialize>(
    out: &mut (dyn std::io::Write + Send),
    value: &T,
) -> std::io::Result<()> {
    let line = serde_json::to_string(value).map_err(std::io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// A failed run: what it made undone (after stopping what it left running in a
/// container), its row ended, and the failure to report.
async fn fail_run(run: &mut Run, site: &str, e: Error, started: Instant) -> Failure {
    progress(&format!("✗ {}", e.message));
    if run.db.is_some() {
        admission::leave(run).await;
    }
    let mut removal = match stop_what_runs(&run.cfg, &e).await {
        Ok(()) => rollback::rollback(run, site).await,
        Err(left) => left,
    };
    removal.warn_into(&mut run.warnings);
    let status = if removal.complete() {
        Status::RolledBack
    } else {
        Status::Failed
    };
    // A claim undone before its rename went back to the pool: its row is a standby again.
    // A row is ended only while this run holds the site's lock: without it, another run
    // (a cleanup) may be resolving the row, and it says how that ended.
    let ours = match &run.made {
        Some(Made::Claimed { .. }) | None => None,
        Some(made) => Some(made.row_id()),
    };
    if let Some(id) = ours {
        let registry = run.cfg.ctx.registry.clone();
        let db = run.db();
        let ended = if db.holds_site_lock(site).await {
            registry.finish(db, id, status, Some(&e.message)).await
        } else {
            Ok(())
        };
        if let Err(err) = ended {
            run.warnings
                .push(format!("the registry was not updated: {err}"));
        }
    }
    Failure {
        success: false,
        error: e.message,
        site: site.to_string(),
        code: e.code,
        step: e.step,
        field: e.field,
        rollback: removal.steps,
        removed_by: removal.removed_by,
        warnings: std::mem::take(&mut run.warnings),
        elapsed: round2(started.elapsed().as_secs_f64()),
        path: run.made.as_ref().map(Made::path).or(run.path),
        bench: run.bench.clone(),
        db_name: run.made.as_ref().map(|m| m.db_name().to_string()),
    }
}

/// How long, after a stop, the step in flight gets to finish: a MariaDB query or a REST
/// call ends in well under that; bench is stopped at once.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Why the run must stop: its deadline, or SIGINT / SIGTERM.
async fn stop_reason(deadline: Instant, timeout_secs: u64, signals: &mut StopSignals) -> Error {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => Error::new(
            Code::Timeout,
            format!("provisioning did not finish within {timeout_secs}s"),
        ),
        sig = signals.recv() => Error::new(Code::Interrupted, format!("interrupted by {sig}")),
    }
}

/// Stops the steps without cutting a call in half: the run's connection holds the site's
/// lock, and a query dropped midway would lose it, and with it the right to roll back. So
/// the steps are told to stop, this run's bench processes are stopped (a bench step then
/// ends at once), and the step in flight gets `STOP_GRACE` to end; only then is it dropped.
async fn stop_steps(
    cfg: &Config,
    stopping: &AtomicBool,
    why: &Error,
    steps: std::pin::Pin<&mut impl std::future::Future<Output = Result<(), Error>>>,
) {
    progress(&format!("✗ {}: stopping", why.message));
    stopping.store(true, Ordering::SeqCst);
    let _ = cfg
        .ctx
        .bench
        .stop_run(run_tag(), Instant::now() + Duration::from_secs(30))
        .await;
    let _ = tokio::time::timeout(STOP_GRACE, steps).await;
}

/// After a deadline or a signal, bench may still run in a container (killing the docker
/// or kubectl client does not stop it there): it is stopped before anything is undone.
/// When that cannot be done, nothing is undone: the run's row is left for `cleanup
/// --orphans`, which stops the run's processes by its tag first.
async fn stop_what_runs(cfg: &Config, e: &Error) -> Result<(), Removal> {
    if !matches!(e.code, Code::Timeout | Code::Interrupted) {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    match cfg.ctx.bench.stop_run(run_tag(), deadline).await {
        Ok(0) => Ok(()),
        Ok(n) => {
            progress(&format!(
                "  ✓ stopped {n} process(es) of this run in the container"
            ));
            Ok(())
        }
        Err(err) => Err(Removal {
            steps: vec![Undo {
                action: "stop this run's processes in the container".into(),
                ok: false,
                detail: Some(format!(
                    "{err}: nothing was undone while bench may still run there; \
                     `cleanup --orphans` resolves it"
                )),
            }],
            ..Removal::default()
        }),
    }
}

/// The six steps' names, in order, as `--progress json` numbers them.
const STEPS: [&str; 6] = [
    "create-site",
    "install-apps",
    "create-user",
    "subscription",
    "setup-wizard",
    "api-keys",
];

fn number(step: &str) -> u8 {
    STEPS
        .iter()
        .position(|s| *s == step)
        .map_or(0, |i| i as u8 + 1)
}

/// Announces `steps` (for `--progress json`) and starts their clock.
fn started(steps: &[&str]) -> Instant {
    for s in steps {
        step_event(s, number(s), STEPS.len() as u8, None);
    }
    Instant::now()
}

/// Records the timing of a phase (`name` in the JSON's `steps`) and announces its steps done.
fn finished(run: &mut Run, name: &'static str, steps: &[&str], clock: Instant) {
    let seconds = round2(clock.elapsed().as_secs_f64());
    for s in steps {
        step_event(s, number(s), STEPS.len() as u8, Some(seconds));
    }
    run.timings.push(StepTiming {
        step: name,
        seconds,
    });
}

/// The tenant's API key and secret as a sign-up makes them (their shape is checked against
/// Frappe's rules in tests/frappe_rules_differential.rs).
pub fn new_api_credentials() -> (String, Secret) {
    let keys = ApiKeys::new();
    (keys.key, keys.secret)
}

/// The API key and secret the new user gets; the key is no secret (Frappe shows it).
pub(crate) struct ApiKeys {
    pub key: String,
    pub secret: Secret,
}

impl ApiKeys {
    /// Frappe's own (`generate_keys`) are 15 hex digits each; these are longer and
    /// alphanumeric, which Frappe takes as they are: a Data field and a Password field of up
    /// to 140 characters, read back from `Authorization: token key:secret` by splitting at
    /// the space and the ':' (frappe/auth.py `validate_auth_via_api_keys`), so neither may
    /// hold a space or a ':'.
    fn new() -> Self {
        ApiKeys {
            key: Secret::random(20).expose().to_ascii_lowercase(),
            secret: Secret::random(40),
        }
    }
}
