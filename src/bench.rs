//! Runs bench, the only outside program the tool starts: through `docker compose exec -T`
//! or a local bench directory. Never through a shell: arguments are a vector, secrets go
//! to the child's stdin as answers to Frappe's getpass prompts (never into argv), and the
//! child's output is captured, redacted and never reaches our stdout.

use std::path::PathBuf;
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

use crate::secret::{redact, Secret};

/// How bench is reached.
#[derive(Debug, Clone)]
pub enum Executor {
    /// `docker compose exec -T [-w workdir] <service> timeout … bench …`
    Docker {
        service: String,
        workdir: Option<String>,
    },
    /// `<bin> …` with the bench directory as working directory.
    Local { bin: PathBuf, path: PathBuf },
}

/// How `new-site` is told to create the site's DB user for host `%`, so every container
/// can reach it: `--no-mariadb-socket` (v15 up to 15.47) or
/// `--mariadb-user-host-login-scope=%` (15.47.2 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbHostFlag {
    NoMariadbSocket,
    LoginScope,
}

/// The MariaDB account bench uses to create and drop site databases.
#[derive(Debug, Clone)]
pub struct RootCredentials {
    pub user: String,
    pub password: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`bench {action}` failed ({status}): {output}")]
    Failed {
        action: String,
        status: String,
        output: String,
    },
    #[error("`bench {action}` did not finish before the deadline and was killed")]
    TimedOut { action: String },
    #[error("reading {what}: {detail}")]
    Read { what: String, detail: String },
}

/// The keys of `common_site_config.json` that change which prompts bench shows.
#[derive(Debug, Default, Deserialize)]
pub struct CommonConfig {
    pub root_password: Option<String>,
    pub admin_password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Bench {
    pub executor: Executor,
    pub db_host_flag: DbHostFlag,
}

/// Keeps the last bytes of child output: enough for an error message, bounded.
const OUTPUT_TAIL: usize = 4000;

impl Bench {
    /// `bench new-site`. Answers Frappe's prompts in the order it asks them: the MariaDB
    /// root password (unless common_site_config.json has one), then the Administrator
    /// password twice (unless common_site_config.json has one).
    pub async fn new_site(
        &self,
        site: &str,
        db_name: &str,
        root: &RootCredentials,
        admin_password: &Secret,
        common: &CommonConfig,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let mut args = vec![
            "new-site".into(),
            site.into(),
            "--db-name".into(),
            db_name.into(),
        ];
        args.extend(["--db-root-username".into(), root.user.clone()]);
        args.push(match self.db_host_flag {
            DbHostFlag::NoMariadbSocket => "--no-mariadb-socket".into(),
            DbHostFlag::LoginScope => "--mariadb-user-host-login-scope=%".into(),
        });
        let mut answers = Vec::new();
        if common.root_password.is_none() {
            answers.push(&root.password);
        }
        if common.admin_password.is_none() {
            answers.extend([admin_password, admin_password]);
        }
        self.run(
            "new-site",
            args,
            &answers,
            &[&root.password, admin_password],
            deadline,
        )
        .await?;
        Ok(())
    }

    /// `bench --site <site> install-app <app>`.
    pub async fn install_app(
        &self,
        site: &str,
        app: &str,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let args = vec![
            "--site".into(),
            site.into(),
            "install-app".into(),
            app.into(),
        ];
        self.run("install-app", args, &[], &[], deadline).await?;
        Ok(())
    }

    /// `bench drop-site <site> --force --no-backup`; the folder moves to archived/sites.
    pub async fn drop_site(
        &self,
        site: &str,
        root: &RootCredentials,
        common: &CommonConfig,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let args = vec![
            "drop-site".into(),
            site.into(),
            "--force".into(),
            "--no-backup".into(),
            "--db-root-username".into(),
            root.user.clone(),
        ];
        let answers = if common.root_password.is_none() {
            vec![&root.password]
        } else {
            vec![]
        };
        self.run("drop-site", args, &answers, &[&root.password], deadline)
            .await?;
        Ok(())
    }

