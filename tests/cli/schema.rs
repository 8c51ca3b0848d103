//! The contract callers compile against: the checked-in `schema/` must be exactly what
//! the built binary generates from its report types, so a changed field fails here (and
//! regenerating the schema regenerates the TypeScript types made from it).

use std::process::Command;

use serde_json::Value;

fn generated(name: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_frappe-tenant"))
        .args(["schema", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_checked_in_schemas_are_what_the_binary_generates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let names = frappe_tenant::output::schema_names();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("{n}.schema.json")).collect();
    want.sort();
    assert_eq!(files, want, "schema/ holds exactly one file per output");
    for name in names {
        let text = std::fs::read_to_string(dir.join(format!("{name}.schema.json"))).unwrap();
        let checked_in: Value = serde_json::from_str(&text).unwrap();
        assert!(
            checked_in == generated(name),
            "schema/{name}.schema.json is stale: run `frappe-tenant schema --write schema/` \
             and regenerate the TypeScript types (see clients/typescript)"
        );
    }
}

#[test]
fn provision_success_and_failure_are_told_apart_by_success() {
    let s = generated("provision");
    let defs = &s["$defs"];
    assert_eq!(
        defs["ProvisionSuccess"]["properties"]["success"]["const"],
        true
    );
    assert_eq!(defs["Failure"]["properties"]["success"]["const"], false);
    for field in [
        "success",
        "site",
        "url",
        "email",
        "apiKey",
        "apiSecret",
        "organizationName",
        "elapsed",
    ] {
        assert!(
            defs["ProvisionSuccess"]["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from(field)),
            "the seed's success field {field} must stay required"
        );
    }
    for field in ["success", "error", "site"] {
        assert!(
            defs["Failure"]["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from(field)),
            "the seed's failure field {field} must stay required"
        );
    }
}

#[test]
fn the_schema_rejects_a_success_without_its_keys() {
    let s = generated("provision");
    let v = jsonschema::validator_for(&s).unwrap();
    let ok = serde_json::json!({"success": false, "error": "x", "site": "a.localhost",
        "code": "INVALID_INPUT", "rollback": [], "warnings": [], "elapsed": 0.0});
    assert!(v.is_valid(&ok));
    let no_keys = serde_json::json!({"success": true, "site": "a.localhost",
        "url": "http://a.localhost", "email": "a@b.co", "organizationName": "O",
        "elapsed": 1.0, "waited": 0.5, "dbName": "ft_0", "path": "fresh", "warnings": [],
        "steps": []});
    assert!(
        !v.is_valid(&no_keys),
        "a success without apiKey/apiSecret passed"
    );
    let mixed = serde_json::json!({"success": true, "error": "x", "site": "a.localhost",
        "code": "INVALID_INPUT", "rollback": [], "warnings": [], "elapsed": 0.0});
    assert!(!v.is_valid(&mixed), "a failure claiming success passed");
}
