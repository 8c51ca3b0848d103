//! A MariaDB server of the test's own: `mariadb-install-db` into a temporary directory and
//! a `mariadbd` on 127.0.0.1 only, stopped and deleted when the test ends. Tests whose tool
//! scans or drops across the whole server (`cleanup --orphans`, the fault soak) run on one,
//! so nothing another test makes at the same time can look like their orphan, and nothing
//! of theirs can hurt another test. `mariadb-install-db` runs once per test process; each
//! server starts on a copy of that fresh data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MariaDbServer {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// root's password, once `protect_root` gave it one.
    root_password: Option<String>,
}

fn binary(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("these tests need {name} (Debian's mariadb-server); .ci/run installs it")
}

/// A fresh data directory, made once per test process (50 servers each bootstrapping their
/// own cost more than a minute of the suite); it lives as long as the process.
fn initial_data_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Its own temporary directory: servers bootstrapped at once in a shared /tmp take
        // each other's temporary tables (seen: "Unknown table 'mysql.tmp_user_sys'").
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let out = Command::new(binary("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// `cp -r` of a data directory that no server runs on.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
}

impl MariaDbServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        copy_dir(&initial_data_dir().join("data"), &data);
        // A port taken by someone else makes mariadbd exit at once: try another. No port
        // is chosen by binding and releasing it, which another process could take between.
        for _ in 0..20 {
            let port = 20000 + rand::random::<u16>() % 40000;
            let mut child = Command::new(binary("mariadbd"))
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg(format!("--socket={}", dir.path().join("sock").display()))
                .arg(format!("--pid-file={}", dir.path().join("pid").display()))
                .arg(format!(
                    "--log-error={}",
                    dir.path().join("err.log").display()
                ))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1",
                    "--user=root",
                    "--skip-name-resolve",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=32M",
                    "--innodb-log-file-size=16M",
                    "--max-connections=500",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            // Ready is our own socket answering with the port we asked for: something
            // else listening on that port (a fake Frappe, another test's server) makes
            // mariadbd exit instead, and then another port is tried.
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if socket_says_port(&dir.path().join("sock")) == Some(port) {
                    return MariaDbServer {
                        dir,
                        child,
                        port,
                        root_password: None,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "mariadbd did not start: {}",
                        std::fs::read_to_string(dir.path().join("err.log")).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "mariadbd did not start on any of 20 ports: {}",
            std::fs::read_to_string(dir.path().join("err.log")).unwrap_or_default()
        )
    }

    /// `mysql://root@127.0.0.1:<port>`: root without a password, as on the CI server,
    /// unless `protect_root` gave it one.
    pub fn url(&self) -> String {
        match &self.root_password {
            Some(p) => format!("mysql://root:{p}@127.0.0.1:{}", self.port),
            None => format!("mysql://root@127.0.0.1:{}", self.port),
        }
    }

    /// Gives root a random password (as a real server's admin has), so a test can look
    /// for it where no secret may go. Returns it.
    pub fn protect_root(&mut self) -> String {
        let password = format!("Root{:016x}", rand::random::<u64>());
        // Every root account a local client can reach: TCP from 127.0.0.1 or ::1, and
        // the socket mysql_async switches to for a local server (`prefer_socket`), which
        // logs in as root@localhost. One statement: the first change would lock the next
        // out. (Host-name accounts are dead with --skip-name-resolve.)
        let accounts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|h| format!("'root'@'{h}' IDENTIFIED BY '{password}'"))
            .collect();
        super::sql_at(
            &self.url(),
            &format!("ALTER USER {}", accounts.join(", ")),
            vec![],
        );
        self.root_password = Some(password.clone());
        password
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `SELECT @@port` as root through a server's own unix socket.
fn socket_says_port(sock: &Path) -> Option<u16> {
    let out = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", sock.display()))
        .args(["-u", "root", "-N", "-B", "-e", "SELECT @@port"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
