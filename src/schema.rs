//! The JSON Schemas (draft 2020-12) of every command's stdout, generated from the report
//! types themselves so the checked-in `schema/` and the TypeScript types made from it
//! cannot drift from what the tool prints (a test compares them).
//!
//! Each output is the command's report or, when the command stops before doing anything
//! (bad configuration, MariaDB unreachable, a usage error), the shared failure object.

use std::path::Path;

use schemars::JsonSchema;

use crate::commands::{bench, list, pool, provision, template, verify};
use crate::shared::cli::SCHEMA_NAMES;
use crate::shared::report::{CleanupReport, Failure, ProvisionSuccess};

/// provision: success or failure, told apart by `success`.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum ProvisionOutput {
    Success(ProvisionSuccess),
    Failure(Failure),
}

/// Any other command: its report, or the failure object when it could not start.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum Output<R> {
    Report(R),
    Failure(Failure),
}

/// The schema of output `name` (one of `SCHEMA_NAMES`).
pub fn schema(name: &str) -> Option<serde_json::Value> {
    let s = match name {
        "provision" => schemars::schema_for!(ProvisionOutput),
        "provision-dry-run" => schemars::schema_for!(Output<provision::ProvisionPlan>),
        "verify" => schemars::schema_for!(Output<verify::VerifyReport>),
        "list" => schemars::schema_for!(Output<list::ListReport>),
        "cleanup" | "pool-drain" => schemars::schema_for!(Output<CleanupReport>),
        "template-build" | "template-status" => {
            schemars::schema_for!(Output<template::TemplateReport>)
        }
        "pool-fill" => schemars::schema_for!(Output<pool::PoolFillOutput>),
        "pool-status" => schemars::schema_for!(Output<pool::PoolStatusReport>),
        "bench" => schemars::schema_for!(Output<bench::BenchReport>),
        "bench-list" => schemars::schema_for!(Output<bench::BenchListReport>),
        _ => return None,
    };
    let mut v = serde_json::to_value(s).expect("a schema serializes");
    v["title"] = format!("frappe-tenant {} output", name.replace('-', " ")).into();
    Some(v)
}

/// `schema [NAME] [--write DIR]`.
pub fn run(name: Option<&str>, write: Option<&Path>) -> Result<(), String> {
    let names: Vec<&str> = match name {
        Some(n) => vec![n],
        None => SCHEMA_NAMES.to_vec(),
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("JSON") + "\n";
    match write {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for n in names {
                let path = dir.join(format!("{n}.schema.json"));
                std::fs::write(&path, pretty(&schema(n).expect("a known name")))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        None if names.len() == 1 => print!("{}", pretty(&schema(names[0]).expect("known"))),
        None => {
            let all: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .map(|n| (n.to_string(), schema(n).expect("known")))
                .collect();
            print!("{}", pretty(&serde_json::Value::Object(all)));
        }
    }
    Ok(())
}
