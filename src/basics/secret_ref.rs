//! Where a secret comes from, stored instead of the secret: `env:NAME` (an environment
//! variable of the run) or `file:/absolute/path` (a file only the tool's user may read).
//! The inventory keeps a database server's reference, never its credentials; each run
//! resolves it.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use super::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(std::path::PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefError {
    /// The value is not repeated: a URL typed where its reference belongs holds the password.
    #[error("not a reference: use env:NAME (NAME: A-Z, 0-9, _) or file:/absolute/path")]
    Malformed,
    #[error("environment variable {0} is not set (or empty)")]
    Unset(String),
    #[error("{path}: {why}")]
    File { path: String, why: String },
}

impl SecretRef {
    pub fn parse(s: &str) -> Result<Self, SecretRefError> {
        let bad = || SecretRefError::Malformed;
        if let Some(name) = s.strip_prefix("env:") {
            let ok = !name.is_empty()
                && name.len() <= 128
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            return ok.then(|| SecretRef::Env(name.to_string())).ok_or_else(bad);
        }
        if let Some(path) = s.strip_prefix("file:") {
            let p = std::path::Path::new(path);
            let ok = p.is_absolute()
                && path.len() <= 1024
                && !p.components().any(|c| c == std::path::Component::ParentDir)
                && !path.contains(['\n', '\r', '\0']);
            return ok.then(|| SecretRef::File(p.to_path_buf())).ok_or_else(bad);
        }
        Err(bad())
    }

    /// The secret, read now. A file must be a regular file owned by this process's user,
    /// readable by nobody else, and is opened without following a link: a path that
    /// someone else controls cannot hand the tool another file.
    pub fn resolve(&self) -> Result<Secret, SecretRefError> {
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
                _ => Err(SecretRefError::Unset(name.clone())),
            },
            SecretRef::File(path) => read_private(path).map_err(|why| SecretRefError::File {
                path: path.display().to_string(),
                why,
            }),
        }
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

fn read_private(path: &std::path::Path) -> Result<Secret, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "is a symbolic link (refused: name the file itself)".into(),
            _ => e.to_string(),
        })?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("is not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "belongs to uid {}, not to the tool's user (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "mode {:o} lets others read it: chmod 600",
            meta.mode() & 0o777
        ));
    }
    let mut text = String::new();
    file.take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    match text.trim() {
        "" => Err("is empty".into()),
        value => Ok(Secret::new(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_env_names_and_absolute_files_are_references() {
        assert_eq!(
            SecretRef::parse("env:DB2_URL"),
            Ok(SecretRef::Env("DB2_URL".into()))
        );
        assert_eq!(
            SecretRef::parse("file:/etc/ft/db2.url"),
            Ok(SecretRef::File("/etc/ft/db2.url".into()))
        );
        for bad in [
            "mysql://root:pw@db2",
            "env:",
            "env:db2",
            "env:2DB",
            "env:A-B",
            "file:relative/path",
            "file:/etc/../root/x",
            "",
        ] {
            assert!(SecretRef::parse(bad).is_err(), "{bad:?} accepted");
        }
        let said = SecretRef::parse("mysql://root:hunter22@db2")
            .unwrap_err()
            .to_string();
        assert!(!said.contains("hunter22"), "{said}");
        assert_eq!(
            SecretRef::parse("file:/etc/ft/db2.url")
                .unwrap()
                .to_string(),
            "file:/etc/ft/db2.url"
        );
    }

    #[test]
    fn a_file_must_be_private_owned_and_not_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("url");
        std::fs::write(&f, "mysql://root:pw@127.0.0.1:3307\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = SecretRef::File(f.clone());
        assert!(r.resolve().unwrap_err().to_string().contains("chmod 600"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            r.resolve().unwrap().expose(),
            "mysql://root:pw@127.0.0.1:3307"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let e = SecretRef::File(link).resolve().unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = SecretRef::File(dir.path().to_path_buf())
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn an_unset_variable_is_said_by_name() {
        let r = SecretRef::Env("FT_TEST_SURELY_UNSET_VARIABLE".into());
        assert_eq!(
            r.resolve().unwrap_err(),
            SecretRefError::Unset("FT_TEST_SURELY_UNSET_VARIABLE".into())
        );
    }
}
