//! `provision`: one sign-up to one working tenant, in the five steps of the seed script.
//! The site comes from the pool when a standby is ready, else from the template when it
//! matches the bench, else from a fresh `bench new-site`; the JSON's `path` says which.
//! Every step that creates something is undone, in reverse, if a later one fails; the
//! whole run has one deadline, and Ctrl-C / SIGTERM roll back like a failure. The
//! registry row says who the tenant is, how far the run got and how it ended.

use std::time::Duration;

use tokio::time::Instant;

use crate::basics::secret::Secret;
use crate::context::{Context, Plan};
use crate::error::Code;
use crate::lifecycle::removal::Removal;
use crate::output::{round2, Failure, ProvisionSuccess, StepTiming, Undo};
use crate::outside::bench::{run_tag, BenchError, BenchFacts};
use crate::outside::frappe::Frappe;
use crate::outside::mariadb::registry::{SitePath, Status};
use crate::outside::mariadb::Db;
use crate::progress::{progress, step_event};
use crate::signup::{SignupRequest, Tenant};

mod create_site;
mod dry_run;
mod placement;
mod request;
mod rollback;
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
    pub plan: Plan,
    pub use_pool: bool,
    pub use_template: bool,
    /// `--bench auto`: the benches placement chooses among (`ctx` is then the first,
    /// until placement sets the chosen one).
    pub auto: Option<Vec<Candidate>>,
    /// Said before the run starts (benches of the inventory skipped), for the JSON.
    pub warnings: Vec<String>,
}

/// Why a run stopped, before rollback decides what the exit code becomes.
#[derive(Debug)]
pub(crate) struct StepError {
    code: Code,
    step: Option<&'static str>,
    message: String,
}

fn fail(code: Code, step: &'static str, message: impl ToString) -> StepError {
    StepError {
        code,
        step: Some(step),
        message: message.to_string(),
    }
}

fn bench_error(step: &'static str, e: BenchError) -> StepError {
    let code = if matches!(e, BenchError::TimedOut { .. }) {
        Code::Timeout
    } else {
        Code::BenchFailed
    };
    fail(code, step, e)
}

fn db_error(step: &'static str, e: impl ToString) -> StepError {
    fail(Code::DbUnavailable, step, e)
}

/// How long the undo may take after the provisioning deadline has passed.
const ROLLBACK_GRACE: Duration = Duration::from_secs(90);

/// What this run has made so far: rollback reads it, and only it.
enum Made {
    Nothing,
    /// new-site (fresh or from the template) was started under this run's site lock, with
    /// a database name drawn for this run: a failed new-site leaves a folder, a database
    /// and a DB user, all this run's.
    NewSite,
    /// A standby was claimed for this tenant (its row is `row_id`) but its folder has
    /// not moved yet.
    Claimed,
    /// The claimed standby's folder now carries the tenant's name.
    Renamed,
}

struct State {
    db: Option<Db>,
    made: Made,
    /// The registry row of this tenant, once there is one.
    row_id: Option<u64>,
    path: Option<SitePath>,
    /// The site's database: the tenant's own name, or the standby's it came from.
    db_name: String,
    standby_site: Option<String>,
    facts: BenchFacts,
    /// A standby `--bench auto` placement claimed, not yet taken by create-site.
    placed: Option<crate::lifecycle::claim::Claim>,
    /// The template check placement already made for the chosen bench (`Some(None)`:
    /// none fits), so create-site does not run it again.
    template: Option<Option<crate::output::TemplateMeta>>,
    /// The inventory bench this run is on: `--bench NAME`'s, or placement's choice.
    bench: Option<String>,
    warnings: Vec<String>,
    steps: Vec<StepTiming>,
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
    let tenant = match request.validate(&cfg.ctx.site_domain) {
        Ok(t) => t,
        Err(e) => {
            progress(&format!("✗ Invalid input: {e}"));
            let failure = Failure::untouched(
                Code::InvalidInput,
                format!("invalid input: {e}"),
                naive_site,
            );
            let _ = write_line(out, &failure);
            return Err(failure);
        }
    };
    let mut state = State {
        db: None,
        made: Made::Nothing,
        row_id: None,
        path: None,
        db_name: String::new(),
        standby_site: None,
        facts: BenchFacts::default(),
        placed: None,
        template: None,
        bench: match cfg.auto {
            None => cfg.ctx.bench_name.clone(),
            Some(_) => None,
        },
        warnings: cfg.warnings.clone(),
        steps: vec![],
    };
    let (key, secret) = new_api_credentials();
    let keys = ApiKeys { key, secret };

