//! Finding the Python the differential tests compare against: the venv `.ci/run` makes
//! (`target/pyvenv`, zxcvbn==4.4.28, passlib==1.7.4 and cryptography==42.0.0), or
//! `FRAPPE_TENANT_PYTHON`.
//! Without it a test skips locally but fails when CI asked for it (`CI=true` or
//! `FRAPPE_TENANT_DIFFERENTIAL=1`), so a broken venv can never look like a pass.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The workspace's root: `target/` (the venv, the cached corpus) is there.
pub fn repo() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match here.parent().and_then(|p| p.parent()) {
        Some(root) if here.ends_with("crates/frappe-password") => root.to_path_buf(),
        _ => here,
    }
}

/// The frappe-password crate's own folder, wherever the test that includes this is.
pub fn crate_dir() -> PathBuf {
    repo().join("crates/frappe-password")
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("FRAPPE_TENANT_DIFFERENTIAL").is_ok_and(|v| v == "1")
}

/// The interpreter, checked to hold the pinned packages; `None` means skip.
pub fn python(test: &str) -> Option<PathBuf> {
    let py = std::env::var_os("FRAPPE_TENANT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/pyvenv/bin/python"));
    let check = Command::new(&py)
        .args([
            "-c",
            "from importlib.metadata import version as v; \
             assert (v('zxcvbn'), v('passlib'), v('cryptography')) == ('4.4.28', '1.7.4', '42.0.0'), \
             (v('zxcvbn'), v('passlib'), v('cryptography'))",
        ])
        .output();
    let problem = match check {
        Ok(o) if o.status.success() => return Some(py),
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    let msg = format!(
        "{test}: no usable Python at {} (needs zxcvbn==4.4.28, passlib==1.7.4 and \
         cryptography==42.0.0; .ci/run makes \
         target/pyvenv, or set FRAPPE_TENANT_PYTHON): {problem}",
        py.display()
    );
    assert!(!required(), "{msg}");
    eprintln!("SKIPPED {msg}");
    None
}
