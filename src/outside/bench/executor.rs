//! How a command reaches bench: `docker compose exec -T`, `kubectl exec -i` or a local
//! bench directory. Always argv, never a shell; always under coreutils `timeout`, which
//! leads the child's process group; secrets only on stdin; output captured and redacted.
//! In a container every command also carries this run's tag in its environment, so the
//! run can stop what it started there (`stop_run`): killing the docker or kubectl client
//! does not stop the command in the container.
//! What the commands mean is `bench`'s (mod.rs) and `files`' business, not this file's.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

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

/// The environment variable that tags, in a container, every process a run started.
const RUN_TAG_VAR: &str = "FRAPPE_TENANT_RUN";

/// This process's run tag: 16 random hex digits, in the environment of every command it
/// sends into a container (and in the registry rows it writes), so it, or a later
/// `cleanup --orphans`, can find and stop them there.
pub fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{:016x}", rand::random::<u64>()))
}

/// Stops, in a container, every process whose environment carries the run tag given as
/// its argument: SIGTERM (coreutils `timeout` passes it to bench's whole process group),
/// then SIGKILL to what is left after 5 s, and says how many it found and how many are
/// left. It is the bench's own Python (`env/bin/python`, which every bench has), run with
/// `-I` and this fixed program: a container has no pkill, and the tool never uses a shell.
const STOPPER: &str = r#"import json, os, signal, sys, time
tag = ("FRAPPE_TENANT_RUN=" + sys.argv[1]).encode()
me = os.getpid()
def tagged():
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open("/proc/%s/environ" % p, "rb") as f:
                if tag in f.read().split(b"\0"):
                    found.append(int(p))
        except OSError:
            pass
    return found
first = tagged()
for sig in (signal.SIGTERM, signal.SIGKILL):
    left = tagged()
    for p in left:
        try:
            os.kill(p, sig)
        except OSError:
            pass
    end = time.monotonic() + 5
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = tagged()
    if not left:
        break