    /// Reads a file under the bench's `sites/` folder; `None` when it does not exist.
    pub async fn read_sites_file(
        &self,
        rel: &str,
        deadline: Instant,
    ) -> Result<Option<String>, BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                match tokio::fs::read_to_string(path.join("sites").join(rel)).await {
                    Ok(s) => Ok(Some(s)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(BenchError::Read {
                        what: format!("sites/{rel}"),
                        detail: e.to_string(),
                    }),
                }
            }
            Executor::Docker { .. } => {
                let out = self
                    .exec_raw("cat", vec![format!("sites/{rel}")], deadline)
                    .await?;
                match out {
                    (true, stdout, _) => Ok(Some(stdout)),
                    (false, _, stderr) if stderr.contains("No such file") => Ok(None),
                    (false, _, stderr) => Err(BenchError::Read {
                        what: format!("sites/{rel}"),
                        detail: stderr,
                    }),
                }
            }
        }
    }

    /// Whether `sites/<site>` exists at all (a failed new-site leaves a bare folder).
    pub async fn site_dir_exists(&self, site: &str, deadline: Instant) -> Result<bool, BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                Ok(tokio::fs::try_exists(path.join("sites").join(site))
                    .await
                    .map_err(|e| BenchError::Read {
                        what: format!("sites/{site}"),
                        detail: e.to_string(),
                    })?)
            }
            Executor::Docker { .. } => {
                let (ok, _, _) = self
                    .exec_raw("test", vec!["-e".into(), format!("sites/{site}")], deadline)
                    .await?;
                Ok(ok)
            }
        }
    }

    /// Removes `sites/<site>` when bench could not (its config was never written).
    /// `site` is a validated DNS name, so it cannot climb out of `sites/`.
    pub async fn remove_site_dir(&self, site: &str, deadline: Instant) -> Result<(), BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                tokio::fs::remove_dir_all(path.join("sites").join(site))
                    .await
                    .map_err(|e| BenchError::Read {
                        what: format!("sites/{site}"),
                        detail: e.to_string(),
                    })
            }
            Executor::Docker { .. } => {
                let (ok, _, stderr) = self
                    .exec_raw(
                        "rm",
                        vec!["-rf".into(), "--".into(), format!("sites/{site}")],
                        deadline,
                    )
                    .await?;
                if ok {
                    Ok(())
                } else {
                    Err(BenchError::Read {
                        what: format!("sites/{site}"),
                        detail: stderr,
                    })
                }
            }
        }
    }

    pub async fn common_config(&self, deadline: Instant) -> Result<CommonConfig, BenchError> {
        let Some(text) = self
            .read_sites_file("common_site_config.json", deadline)
            .await?
        else {
            return Ok(CommonConfig::default());
        };
        serde_json::from_str(&text).map_err(|e| BenchError::Read {
            what: "sites/common_site_config.json".into(),
            detail: e.to_string(),
        })
    }

    /// The apps the bench has (`sites/apps.txt`), to skip installing an absent app
    /// without paying for a bench start.
    pub async fn available_apps(&self, deadline: Instant) -> Result<Vec<String>, BenchError> {
        let text = self
            .read_sites_file("apps.txt", deadline)
            .await?
            .unwrap_or_default();
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// The argv for `bench <args>` under this executor. Inside a container the command runs
    /// under coreutils `timeout`, because killing the docker client does not stop the
    /// process it started in the container.
    pub fn argv(&self, args: Vec<String>, seconds_left: u64) -> (String, Vec<String>) {
        match &self.executor {
            Executor::Local { bin, .. } => (bin.display().to_string(), args),
            Executor::Docker { .. } => {
                let mut inner = vec![
                    "timeout".into(),
                    "--kill-after=5".into(),
                    seconds_left.max(1).to_string(),
                    "bench".into(),
                ];
                inner.extend(args);
                self.docker_argv(inner)
            }
        }
    }

    fn docker_argv(&self, inner: Vec<String>) -> (String, Vec<String>) {
        let Executor::Docker { service, workdir } = &self.executor else {
            unreachable!("docker only")
        };
        let mut argv: Vec<String> = vec!["compose".into(), "exec".into(), "-T".into()];
        if let Some(w) = workdir {
            argv.extend(["-w".into(), w.clone()]);
        }
        argv.push(service.clone());
        argv.extend(inner);
        ("docker".into(), argv)
    }

    /// A plain program in the container (cat, test, rm): (succeeded, stdout, stderr).
    async fn exec_raw(
        &self,
        program: &str,
        args: Vec<String>,
        deadline: Instant,
    ) -> Result<(bool, String, String), BenchError> {
        let mut inner = vec![program.to_string()];
        inner.extend(args);
        let (prog, argv) = self.docker_argv(inner);
        let out = spawn_and_wait(&prog, &argv, None, &[], deadline)
            .await
            .map_err(|e| match e {
                RunError::Spawn(source) => BenchError::Spawn {
                    program: prog.clone(),
                    source,
                },
                RunError::TimedOut => BenchError::TimedOut {
                    action: program.into(),
                },
            })?;
        Ok((out.status.success(), out.stdout, out.stderr))
    }

    async fn run(
        &self,
        action: &str,
        args: Vec<String>,
        answers: &[&Secret],
        secrets: &[&Secret],
        deadline: Instant,
    ) -> Result<Captured, BenchError> {
        let seconds_left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let (program, argv) = self.argv(args, seconds_left);
        tracing::debug!(%program, ?argv, "running bench");
        let cwd = match &self.executor {
            Executor::Local { path, .. } => Some(path.clone()),
            Executor::Docker { .. } => None,
        };
        let mut stdin = String::new();
        for a in answers {
            stdin.push_str(a.expose());
            stdin.push('\n');
        }
        let out = spawn_and_wait(&program, &argv, cwd, stdin.as_bytes(), deadline)
            .await
            .map_err(|e| match e {
                RunError::Spawn(source) => BenchError::Spawn {
                    program: program.clone(),
                    source,
                },
                RunError::TimedOut => BenchError::TimedOut {
                    action: action.into(),
                },
            })?;
        if out.status.success() {
            return Ok(out);
        }
        // Inside docker, `timeout` exits 124 when it had to stop bench.
        if matches!(self.executor, Executor::Docker { .. }) && out.status.code() == Some(124) {
            return Err(BenchError::TimedOut {
                action: action.into(),
            });
        }
        let combined = format!("{}\n{}", out.stdout, out.stderr);
        Err(BenchError::Failed {
            action: action.into(),
            status: out.status.to_string(),
            output: tail(&redact(combined.trim(), secrets), OUTPUT_TAIL),
        })
    }
}

