//! How a command reaches bench: `docker compose exec -T`, `kubectl exec -i` or a local
//! bench directory. Always argv, never a shell; always under coreutils `timeout`, which
//! leads the child's process group; secrets only on stdin; output captured and redacted.
//! What the commands mean is `bench`'s (mod.rs) and `files`' business, not this file's.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

use super::{file_error, Bench, BenchError};
use crate::basics::secret::{redact, Secret};

/// How bench is reached.
#[derive(Debug, Clone)]
pub enum Executor {
    /// `docker compose exec -T [-w workdir] <service> timeout … bench …`
    Docker {
        service: String,
        workdir: Option<String>,
    },
    /// `kubectl exec -i [-n namespace] [-c container] <target> -- timeout … bench …`
    Kubectl {
        /// A pod, or `deploy/<name>` and the like: anything `kubectl exec` accepts.
        target: String,
        namespace: Option<String>,
        container: Option<String>,
        workdir: Option<String>,
    },
    /// `<bin> …` with the bench directory as working directory.
    Local { bin: PathBuf, path: PathBuf },
}

/// Keeps the last bytes of child output: enough for an error message, bounded.
const OUTPUT_TAIL: usize = 4000;

impl Bench {
    /// The argv for `bench <args>` under this executor, always under coreutils `timeout`:
    /// it leads bench's process group and, at the deadline or on any signal it gets,
    /// stops the whole group, Frappe's Python grandchild included. Inside a container that
    /// is the only way (killing the docker client does not stop what it started); locally
    /// the tool's own death, even by SIGKILL, sends `timeout` SIGTERM (see
    /// `spawn_and_wait`), so no bench outlives the run that started it.
    pub fn argv(&self, args: Vec<String>, seconds_left: u64) -> (String, Vec<String>) {
        let bin = match &self.executor {
            Executor::Local { bin, .. } => bin.display().to_string(),
            _ => "bench".into(),
        };
        let mut inner = vec![
            "timeout".into(),
            "--kill-after=5".into(),
            seconds_left.max(1).to_string(),
            bin,
        ];
        inner.extend(args);
        match &self.executor {
            Executor::Local { .. } => ("timeout".into(), inner.split_off(1)),
            _ => self.remote_argv(inner),
        }
    }

    /// `inner` run in the bench's container: `docker compose exec -T [-w dir] <service> …`
    /// or `kubectl exec -i [-n ns] [-c container] <target> -- [env --chdir=dir] …`. Never
    /// a TTY (so getpass reads stdin) and never a shell.
    pub(super) fn remote_argv(&self, inner: Vec<String>) -> (String, Vec<String>) {
        match &self.executor {
            Executor::Docker { service, workdir } => {
                let mut argv: Vec<String> = vec!["compose".into(), "exec".into(), "-T".into()];
                if let Some(w) = workdir {
                    argv.extend(["-w".into(), w.clone()]);
                }
                argv.push(service.clone());
                argv.extend(inner);
                ("docker".into(), argv)
            }
            Executor::Kubectl {
                target,
                namespace,
                container,
                workdir,
            } => {
                let mut argv: Vec<String> = vec!["exec".into(), "-i".into()];
                if let Some(n) = namespace {
                    argv.extend(["-n".into(), n.clone()]);
                }
                if let Some(c) = container {
                    argv.extend(["-c".into(), c.clone()]);
                }
                argv.extend([target.clone(), "--".into()]);
                // kubectl exec has no working-directory flag; coreutils env has one.
                if let Some(w) = workdir {
                    argv.extend(["env".into(), format!("--chdir={w}")]);
                }
                argv.extend(inner);
                ("kubectl".into(), argv)
            }
            Executor::Local { .. } => unreachable!("a local bench runs without a remote client"),
        }
    }

