//! `bench add|list|remove|cordon|uncordon`: the inventory of benches sign-ups may be
//! placed on (`provision --bench NAME|auto`, `pool fill --all`). Each bench's executor
//! settings live in the registry database; the MariaDB credentials do not (every bench
//! of one inventory uses the registry's server, MARIADB_URL).

use std::time::Duration;

use clap::ValueEnum;
use tokio::time::Instant;

use crate::cli::{BenchAddArgs, BenchCommand, ConnectOpts};
use crate::context::Context;
use crate::error::{exit, Code};
use crate::output::{print_json, untouched, BenchEntry, BenchListReport, BenchReport};
use crate::outside::mariadb::registry::{InventoryBench, Registry, Removed};
use crate::outside::mariadb::{Db, DbTarget};
use crate::progress::progress;

pub async fn run(cmd: BenchCommand) -> u8 {
    match cmd {
        BenchCommand::Add(args) => add(args).await,
        BenchCommand::List(args) => list(&args.conn).await,
        BenchCommand::Remove(args) => remove(&args.conn, &args.name).await,
        BenchCommand::Cordon(args) => cordon(&args.conn, &args.name, true).await,
        BenchCommand::Uncordon(args) => cordon(&args.conn, &args.name, false).await,
    }
}

/// The registry, migrated, on its server.
async fn registry(conn: &ConnectOpts) -> Result<(Db, Registry), u8> {
    let target = DbTarget::parse(&conn.mariadb_url)
        .map_err(|e| untouched(Code::ConfigError, e.to_string(), ""))?;
    let registry = Registry::new(&conn.registry_db)
        .map_err(|e| untouched(Code::ConfigError, e.to_string(), ""))?;
    let unavailable =
        |e: crate::outside::mariadb::DbError| untouched(Code::DbUnavailable, e.to_string(), "");
    let mut db = target.connect().await.map_err(unavailable)?;
    registry.ensure(&mut db).await.map_err(unavailable)?;
    Ok((db, registry))
}

/// A bench name: a plain word, so it is safe in logs, JSON and cron lines; `auto` and
/// `all` mean something else on the command line.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !matches!(name, "auto" | "all")
}

fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

async fn add(args: BenchAddArgs) -> u8 {
    if !valid_name(&args.name) {
        return untouched(
            Code::InvalidInput,
            format!(
                "invalid input: bench name {:?} must be 1 to 64 letters, digits, '-' or '_', and not auto or all",
                args.name
            ),
            "",
        );
    }
    let ctx = match Context::or_report(&args.conn, "") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (mut db, registry) = match registry(&args.conn).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    progress(&format!("Reaching bench {} for its bench id...", args.name));
    let deadline = Instant::now() + Duration::from_secs(60);
    let bench_id = match ctx.bench.bench_id(true, deadline).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return untouched(
                Code::BenchFailed,
                "could not create the bench id".into(),
                "",
            )
        }
        Err(e) => {
            return untouched(
                Code::BenchFailed,
                format!("reaching bench {}: {e}", args.name),
                "",
            )
        }
    };
    let c = &args.conn;
    let entry = InventoryBench {
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
    };
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
        return untouched(Code::ConfigError, why, "");
    }
    report(&mut db, &registry, "add", &args.name).await
}

/// Prints the bench as stored now.
async fn report(db: &mut Db, registry: &Registry, action: &str, name: &str) -> u8 {
    match registry.bench(db, name).await {
        Ok(Some(bench)) => {
            progress(&format!("✓ bench {name}: {action}"));
            print_json(&BenchReport {
                success: true,
                action: action.into(),
                bench: (&bench).into(),
            });
            exit::OK
        }
        Ok(None) => untouched(
            Code::ConfigError,
            format!("no bench {name:?} in the inventory"),
            "",
        ),
        Err(e) => untouched(Code::DbUnavailable, e.to_string(), ""),
    }
}

async fn list(conn: &ConnectOpts) -> u8 {
    let (mut db, registry) = match registry(conn).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let read = async {
        let benches = registry.benches(&mut db).await?;
        let loads = registry.loads(&mut db).await?;
        Ok::<_, crate::outside::mariadb::DbError>((benches, loads))
    };
    match read.await {
        Ok((benches, loads)) => {
            let benches = benches
                .into_iter()
                .map(|b| BenchEntry {
                    load: loads.get(&b.bench_id).copied().unwrap_or_default().into(),
                    bench: (&b).into(),
                })
                .collect();
            print_json(&BenchListReport {
                success: true,
                benches,
            });
            exit::OK
        }
        Err(e) => untouched(Code::DbUnavailable, e.to_string(), ""),
    }
}

async fn remove(conn: &ConnectOpts, name: &str) -> u8 {
    let (mut db, registry) = match registry(conn).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let before = match registry.bench(&mut db, name).await {
        Ok(b) => b,
        Err(e) => return untouched(Code::DbUnavailable, e.to_string(), ""),
    };
    match registry.remove_bench(&mut db, name).await {
        Ok(Removed::Removed) => {
            progress(&format!("✓ bench {name} removed from the inventory"));
            print_json(&BenchReport {
                success: true,
                action: "remove".into(),
                bench: before.as_ref().expect("it was there to remove").into(),
            });
            exit::OK
        }
        Ok(Removed::NotFound) => {
            untouched(Code::ConfigError, format!("no bench {name:?} in the inventory"), "")
        }
        Ok(Removed::Live(n)) => untouched(
            Code::ConfigError,
            format!(
                "bench {name} still has {n} live site(s) in the registry (tenants or standbys): \
                 move or drop them (pool drain, cleanup) first; `bench cordon {name}` stops new sign-ups"
            ),
            "",
        ),
        Err(e) => untouched(Code::DbUnavailable, e.to_string(), ""),
    }
}

async fn cordon(conn: &ConnectOpts, name: &str, cordoned: bool) -> u8 {
    let (mut db, registry) = match registry(conn).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    match registry.set_cordoned(&mut db, name, cordoned).await {
        Ok(true) => {
            let action = if cordoned { "cordon" } else { "uncordon" };
            report(&mut db, &registry, action, name).await
        }
        Ok(false) => untouched(
            Code::ConfigError,
            format!("no bench {name:?} in the inventory"),
            "",
        ),
        Err(e) => untouched(Code::DbUnavailable, e.to_string(), ""),
    }
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