struct Captured {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

enum RunError {
    Spawn(std::io::Error),
    TimedOut,
}

/// Kills the child's whole process group if dropped before the child was reaped:
/// bench starts Python as a grandchild, and a timeout or Ctrl-C must stop both.
struct KillGroup(Option<i32>);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

async fn spawn_and_wait(
    program: &str,
    argv: &[String],
    cwd: Option<PathBuf>,
    stdin: &[u8],
    deadline: Instant,
) -> Result<Captured, RunError> {
    let mut cmd = Command::new(program);
    cmd.args(argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    // A new session: no controlling terminal, so Python's getpass reads our stdin instead
    // of opening /dev/tty, and the child leads a process group we can kill as a whole.
    // SAFETY: setsid is async-signal-safe and runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    let mut guard = KillGroup(child.id().map(|p| p as i32));
    let mut child_stdin = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = tokio::spawn(async move {
        // The child may exit without reading every answer; that is not our error.
        let _ = child_stdin.write_all(&input).await;
    });
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let work = async {
        let mut o = Vec::new();
        let mut e = Vec::new();
        let (_, _, status) = tokio::join!(
            out.read_to_end(&mut o),
            err.read_to_end(&mut e),
            child.wait()
        );
        (status, o, e)
    };
    let (status, o, e) = match tokio::time::timeout_at(deadline, work).await {
        Ok(done) => done,
        Err(_) => return Err(RunError::TimedOut),
    };
    writer.abort();
    let status = status.map_err(RunError::Spawn)?;
    guard.0 = None;
    Ok(Captured {
        status,
        stdout: String::from_utf8_lossy(&o).into_owned(),
        stderr: String::from_utf8_lossy(&e).into_owned(),
    })
}

fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker() -> Bench {
        Bench {
            executor: Executor::Docker {
                service: "backend".into(),
                workdir: None,
            },
            db_host_flag: DbHostFlag::NoMariadbSocket,
        }
    }

    #[test]
    fn docker_runs_bench_under_timeout_without_a_tty() {
        let (prog, argv) = docker().argv(vec!["new-site".into(), "a.localhost".into()], 117);
        assert_eq!(prog, "docker");
        assert_eq!(
            argv,
            [
                "compose",
                "exec",
                "-T",
                "backend",
                "timeout",
                "--kill-after=5",
                "117",
                "bench",
                "new-site",
                "a.localhost"
            ]
        );
    }

    #[test]
    fn local_runs_the_configured_binary() {
        let b = Bench {
            executor: Executor::Local {
                bin: "/opt/bench".into(),
                path: ".".into(),
            },
            db_host_flag: DbHostFlag::LoginScope,
        };
        let (prog, argv) = b.argv(vec!["drop-site".into()], 5);
        assert_eq!(
            (prog.as_str(), argv),
            ("/opt/bench", vec!["drop-site".to_string()])
        );
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("ééé", 3), "…é");
    }
}
