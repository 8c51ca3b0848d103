//! The TypeScript client (clients/typescript) against the real binary and the same strict
//! doubles as the other black-box tests: each case sets up the bench double, the fake
//! Frappe and MariaDB, then runs one compiled `node --test` file with the tool's env.
//! Without Node or `npm ci` these skip locally, but fail when CI=true: CI must never pass
//! by testing nothing.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/typescript")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Compiles the client once per test run, so a case never runs yesterday's `dist/`.
/// False means skip: Node, npm or the client's node_modules is missing outside CI.
fn client_built() -> bool {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let missing = BUILT.get_or_init(|| {
        for tool in ["node", "npm"] {
            if Command::new(tool).arg("--version").output().is_err() {
                return Err(format!("{tool} is not installed"));
            }
        }
        if !client_dir().join("node_modules/.bin/tsc").exists() {
            return Err("clients/typescript has no node_modules: run `npm ci` there".into());
        }
        let out = Command::new("npm")
            .args(["run", "build"])
            .current_dir(client_dir())
            .output()
            .unwrap();
        // A type error is a broken client, not a missing tool: fail everywhere.
        assert!(out.status.success(), "{}", show("npm run build", &out));
        Ok(())
    });
    match missing {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("CI=true and the TypeScript client cannot run: {why}"),
        Err(why) => {
            eprintln!("skipping the TypeScript client tests: {why}");
            false
        }
    }
}

/// Runs `dist/test/<file>.test.js` with `env` and fails the test unless every node test in
/// it passed (and there was at least one).
fn node_test(file: &str, env: Vec<(String, String)>) {
    let out = Command::new("node")
        .args(["--test", "--test-reporter=tap"])
        .arg(format!("dist/test/{file}.test.js"))
        .current_dir(client_dir())
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let count = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {key} ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert!(
        out.status.success() && count("pass").is_some_and(|n| n > 0) && count("fail") == Some(0),
        "{}",
        show(&format!("node --test {file}"), &out)
    );
}

use common::SignUp as Case;

impl Case {
    /// The env `tool()` gives the binary, plus what the node case needs to run it.
    fn run_node(&self, file: &str) {
        let tool = tool(&self.bench, &self.frappe);
        let mut env: Vec<(String, String)> = tool
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
            .collect();
        env.extend([
            (
                "FRAPPE_TENANT_BIN".into(),
                env!("CARGO_BIN_EXE_frappe-tenant").into(),
            ),
            ("FT_SUBDOMAIN".into(), self.sub.clone()),
            ("FT_PASSWORD".into(), PASSWORD.into()),
        ]);
        node_test(file, env);
    }

    fn assert_nothing_left(&self) {
        assert_site_gone(&self.bench, &self.site);
    }
}

#[test]
fn a_sign_up_through_the_readme_example_succeeds() {
    if !client_built() {
        return;
    }
    let c = Case::new(&[]);
    c.run_node("success");
    assert!(database_exists(&c.db()) && db_user_exists(&c.db()));
    assert_eq!(c.frappe.calls("get-logged-user"), 1);
    c.frappe.assert_no_unexpected();
}

#[test]
fn invalid_input_is_a_typed_failure_with_exit_code_2() {
    if !client_built() {
        return;
    }
    let c = Case::new(&[]);
    c.run_node("invalid-input");
    assert!(c.bench.calls().is_empty(), "bench must not run");
    c.assert_nothing_left();
}

#[test]
fn an_existing_site_is_a_typed_failure_with_exit_code_1() {
    if !client_built() {
        return;
    }
    let c = Case::new(&[]);
    let config = c.bench.site_dir(&c.site).join("site_config.json");
    std::fs::create_dir_all(c.bench.site_dir(&c.site)).unwrap();
    std::fs::write(&config, "{\"db_name\":\"someone_elses\"}").unwrap();
    c.run_node("site-exists");
    assert!(c.bench.calls().is_empty(), "bench must not run");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "{\"db_name\":\"someone_elses\"}"
    );
}

#[test]
fn a_rolled_back_failure_lists_its_undos() {
    if !client_built() {
        return;
    }
    let mut c = Case::new(&[]);
    c.frappe = FakeFrappe::start(&c.bench).inject("create-user", Inject::Status(500, "boom"));
    c.run_node("rolled-back");
    c.assert_nothing_left();
}

#[test]
fn the_helpers_timeout_stops_the_tool_which_rolls_back() {
    if !client_built() {
        return;
    }
    let mut c = Case::new(&[]);
    c.frappe = FakeFrappe::start(&c.bench).inject("create-user", Inject::Hang);
    c.run_node("timeout");
    assert_eq!(c.frappe.calls("create-user"), 1, "the tool never got going");
    c.assert_nothing_left();
}

#[test]
fn the_helper_reports_runs_that_end_without_the_tools_json() {
    if !client_built() {
        return;
    }
    node_test(
        "offline",
        vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
    );
}

#[test]
fn the_checked_in_types_are_generated_from_the_schemas() {
    if !client_built() {
        return;
    }
    let out = Command::new("node")
        .args(["scripts/gen-types.mjs", "--check"])
        .current_dir(client_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        show("npm run gen-types -- --check", &out)
    );
}

#[test]
fn the_readme_shows_the_example_the_tests_run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(client_dir().join("examples/signup.ts")).unwrap();
    let section = readme
        .split("\n## Use from signup.ts")
        .nth(1)
        .expect("README has a 'Use from signup.ts' section");
    let block = section
        .split_once("```ts\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("that section has a ```ts block");
    assert_eq!(
        block, example,
        "README's TypeScript usage must be clients/typescript/examples/signup.ts, verbatim"
    );
}