print(json.dumps({"found": len(first), "left": len(left)}))
sys.exit(1 if left else 0)
"#;
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
        let mut command = vec![bin];
        command.extend(args);
        self.timed_argv(command, seconds_left, true)
    }

    /// `command` (program and arguments) under `timeout` with `seconds_left`, run where
    /// the bench is: here, or in its container, tagged with the run (`tagged`).
    fn timed_argv(
        &self,
        command: Vec<String>,
        seconds_left: u64,
        tagged: bool,
    ) -> (String, Vec<String>) {
        let mut timed = vec![
            "timeout".into(),
            "--kill-after=5".into(),
            seconds_left.max(1).to_string(),
        ];
        timed.extend(command);
        match &self.executor {
            Executor::Local { .. } => ("timeout".into(), timed.split_off(1)),
            _ => self.remote_argv(timed, tagged),
        }
    }

    /// A plain program (dd, grep, …) and its arguments, as `timed_argv` runs it before
    /// `deadline`.
    pub(super) fn container_argv(
        &self,
        command: Vec<String>,
        deadline: Instant,
    ) -> (String, Vec<String>) {
        self.timed_argv(command, seconds_until(deadline), true)
    }

    /// `inner` run in the bench's container: `docker compose exec -T [-w dir] <service>
    /// env [FRAPPE_TENANT_RUN=<tag>] …` or `kubectl exec -i [-n ns] [-c container] <target>
    /// -- env [--chdir=dir] [FRAPPE_TENANT_RUN=<tag>] …`. Never a TTY (so getpass reads
    /// stdin) and never a shell.
    fn remote_argv(&self, inner: Vec<String>, tagged: bool) -> (String, Vec<String>) {
        let mut env = vec!["env".to_string()];
        if let Executor::Kubectl {
            workdir: Some(w), ..
        } = &self.executor
        {
            // kubectl exec has no working-directory flag; coreutils env has one.
            env.push(format!("--chdir={w}"));
        }
        if tagged {
            env.push(format!("{RUN_TAG_VAR}={}", run_tag()));
        }
        let inner = if env.len() > 1 {
            env.into_iter().chain(inner).collect()
        } else {
            inner
        };
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
                ..
            } => {
                let mut argv: Vec<String> = vec!["exec".into(), "-i".into()];
                if let Some(n) = namespace {
                    argv.extend(["-n".into(), n.clone()]);
                }
                if let Some(c) = container {
                    argv.extend(["-c".into(), c.clone()]);
                }
                argv.extend([target.clone(), "--".into()]);
                argv.extend(inner);
                ("kubectl".into(), argv)
            }
            Executor::Local { .. } => unreachable!("a local bench runs without a remote client"),
        }
    }

    /// A plain program (grep, find, mv, gzip, …) in the bench directory, in the container
    /// for docker: its status, stdout and stderr. It runs in the C locale, whatever the
    /// container's: the callers tell "No such file or directory" from other failures.
    pub(super) async fn exec_raw(
        &self,
        program: &str,
        args: Vec<String>,
        deadline: Instant,
    ) -> Result<Captured, BenchError> {
        let mut command = vec!["env".to_string(), "LC_ALL=C".into(), program.to_string()];
        command.extend(args);
        let (prog, argv) = self.container_argv(command, deadline);
        let cwd = match &self.executor {
            Executor::Local { path, .. } => Some(path.clone()),
            _ => None,
        };
        spawn_and_wait(&prog, &argv, cwd, &[], deadline)
            .await
            .map_err(|e| run_error(&prog, program, e))
    }

    /// Like `exec_raw`, for programs whose failure is an error.
    pub(super) async fn exec_ok(
        &self,
        program: &str,
        args: Vec<String>,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let what = format!("`{program} {}` in the bench", args.join(" "));
        let out = self.exec_raw(program, args, deadline).await?;
        if out.status.success() {
            Ok(())
        } else {
            Err(file_error(what, out.stderr.trim().to_string()))
        }
    }

    /// Stops whatever the run tagged `tag` still has running where the bench is (in its
    /// container, or here), and returns how many such processes there were; an error means
    /// some may still run. Here, a run's commands also die with it (parent-death signal),
    /// but not at once: a `cleanup --orphans` right after a SIGKILL waits for them here.
    pub async fn stop_run(&self, tag: &str, deadline: Instant) -> Result<u64, BenchError> {
        if matches!(self.executor, Executor::Local { .. }) {
            let tag = tag.to_string();
            return tokio::task::spawn_blocking(move || stop_here(&tag))
                .await
                .map_err(|e| super::file_error("stopping the run's processes", e.to_string()))?;
        }
        let command = vec![
            "env/bin/python".into(),
            "-I".into(),
            "-c".into(),
            STOPPER.into(),
            tag.into(),
        ];
        let seconds = seconds_until(deadline).min(20);
        let (prog, argv) = self.timed_argv(command, seconds, false);
        let out = spawn_and_wait(&prog, &argv, None, &[], deadline)
            .await
            .map_err(|e| run_error(&prog, "stopping the run's processes", e))?;
        let report: Option<serde_json::Value> = serde_json::from_str(out.stdout.trim()).ok();
        let count = |k: &str| report.as_ref().and_then(|r| r[k].as_u64());
        match (out.status.success(), count("found"), count("left")) {
            (true, Some(found), Some(0)) => Ok(found),
            _ => Err(BenchError::File {
                what: "stopping the run's processes in the container".into(),
                detail: format!("{} ({})", out.stdout.trim(), tail(out.stderr.trim(), 500)),
            }),
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
        let (program, argv) = self.argv(args, seconds_until(deadline));
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

/// `STOPPER`, for processes on this machine: SIGTERM to every process whose environment
/// carries the tag, SIGKILL to those left after 5 s.
fn stop_here(tag: &str) -> Result<u64, BenchError> {
    let needle = format!("{RUN_TAG_VAR}={tag}").into_bytes();
    let tagged = || -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_slice()))
            })
            .collect()
    };
    let found = tagged().len() as u64;
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let mut left = tagged();
        for pid in &left {
            // SAFETY: kill(2) touches no memory of ours.
            unsafe {
                libc::kill(*pid, signal);
            }
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !left.is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
            left = tagged();
        }
        if left.is_empty() {
            return Ok(found);
        }
    }
    Err(super::file_error(
        "stopping the run's processes",
        format!("{} still run after SIGKILL", tagged().len()),
    ))
}

fn seconds_until(deadline: Instant) -> u64 {
    deadline.saturating_duration_since(Instant::now()).as_secs()
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
        // A local bench's commands carry the run's tag here, as a container's carry it in
        // the container (not the docker or kubectl client: it is no command of the bench).
        cmd.current_dir(dir).env(RUN_TAG_VAR, run_tag());
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
                "env",
                &format!("FRAPPE_TENANT_RUN={}", run_tag()),
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
                &format!("FRAPPE_TENANT_RUN={}", run_tag()),
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
