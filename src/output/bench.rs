//! `bench add|list|remove|cordon|uncordon`: the inventory as the commands print it.

use serde::Serialize;

use crate::outside::mariadb::registry::{DbServer as ServerRow, InventoryBench, Load};

/// One bench of the inventory, as the commands print it (mapped from the registry's row).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bench {
    pub name: String,
    pub bench_id: String,
    /// `docker`, `kubectl` or `local`.
    pub executor: String,
    pub docker_service: Option<String>,
    pub kubectl_target: Option<String>,
    pub kubectl_namespace: Option<String>,
    pub kubectl_container: Option<String>,
    pub bench_path: Option<String>,
    pub bench_bin: Option<String>,
    pub frappe_url: String,
    pub site_domain: String,
    /// `no-mariadb-socket` or `login-scope`.
    pub db_host_flag: String,
    /// Most tenant sites (provisioning, active, claimed) the bench takes; none: no limit.
    pub capacity: Option<u32>,
    /// A cordoned bench gets no new sign-ups.
    pub cordoned: bool,
    pub created_at: String,
    /// The database server (`db-server add`) its sites live on; none: the registry's.
    pub db_server: Option<String>,
    /// Its web workers: sign-ups served over REST at once, the others queued; none: no limit.
    pub web_workers: Option<u32>,
}

impl From<&InventoryBench> for Bench {
    fn from(b: &InventoryBench) -> Self {
        Bench {
            name: b.name.clone(),
            bench_id: b.bench_id.clone(),
            executor: b.executor.clone(),
            docker_service: b.docker_service.clone(),
            kubectl_target: b.kubectl_target.clone(),
            kubectl_namespace: b.kubectl_namespace.clone(),
            kubectl_container: b.kubectl_container.clone(),
            bench_path: b.bench_path.clone(),
            bench_bin: b.bench_bin.clone(),
            frappe_url: b.frappe_url.clone(),
            site_domain: b.site_domain.clone(),
            db_host_flag: b.db_host_flag.clone(),
            capacity: b.capacity,
            cordoned: b.cordoned,
            created_at: b.created_at.clone(),
            db_server: b.db_server.as_ref().map(|s| s.name.clone()),
            web_workers: b.web_workers,
        }
    }
}

/// The sites a bench holds now, by the registry.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenchLoad {
    /// Tenants (provisioning, active, claimed): what capacity counts.
    pub tenants: u64,
    /// Standby sites ready in its pool.
    pub standby: u64,
}

impl From<Load> for BenchLoad {
    fn from(l: Load) -> Self {
        BenchLoad {
            tenants: l.tenants,
            standby: l.standby,
        }
    }
}

/// What add, remove, cordon and uncordon print: the bench as it is now (as it was, for
/// remove).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    pub success: bool,
    /// `add`, `remove`, `cordon` or `uncordon`.
    pub action: String,
    pub bench: Bench,
}

/// `bench list`: every bench with the sites the registry has on it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenchListReport {
    pub success: bool,
    pub benches: Vec<BenchEntry>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BenchEntry {
    #[serde(flatten)]
    pub bench: Bench,
    pub load: BenchLoad,
}

/// A database server of the inventory, as the commands print it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbServer {
    pub name: String,
    /// Where its admin URL comes from (`env:NAME` or `file:/path`); never the URL.
    pub url_from: String,
    /// Most tenants placement puts on it; none: no limit.
    pub capacity: Option<u32>,
    pub created_at: String,
    /// The benches that keep their sites on it.
    pub benches: Vec<String>,
    /// Its live tenants (provisioning, active, claimed, suspended), by the registry.
    pub tenants: u64,
}

impl DbServer {
    pub fn of(s: &ServerRow, benches: Vec<String>, tenants: u64) -> Self {
        DbServer {
            name: s.name.clone(),
            url_from: s.url_from.clone(),
            capacity: s.capacity,
            created_at: s.created_at.clone(),
            benches,
            tenants,
        }
    }
}

/// What `db-server add` and `remove` print: the server as it is now (as it was, for remove).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbServerReport {
    pub success: bool,
    /// `add` or `remove`.
    pub action: String,
    pub server: DbServer,
}

/// `db-server list`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbServerListReport {
    pub success: bool,
    pub servers: Vec<DbServer>,
}
