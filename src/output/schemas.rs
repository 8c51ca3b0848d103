//! The JSON Schemas (draft 2020-12) of every command's stdout, generated from the types
//! of `output` themselves, so the checked-in `schema/` and the TypeScript types made from
//! it cannot drift from what the tool prints (a test compares them). One table names them.
//!
//! Each output is the command's report or, when the command stops before doing anything
//! (bad configuration, MariaDB unreachable, a usage error), the shared failure object.

use schemars::JsonSchema;

use super::{
    BackupReport, BenchListReport, BenchReport, CleanupReport, DbServerListReport, DbServerReport,
    Failure, ListReport, LoginLinkReport, PlanReport, PoolFillOutput, PoolStatusReport,
    ProvisionPlan, ProvisionSuccess, SuspensionReport, TemplateReport, UsageReport, VerifyReport,
};

/// provision: success or failure, told apart by `success`.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
enum ProvisionOutput {
    Success(ProvisionSuccess),
    Failure(Failure),
}

/// Any other command: its report, or the failure object when it could not start.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum Or<R> {
    Report(R),
    Failure(Failure),
}

macro_rules! outputs {
    ($($name:literal => $ty:ty),* $(,)?) => {
        /// Every output: its name (`schema NAME`, `schema/NAME.schema.json`) and its type.
        const OUTPUTS: &[(&str, fn() -> schemars::Schema)] = &[$(($name, {
            fn make() -> schemars::Schema {
                schemars::schema_for!($ty)
            }
            make
        })),*];
    };
}

outputs! {
    "provision" => ProvisionOutput,
    "provision-dry-run" => Or<ProvisionPlan>,
    "verify" => Or<VerifyReport>,
    "list" => Or<ListReport>,
    "cleanup" => Or<CleanupReport>,
    "template-build" => Or<TemplateReport>,
    "template-status" => Or<TemplateReport>,
    "pool-fill" => Or<PoolFillOutput>,
    "pool-status" => Or<PoolStatusReport>,
    "pool-drain" => Or<CleanupReport>,
    "bench" => Or<BenchReport>,
    "bench-list" => Or<BenchListReport>,
    "db-server" => Or<DbServerReport>,
    "db-server-list" => Or<DbServerListReport>,
    "login-link" => Or<LoginLinkReport>,
    "suspend" => Or<SuspensionReport>,
    "resume" => Or<SuspensionReport>,
    "plan-set" => Or<PlanReport>,
    "usage" => Or<UsageReport>,
    "backup" => Or<BackupReport>,
}

/// The names of every output, in the table's order.
pub fn schema_names() -> Vec<&'static str> {
    OUTPUTS.iter().map(|(name, _)| *name).collect()
}

/// The schema of output `name`, titled.
pub fn schema(name: &str) -> Option<serde_json::Value> {
    let (_, make) = OUTPUTS.iter().find(|(n, _)| *n == name)?;
    let mut v = serde_json::to_value(make()).expect("a schema serializes");
    v["title"] = format!("frappe-tenant {} output", name.replace('-', " ")).into();
    Some(v)
}
