//! `bench add|list|remove|cordon|uncordon`: the inventory of benches sign-ups may be
//! placed on (`provision --bench NAME|auto`, `pool fill --all`). Each bench's executor
//! settings live in the registry database; the MariaDB credentials do not (every bench
//! of one inventory uses the registry's server, MARIADB_URL).

use std::time::Duration;

use clap::ValueEnum;
use tokio::time::Instant;

use crate::cli::{BenchAddArgs, BenchCommand, ConnectOpts};
use crate::context::{registry, valid_name, Context};
use crate::error::{Code, Error};
use crate::output::{BenchEntry, BenchListReport, BenchReport, Output};
use crate::outside::mariadb::registry::{DbServerOf, InventoryBench, Registry, Removed};
use crate::outside::mariadb::Db;
use crate::progress::progress;

pub async fn run(cmd: BenchCommand) -> Result<Output, Error> {
    match cmd {
        BenchCommand::Add(args) => add(args).await,
        BenchCommand::List(args) => list(&args.conn).await,
        BenchCommand::Remove(args) => remove(&args.conn, &args.name).await,
        BenchCommand::Cordon(args) => cordon(&args.conn, &args.name, true).await,
        BenchCommand::Uncordon(args) => cordon(&args.conn, &args.name, false).await,
    }
}

fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

fn no_such(name: &str) -> Error {
    Error::config(format!("no bench {name:?} in the inventory"))
}

async fn add(args: BenchAddArgs) -> Result<Output, Error> {
    if !valid_name(&args.name) {
        return Err(Error::invalid(format!(
            "invalid input: bench name {:?} must be 1 to 64 letters, digits, '-' or '_', and not auto or all",
            args.name
        )));
    }
    let ctx = Context::from_opts(&args.conn)?;
    let (mut db, registry) = registry(&args.conn).await?;
    progress(&format!("Reaching bench {} for its bench id...", args.name));
    let deadline = Instant::now() + Duration::from_secs(60);
    let bench_id = ctx
        .bench
        .bench_id(true, deadline)
        .await
        .map_err(|e| {
            Error::new(
                Code::BenchFailed,
                format!("reaching bench {}: {e}", args.name),
            )
        })?
        .ok_or_else(|| Error::new(Code::BenchFailed, "could not create the bench id"))?;
    let db_server = match &args.db_server {
        Some(name) => Some(db_server_of(&mut db, &registry, name).await?),
        None => None,
    };
    let entry = inventory_entry(&args, bench_id, db_server);
    if let Err(e) = registry.add_bench(&mut db, &entry).await {
        let taken = registry.benches(&mut db).await.unwrap_or_default();
        let why = taken
            .iter()
            .find(|b| b.name == entry.name || b.bench_id == entry.bench_id)
            .map(|b| {
                format!(
                    "bench {} (bench id {}) is already in the inventory",
                    b.name, b.bench_id
                )
            })
            .unwrap_or_else(|| e.to_string());
        return Err(Error::config(why));
    }
    report(&mut db, &registry, "add", &args.name).await
}

/// What `bench add` stores: the connection flags it was given, by their names.
fn inventory_entry(
    args: &BenchAddArgs,
    bench_id: String,
    db_server: Option<DbServerOf>,
) -> InventoryBench {
    let c = &args.conn;
    InventoryBench {
        name: args.name.clone(),
        bench_id,
        executor: value_name(&c.bench_executor),
        docker_service: Some(c.docker_service.clone()),
        kubectl_target: c.kubectl_target.clone(),
        kubectl_namespace: c.kubectl_namespace.clone(),
        kubectl_container: c.kubectl_container.clone(),
        bench_path: c.bench_path.as_ref().map(|p| p.display().to_string()),
        bench_bin: Some(c.bench_bin.display().to_string()),
        frappe_url: c.frappe_url.clone(),
        site_domain: c.site_domain.clone(),
        db_host_flag: value_name(&c.db_host_flag),
        capacity: args.capacity,
        cordoned: false,
        created_at: String::new(),
        db_server,
        web_workers: c.web_workers,
    }
}

/// The database server `name` of the inventory, reached once: a bench is not added on a
/// server the tool cannot use.
async fn db_server_of(db: &mut Db, registry: &Registry, name: &str) -> Result<DbServerOf, Error> {
    let s = registry.server(db, name).await?.ok_or_else(|| {
        Error::config(format!(
            "no database server {name:?} in the inventory (see `db-server list`)"
        ))
    })?;
    progress(&format!("Connecting to database server {name}..."));
    crate::context::resolve_server(&s.name, &s.url_from)?
        .connect()
        .await?;
    Ok(DbServerOf {
        name: s.name,
        url_from: s.url_from,
        capacity: s.capacity,
    })
}

/// The bench as stored now.
async fn report(
    db: &mut Db,
    registry: &Registry,
    action: &str,
    name: &str,
) -> Result<Output, Error> {
    let bench = registry
        .bench(db, name)
        .await?
        .ok_or_else(|| no_such(name))?;
    progress(&format!("✓ bench {name}: {action}"));
    Ok(Output::Bench(BenchReport {
        success: true,
        action: action.into(),
        bench: (&bench).into(),
    }))
}

async fn list(conn: &ConnectOpts) -> Result<Output, Error> {
    let (mut db, registry) = registry(conn).await?;
    let benches = registry.benches(&mut db).await?;
    let loads = registry.loads(&mut db).await?;
    let benches = benches
        .into_iter()
        .map(|b| BenchEntry {
            load: loads.get(&b.bench_id).copied().unwrap_or_default().into(),
            bench: (&b).into(),
        })
        .collect();
    Ok(Output::BenchList(BenchListReport {
        success: true,
        benches,
    }))
}

async fn remove(conn: &ConnectOpts, name: &str) -> Result<Output, Error> {
    let (mut db, registry) = registry(conn).await?;
    let before = registry.bench(&mut db, name).await?;
    match registry.remove_bench(&mut db, name).await? {
        Removed::Removed => {
            progress(&format!("✓ bench {name} removed from the inventory"));
            Ok(Output::Bench(BenchReport {
                success: true,
                action: "remove".into(),
                bench: before.as_ref().expect("it was there to remove").into(),
            }))
        }
        Removed::NotFound => Err(no_such(name)),
        Removed::Live(n) => Err(Error::config(format!(
            "bench {name} still has {n} live site(s) in the registry (tenants or standbys): \
             move or drop them (pool drain, cleanup) first; `bench cordon {name}` stops new sign-ups"
        ))),
    }
}

async fn cordon(conn: &ConnectOpts, name: &str, cordoned: bool) -> Result<Output, Error> {
    let (mut db, registry) = registry(conn).await?;
    if !registry.set_cordoned(&mut db, name, cordoned).await? {
        return Err(no_such(name));
    }
    let action = if cordoned { "cordon" } else { "uncordon" };
    report(&mut db, &registry, action, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_names_are_plain_words_and_not_keywords() {
        assert!(valid_name("web-1_a"));
        for bad in ["", "auto", "all", "a b", "a;b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