    /// A plain program (grep, test, mv, gzip, …) in the bench directory, in the container
    /// for docker: (succeeded, stdout, stderr).
    pub(super) async fn exec_raw(
        &self,
        program: &str,
        args: Vec<String>,
        deadline: Instant,
    ) -> Result<(bool, String, String), BenchError> {
        let (prog, argv, cwd) = match &self.executor {
            Executor::Local { path, .. } => (program.to_string(), args, Some(path.clone())),
            _ => {
                let mut inner = vec![program.to_string()];
                inner.extend(args);
                let (prog, argv) = self.remote_argv(inner);
                (prog, argv, None)
            }
        };
        let out = spawn_and_wait(&prog, &argv, cwd, &[], deadline)
            .await
            .map_err(|e| run_error(&prog, program, e))?;
        Ok((out.status.success(), out.stdout, out.stderr))
    }

    /// Like `exec_raw`, for programs whose failure is an error.
    pub(super) async fn exec_ok(
        &self,
        program: &str,
        args: Vec<String>,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let what = format!("`{program} {}` in the bench", args.join(" "));
        let (ok, _, stderr) = self.exec_raw(program, args, deadline).await?;
        if ok {
            Ok(())
        } else {
            Err(file_error(what, stderr.trim().to_string()))
        }
    }

    pub(super) async fn run(
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
            _ => None,
        };
        let mut stdin = String::new();
        for a in answers {
            stdin.push_str(a.expose());
            stdin.push('\n');
        }
        let out = spawn_and_wait(&program, &argv, cwd, stdin.as_bytes(), deadline)
            .await
            .map_err(|e| run_error(&program, action, e))?;
        if out.status.success() {
            return Ok(out);
        }
        // `timeout` exits 124 when it had to stop bench.
        if out.status.code() == Some(124) {
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

pub(super) fn run_error(program: &str, action: &str, e: RunError) -> BenchError {
    match e {
        RunError::Spawn(source) => BenchError::Spawn {
            program: program.into(),
            source,
        },
        RunError::TimedOut => BenchError::TimedOut {
            action: action.into(),
        },
    }
}

pub(super) struct Captured {
    pub(super) status: std::process::ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

pub(super) enum RunError {
    Spawn(std::io::Error),
    TimedOut,
}

/// Kills the child's whole process group if dropped before the child was reaped:
/// bench starts Python as a grandchild, and a timeout or Ctrl-C must stop both.
pub(super) struct KillGroup(Option<i32>);

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

pub(super) async fn spawn_and_wait(
    program: &str,
    argv: &[String],
    cwd: Option<PathBuf>,
    stdin: &[u8],
    deadline: Instant,
) -> Result<Captured, RunError> {
    let _waiting = crate::basics::waits::waiting();
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
    // The parent-death signal: when this process dies, however it dies, the child (a
    // `timeout`, for bench) gets SIGTERM and stops its process group.
    // SAFETY: setsid and prctl are async-signal-safe and run in the forked child before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
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

pub(super) fn tail(s: &str, max: usize) -> String {
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
    use crate::outside::bench::DbHostFlag;

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
    fn kubectl_runs_bench_in_the_target_without_a_tty_or_a_shell() {
        let b = Bench {
            executor: Executor::Kubectl {
                target: "deploy/erpnext-backend".into(),
                namespace: Some("erp".into()),
                container: Some("backend".into()),
                workdir: Some("/home/frappe/frappe-bench".into()),
            },
            db_host_flag: DbHostFlag::NoMariadbSocket,
        };
        let (prog, argv) = b.argv(vec!["drop-site".into(), "a.localhost".into()], 30);
        assert_eq!(prog, "kubectl");
        assert_eq!(
            argv,
            [
                "exec",
                "-i",
                "-n",
                "erp",
                "-c",
                "backend",
                "deploy/erpnext-backend",
                "--",
                "env",
                "--chdir=/home/frappe/frappe-bench",
                "timeout",
                "--kill-after=5",
                "30",
                "bench",
                "drop-site",
                "a.localhost"
            ]
        );
    }

    #[test]
    fn local_runs_the_configured_binary_under_timeout() {
        let b = Bench {
            executor: Executor::Local {
                bin: "/opt/bench".into(),
                path: ".".into(),
            },
            db_host_flag: DbHostFlag::LoginScope,
        };
        let (prog, argv) = b.argv(vec!["drop-site".into()], 5);
        assert_eq!(prog, "timeout");
        assert_eq!(argv, ["--kill-after=5", "5", "/opt/bench", "drop-site"]);
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("ééé", 3), "…é");
    }
}