    // Placement (`--bench auto`) sets the bench this run works on: its own copy.
    let mut cfg = cfg.clone();
    let timeout_secs = cfg.timeout.as_secs();
    let outcome = tokio::select! {
        r = run_steps(&mut cfg, &tenant, &keys, &mut state, deadline) => r,
        _ = tokio::time::sleep_until(deadline) => Err(StepError {
            code: Code::Timeout, step: None,
            message: format!("provisioning did not finish within {timeout_secs}s"),
        }),
        sig = shutdown_signal() => Err(StepError { code: Code::Interrupted, step: None, message: format!("interrupted by {sig}") }),
    };
    let cfg = &cfg;
    let registry = &cfg.ctx.registry;
    // A tenant the registry does not call active would be taken for a killed run's by the
    // next `cleanup --orphans`: it is no success.
    let outcome = match (outcome, state.db.as_mut(), state.row_id) {
        (Ok(()), Some(db), Some(id)) => {
            let path = state.path.unwrap_or(SitePath::Fresh);
            registry.activate(db, id, path).await.map_err(|e| {
                db_error(
                    "api-keys",
                    format!("the tenant could not be recorded active: {e}"),
                )
            })
        }
        (outcome, _, _) => outcome,
    };
    match outcome {
        Ok(()) => {
            let path = state.path.unwrap_or(SitePath::Fresh);
            let elapsed = round2(started.elapsed().as_secs_f64());
            let success = ProvisionSuccess {
                success: true,
                url: cfg.ctx.site_url(&tenant.site),
                site: tenant.site.clone(),
                email: tenant.email.clone(),
                api_key: keys.key.clone(),
                api_secret: keys.secret.expose().to_owned(),
                organization_name: tenant.organization_name.clone(),
                elapsed,
                waited: (crate::basics::waits::waited().as_secs_f64() * 1e4).round() / 1e4,
                db_name: state.db_name.clone(),
                path,
                standby_site: state.standby_site.clone(),
                bench: state.bench.clone(),
                warnings: std::mem::take(&mut state.warnings),
                steps: std::mem::take(&mut state.steps),
            };
            match write_line(out, &success) {
                Ok(()) => {
                    progress(&format!("\n✅ Provisioning completed in {elapsed:.2}s"));
                    Ok(success)
                }
                Err(e) => {
                    state.warnings = success.warnings;
                    let e = StepError {
                        code: Code::Undelivered,
                        step: None,
                        message: format!(
                            "the result could not be written ({e}): nobody received the API secret, so the tenant was not kept"
                        ),
                    };
                    let failure = fail_run(cfg, &tenant.site, &mut state, e, started).await;
                    // Most likely nobody reads this either; stderr has said it.
                    let _ = write_line(out, &failure);
                    Err(failure)
                }
            }
        }
        Err(e) => {
            let failure = fail_run(cfg, &tenant.site, &mut state, e, started).await;
            let _ = write_line(out, &failure);
            Err(failure)
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

/// Why a new sign-up of a site is refused while `row` is live.
pub(crate) fn live_row_exists(row: &crate::outside::mariadb::registry::Row) -> String {
    format!(
        "site {} is registered already (registry row {}, {}); if that run was killed, \
         `cleanup --orphans` resolves it",
        row.site,
        row.id,
        row.status.as_str()
    )
}

/// A failed run: what it made undone (after stopping what it left running in a
/// container), its row ended, and the failure to report.
async fn fail_run(
    cfg: &Config,
    site: &str,
    state: &mut State,
    e: StepError,
    started: Instant,
) -> Failure {
    let registry = &cfg.ctx.registry;
    progress(&format!("✗ {}", e.message));
    let mut removal = match stop_what_runs(cfg, &e).await {
        Ok(()) => rollback::rollback(cfg, site, state).await,
        Err(left) => left,
    };
    {
        removal.warn_into(&mut state.warnings);
    }
    let rollback = removal.steps;
    let status = if rollback.iter().all(|u| u.ok) {
        Status::RolledBack
    } else {
        Status::Failed
    };
    // A claim undone before its rename went back to the pool: its row is a standby again.
    // A row is ended only while this run holds the site's lock: without it, another run
    // (a cleanup) may be resolving the row, and it says how that ended.
    let row_is_ours = !matches!(state.made, Made::Claimed);
    if let (Some(db), Some(id), true) = (state.db.as_mut(), state.row_id, row_is_ours) {
        let ended = if db.holds_site_lock(site).await {
            registry.finish(db, id, status, Some(&e.message)).await
        } else {
            Ok(())
        };
        if let Err(err) = ended {
            state
                .warnings
                .push(format!("the registry was not updated: {err}"));
        }
    }
    Failure {
        success: false,
        error: e.message,
        site: site.to_string(),
        code: e.code,
        step: e.step,
        rollback,
        removed_by: removal.removed_by,
        warnings: std::mem::take(&mut state.warnings),
        elapsed: round2(started.elapsed().as_secs_f64()),
        path: state.path,
        bench: state.bench.clone(),
        db_name: Some(state.db_name.clone()).filter(|d| !d.is_empty()),
    }
}

/// After a deadline or a signal, bench may still run in a container (killing the docker
/// or kubectl client does not stop it there): it is stopped before anything is undone.
/// When that cannot be done, nothing is undone: the run's row is left for `cleanup
/// --orphans`, which stops the run's processes by its tag first.
async fn stop_what_runs(cfg: &Config, e: &StepError) -> Result<(), Removal> {
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
/// The five steps. Each one records in `state.made` what it has made, and that is all
/// `rollback` undoes (in reverse) when a later step fails: the site (removed, or the
/// standby returned to the pool) is the only thing made; the apps, the user, the
/// settings and the keys live in the site's database and go with it.
async fn run_steps(
    cfg: &mut Config,
    t: &Tenant,
    keys: &ApiKeys,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    let ready = steps::prepare(cfg, t, state, deadline).await?; // read-only (or a placement's claim)
    let cfg: &Config = cfg;

    let clock = started(&["create-site"]);
    let admin_password = create_site::create_site(cfg, t, &ready, state, deadline).await?;
    finished(state, "create-site", &["create-site"], clock);

    let clock = started(&["install-apps"]);
    steps::install_apps(cfg, t, &ready, state, deadline).await?;
    finished(state, "install-apps", &["install-apps"], clock);

    // Steps 3 and 4 run concurrently.
    let clock = started(&["create-user", "subscription"]);
    let frappe = Frappe::new(&cfg.ctx.frappe_url, &t.site);
    steps::create_user_and_settings(cfg, t, keys, &frappe, &admin_password, state).await?;
    finished(
        state,
        "user-and-subscription",
        &["create-user", "subscription"],
        clock,
    );

    let clock = started(&["api-keys"]);
    steps::prove_keys(cfg, t, keys, &frappe, state).await?;
    finished(state, "api-keys", &["api-keys"], clock);
    Ok(())
}

/// The five steps' names, in order, as `--progress json` numbers them.
const STEPS: [&str; 5] = [
    "create-site",
    "install-apps",
    "create-user",
    "subscription",
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
fn finished(state: &mut State, name: &'static str, steps: &[&str], clock: Instant) {
    let t = timing(name, clock);
    for s in steps {
        step_event(s, number(s), STEPS.len() as u8, Some(t.seconds));
    }
    state.steps.push(t);
}

/// The tenant's API key and secret. Frappe's own (`generate_keys`) are 15 hex digits
/// each; these are longer and alphanumeric, which Frappe takes as they are: a Data field
/// and a Password field of up to 140 characters, read back from `Authorization: token
/// key:secret` by splitting at the space and the ':' (frappe/auth.py
/// `validate_auth_via_api_keys`), so neither may hold a space or a ':'.
pub fn new_api_credentials() -> (String, Secret) {
    let api_key = Secret::random(20).expose().to_ascii_lowercase();
    (api_key, Secret::random(40))
}

/// The API key and secret the new user gets; the key is no secret (Frappe shows it).
pub(crate) struct ApiKeys {
    pub key: String,
    pub secret: Secret,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn timing(step: &'static str, since: Instant) -> StepTiming {
    StepTiming {
        step,
        seconds: round2(since.elapsed().as_secs_f64()),
    }
}
