//! `schema [NAME] [--write DIR]`: the JSON Schemas of every command's stdout.

use std::path::Path;

use crate::error::Error;
use crate::output::{schema, schema_names, Output};
use crate::progress::progress;

/// `schema [NAME] [--write DIR]`: one schema, every schema keyed by name, or one file per
/// schema written into DIR (then nothing on stdout).
pub fn run(name: Option<&str>, write: Option<&Path>) -> Result<Output, Error> {
    let names: Vec<&str> = match name {
        Some(n) => vec![n],
        None => schema_names(),
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("JSON") + "\n";
    let Some(dir) = write else {
        let text = match names.as_slice() {
            [one] => pretty(&schema(one).expect("a known name")),
            _ => pretty(&serde_json::Value::Object(
                names
                    .iter()
                    .map(|n| (n.to_string(), schema(n).expect("a known name")))
                    .collect(),
            )),
        };
        return Ok(Output::Text(text));
    };
    let failed = |what: &Path, e: std::io::Error| Error::config(format!("{}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    for n in names {
        let path = dir.join(format!("{n}.schema.json"));
        std::fs::write(&path, pretty(&schema(n).expect("a known name")))
            .map_err(|e| failed(&path, e))?;
        progress(&format!("wrote {}", path.display()));
    }
    Ok(Output::Text(String::new()))
}
