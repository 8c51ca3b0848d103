//! `schema [NAME] [--write DIR]`: the JSON Schemas of every command's stdout.

use crate::output::{schema, schema_names};
use std::path::Path;

/// `schema [NAME] [--write DIR]`.
pub fn run(name: Option<&str>, write: Option<&Path>) -> Result<(), String> {
    let names: Vec<&str> = match name {
        Some(n) => vec![n],
        None => schema_names(),
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
