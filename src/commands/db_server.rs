//! `db-server add|list|remove`: the database servers benches of the inventory may keep
//! their sites on (`bench add --db-server NAME`). The inventory stores where each
//! server's admin URL comes from, never the URL; `add` resolves it and connects once.

use std::collections::BTreeMap;

use crate::basics::secret_ref::SecretRef;
use crate::cli::{ConnectOpts, DbServerAddArgs, DbServerCommand};
use crate::context::{registry, resolve_server, valid_name};
use crate::error::Error;
use crate::output::{DbServer, DbServerListReport, DbServerReport, Output};
use crate::outside::mariadb::registry::{DbServer as ServerRow, Registry, ServerRemoved};
use crate::outside::mariadb::{Db, DbTarget};
use crate::progress::progress;

pub async fn run(cmd: DbServerCommand) -> Result<Output, Error> {
    match cmd {
        DbServerCommand::Add(args) => add(args).await,
        DbServerCommand::List(args) => list(&args.conn).await,
        DbServerCommand::Remove(args) => remove(&args.conn, &args.name).await,
    }
}

async fn add(args: DbServerAddArgs) -> Result<Output, Error> {
    if !valid_name(&args.name) {
        return Err(Error::invalid(format!(
            "invalid input: database server name {:?} must be 1 to 64 letters, digits, '-' or '_', and not auto or all",
            args.name
        )));
    }
    SecretRef::parse(&args.url_from).map_err(|e| Error::invalid(format!("--url-from: {e}")))?;
    let target = resolve_server(&args.name, &args.url_from)?;
    let (mut db, registry) = registry(&args.conn).await?;
    progress(&format!("Connecting to database server {}...", args.name));
    let mut server = target.connect().await?;
    let here = identity(&mut server).await?;
    // One server under two names would split what cleanup and capacity count for it.
    let control =
        DbTarget::parse(&args.conn.mariadb_url).map_err(|e| Error::config(e.to_string()))?;
    if identity(&mut control.connect().await?).await? == here {
        return Err(Error::config(format!(
            "database server {} is the registry's own server ({here}): benches without --db-server use it already",
            args.name
        )));
    }
    for other in registry.servers(&mut db).await? {
        let Ok(t) = resolve_server(&other.name, &other.url_from) else {
            continue;
        };
        let Ok(mut c) = t.connect().await else {
            continue;
        };
        if identity(&mut c).await.ok().as_deref() == Some(here.as_str()) {
            return Err(Error::config(format!(
                "database server {} is {} again ({here})",
                args.name, other.name
            )));
        }
    }
    let row = ServerRow {
        name: args.name.clone(),
        url_from: args.url_from.clone(),
        capacity: args.capacity,
        created_at: String::new(),
    };
    if registry.add_server(&mut db, &row).await.is_err() {
        return Err(Error::config(format!(
            "a database server named {} is already in the inventory",
            args.name
        )));
    }
    progress(&format!("✓ database server {} added ({here})", args.name));
    let server = described(&mut db, &registry, &args.name).await?;
    Ok(Output::DbServer(DbServerReport {
        success: true,
        action: "add".into(),
        server,
    }))
}

/// Which server a connection reached: its host name, port and data directory.
async fn identity(db: &mut Db) -> Result<String, Error> {
    Ok(db.server_identity().await?)
}

async fn described(db: &mut Db, registry: &Registry, name: &str) -> Result<DbServer, Error> {
    all(db, registry)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::config(format!("no database server {name:?} in the inventory")))
}

/// Every server with its benches and live tenants.
async fn all(db: &mut Db, registry: &Registry) -> Result<Vec<DbServer>, Error> {
    let servers = registry.servers(db).await?;
    let loads = registry.server_loads(db).await?;
    let mut benches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in registry.benches(db).await? {
        if let Some(s) = b.db_server {
            benches.entry(s.name).or_default().push(b.name);
        }
    }
    Ok(servers
        .iter()
        .map(|s| {
            let tenants = loads.get(&Some(s.name.clone())).copied().unwrap_or(0);
            DbServer::of(s, benches.remove(&s.name).unwrap_or_default(), tenants)
        })
        .collect())
}

async fn list(conn: &ConnectOpts) -> Result<Output, Error> {
    let (mut db, registry) = registry(conn).await?;
    Ok(Output::DbServerList(DbServerListReport {
        success: true,
        servers: all(&mut db, &registry).await?,
    }))
}

async fn remove(conn: &ConnectOpts, name: &str) -> Result<Output, Error> {
    let (mut db, registry) = registry(conn).await?;
    let before = described(&mut db, &registry, name).await?;
    match registry.remove_server(&mut db, name).await? {
        ServerRemoved::Removed => {
            progress(&format!(
                "✓ database server {name} removed from the inventory"
            ));
            Ok(Output::DbServer(DbServerReport {
                success: true,
                action: "remove".into(),
                server: before,
            }))
        }
        ServerRemoved::NotFound => Err(Error::config(format!(
            "no database server {name:?} in the inventory"
        ))),
        ServerRemoved::InUse(benches) => Err(Error::config(format!(
            "database server {name} still holds the sites of bench(es) {}: remove them first",
            benches.join(", ")
        ))),
    }
}
