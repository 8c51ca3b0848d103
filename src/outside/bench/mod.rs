//! Runs bench, the only outside program the tool starts: through `docker compose exec -T`,
//! `kubectl exec -i`, or in a local bench directory. Never through a shell: arguments are a vector, secrets go
//! to the child's stdin as answers to Frappe's getpass prompts (never into argv), and the
//! child's output is captured, redacted and never reaches our stdout.

use std::path::PathBuf;
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

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
    /// A file or folder of the bench could not be read, written, moved or removed.
    #[error("{what}: {detail}")]
    File { what: String, detail: String },
}

/// The keys of `common_site_config.json` that change which prompts bench shows.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// root password (unless common_site_config.json has one), then, for a fresh site,
    /// the Administrator password twice (unless common_site_config.json has one).
    /// With `source_sql` (the template) Frappe finds frappe already installed in the dump
    /// and asks no Administrator password: the site keeps the dump's (none; see
    /// `Db::set_administrator_password`).
    #[allow(clippy::too_many_arguments)]
    pub async fn new_site(
        &self,
        site: &str,
        db_name: &str,
        root: &RootCredentials,
        admin_password: &Secret,
        common: &CommonConfig,
        source_sql: Option<&str>,
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
        if let Some(sql) = source_sql {
            args.extend(["--source-sql".into(), sql.into()]);
        }
        let mut answers = Vec::new();
        if common.root_password.is_none() {
            answers.push(&root.password);
        }
        if common.admin_password.is_none() && source_sql.is_none() {
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

    /// `bench --site <site> backup --backup-path-db <path>`: a gzipped mariadb-dump of the
    /// site's database (no CREATE DATABASE, no USE: it restores into any database).
    /// `path` is relative to `sites/`, bench's working directory.
    pub async fn backup_db(
        &self,
        site: &str,
        path: &str,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let args = vec![
            "--site".into(),
            site.into(),
            "backup".into(),
            "--backup-path-db".into(),
            path.into(),
        ];
        self.run("backup", args, &[], &[], deadline).await?;
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

    /// Reads files by path relative to the bench directory; `None` for each that does not
    /// exist. In a container it is one `grep -H ''` for all of them, not one exec each.
    pub async fn read_files(
        &self,
        paths: &[String],
        deadline: Instant,
    ) -> Result<Vec<Option<String>>, BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                let _waiting = crate::basics::waits::waiting();
                let mut out = Vec::with_capacity(paths.len());
                for rel in paths {
                    out.push(match tokio::fs::read_to_string(path.join(rel)).await {
                        Ok(s) => Some(s),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => return Err(file_error(format!("reading {rel}"), e.to_string())),
                    });
                }
                Ok(out)
            }
            _ => {
                // `-H`: every line is `path:line`, whatever the number of files.
                let mut args = vec!["-H".to_string(), String::new(), "--".to_string()];
                args.extend(paths.iter().cloned());
                let (_, stdout, stderr) = self.exec_raw("grep", args, deadline).await?;
                parse_grep_h(paths, &stdout, &stderr)
            }
        }
    }

    /// Reads one file relative to the bench directory; `None` when it does not exist.
    pub async fn read_file(
        &self,
        rel: &str,
        deadline: Instant,
    ) -> Result<Option<String>, BenchError> {
        Ok(self
            .read_files(&[rel.to_string()], deadline)
            .await?
            .pop()
            .flatten())
    }

    /// Whether `sites/<site>` exists at all (a failed new-site leaves a bare folder).
    pub async fn site_dir_exists(&self, site: &str, deadline: Instant) -> Result<bool, BenchError> {
        self.exists(&format!("sites/{site}"), deadline).await
    }

    /// common_site_config.json, apps.txt, the bench id and the template's description.
    pub async fn facts(&self, deadline: Instant) -> Result<BenchFacts, BenchError> {
        let paths = [
            "sites/common_site_config.json",
            "sites/apps.txt",
            BENCH_ID_FILE,
            TEMPLATE_META,
        ]
        .map(String::from);
        let mut texts = self.read_files(&paths, deadline).await?.into_iter();
        let mut next = || texts.next().flatten();
        let common = match next() {
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| file_error("parsing sites/common_site_config.json", e.to_string()))?,
            None => CommonConfig::default(),
        };
        Ok(BenchFacts {
            common,
            apps: parse_apps_txt(&next().unwrap_or_default()),
            bench_id: next()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            template_json: next(),
        })
    }

    /// Whether a path relative to the bench directory exists.
    pub async fn exists(&self, rel: &str, deadline: Instant) -> Result<bool, BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => tokio::fs::try_exists(path.join(rel))
                .await
                .map_err(|e| file_error(format!("checking {rel}"), e.to_string())),
            _ => {
                let (ok, _, _) = self
                    .exec_raw("test", vec!["-e".into(), rel.into()], deadline)
                    .await?;
                Ok(ok)
            }
        }
    }

    /// The site's `site_config.json` (the keys the tool uses), `None` without one.
    pub async fn site_config(
        &self,
        site: &str,
        deadline: Instant,
    ) -> Result<Option<SiteConfig>, BenchError> {
        let rel = format!("sites/{site}/site_config.json");
        match self.read_file(&rel, deadline).await? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| file_error(format!("parsing {rel}"), e.to_string())),
        }
    }

    /// Every folder under `sites/` that can be a site (not `assets`, not hidden), with its
    /// `site_config.json` when it has a readable one. Sorted by name.
    pub async fn list_sites(&self, deadline: Instant) -> Result<Vec<SiteDir>, BenchError> {
        let (ok, names, stderr) = self
            .exec_raw(
                "find",
                [
                    "sites",
                    "-mindepth",
                    "1",
                    "-maxdepth",
                    "1",
                    "-type",
                    "d",
                    "-printf",
                    "%f\\n",
                ]
                .map(String::from)
                .to_vec(),
                deadline,
            )
            .await?;
        if !ok {
            return Err(file_error("listing sites", stderr));
        }
        let names: Vec<String> = names
            .lines()
            .filter(|n| is_site_folder_name(n))
            .map(String::from)
            .collect();
        let paths: Vec<String> = names
            .iter()
            .map(|n| format!("sites/{n}/site_config.json"))
            .collect();
        let configs = if paths.is_empty() {
            vec![]
        } else {
            self.read_files(&paths, deadline).await?
        };
        let mut sites: Vec<SiteDir> = names
            .into_iter()
            .zip(configs)
            .map(|(name, text)| SiteDir {
                name,
                config: text.and_then(|t| serde_json::from_str(&t).ok()),
            })
            .collect();
        sites.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(sites)
    }

    /// Removes `sites/<site>` when bench could not (its config was never written).
    /// `site` is a validated DNS name, so it cannot climb out of `sites/`.
    pub async fn remove_site_dir(&self, site: &str, deadline: Instant) -> Result<(), BenchError> {
        let rel = format!("sites/{site}");
        match &self.executor {
            Executor::Local { path, .. } => tokio::fs::remove_dir_all(path.join(&rel))
                .await
                .map_err(|e| file_error(format!("removing {rel}"), e.to_string())),
            _ => {
                self.exec_ok("rm", vec!["-rf".into(), "--".into(), rel], deadline)
                    .await
            }
        }
    }

    /// Renames `sites/<from>` to `sites/<to>` in one step: a site answers to its folder's
    /// name, so this is how a standby becomes a tenant. Either the folder moved whole or
    /// nothing changed. Nothing at `to` is ever replaced (locally renameat2 with
    /// RENAME_NOREPLACE); in a container, where only `mv` is at hand, an empty folder
    /// at `to` would be, which holds no site.
    pub async fn rename_site(
        &self,
        from: &str,
        to: &str,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let (src, dst) = (format!("sites/{from}"), format!("sites/{to}"));
        match &self.executor {
            Executor::Local { path, .. } => {
                let (src, dst) = (path.join(&src), path.join(&dst));
                tokio::task::spawn_blocking(move || rename_noreplace(&src, &dst))
                    .await
                    .map_err(|e| {
                        file_error(
                            format!("renaming sites/{from} to sites/{to}"),
                            e.to_string(),
                        )
                    })?
                    .map_err(|e| BenchError::File {
                        what: format!("renaming sites/{from} to sites/{to}"),
                        detail: e.to_string(),
                    })
            }
            _ => {
                // One exec: `mv -T` is rename(2) of the folder itself, which fails on a
                // non-empty folder or a file at the target (the tenant's site lock and the
                // preflight already make one unlikely). Only an empty folder could be
                // replaced, and that holds no site. (`mv -n` would hide a refusal behind
                // exit 0 on coreutils before 9.2.)
                self.exec_ok("mv", vec!["-T".into(), "--".into(), src, dst], deadline)
                    .await
            }
        }
    }

    /// Writes a small file (relative to the bench directory) readable by its owner only,
    /// through a temporary file and a rename, so readers never see half of it. The
    /// content goes to the child on stdin, never into argv: it may be a secret.
    pub async fn write_private_file(
        &self,
        rel: &str,
        content: &Secret,
        replace: bool,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let tmp = format!("{rel}.tmp-{}", std::process::id());
        match &self.executor {
            Executor::Local { path, .. } => {
                let (tmp, dst) = (path.join(&tmp), path.join(rel));
                let bytes = content.expose().as_bytes().to_vec();
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    if let Some(parent) = dst.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&tmp)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                    if replace {
                        return std::fs::rename(&tmp, &dst);
                    }
                    let r = rename_noreplace(&tmp, &dst);
                    let _ = std::fs::remove_file(&tmp);
                    match r {
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                        other => other,
                    }
                })
                .await
                .map_err(|e| file_error(format!("writing {rel}"), e.to_string()))?
                .map_err(|e| file_error(format!("writing {rel}"), e.to_string()))
            }
            _ => {
                let dir = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
                self.exec_ok(
                    "mkdir",
                    vec!["-p".into(), "--".into(), dir.into()],
                    deadline,
                )
                .await?;
                // An empty 0600 file first, so the secret never sits in a readable one.
                self.exec_ok(
                    "install",
                    vec!["-m".into(), "600".into(), "/dev/null".into(), tmp.clone()],
                    deadline,
                )
                .await?;
                let (prog, argv) = self.remote_argv(vec![
                    "dd".into(),
                    format!("of={tmp}"),
                    "conv=notrunc".into(),
                    "status=none".into(),
                ]);
                let out = spawn_and_wait(&prog, &argv, None, content.expose().as_bytes(), deadline)
                    .await
                    .map_err(|e| run_error(&prog, "dd", e))?;
                if !out.status.success() {
                    return Err(file_error(format!("writing {rel}"), out.stderr));
                }
                let mode = if replace { "-f" } else { "-n" };
                self.exec_ok(
                    "mv",
                    vec![mode.into(), "--".into(), tmp.clone(), rel.into()],
                    deadline,
                )
                .await?;
                if replace {
                    return Ok(());
                }
                // `mv -n` leaves the temporary file when the target was there first.
                self.remove_file(&tmp, deadline).await
            }
        }
    }

    /// Removes a file relative to the bench directory; absent is fine.
    pub async fn remove_file(&self, rel: &str, deadline: Instant) -> Result<(), BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => match tokio::fs::remove_file(path.join(rel)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(file_error(format!("removing {rel}"), e.to_string())),
            },
            _ => {
                self.exec_ok("rm", vec!["-f".into(), "--".into(), rel.into()], deadline)
                    .await
            }
        }
    }

    /// Each app's `__version__` from `apps/<app>/<app>/__init__.py`, read the way bench
    /// itself reads it (no Python start); `None` when the app or the line is missing.
    pub async fn app_versions(
        &self,
        apps: &[String],
        deadline: Instant,
    ) -> Result<Vec<Option<String>>, BenchError> {
        let paths: Vec<String> = apps
            .iter()
            .map(|a| format!("apps/{a}/{a}/__init__.py"))
            .collect();
        Ok(self
            .read_files(&paths, deadline)
            .await?
            .into_iter()
            .map(|text| text.as_deref().and_then(parse_version))
            .collect())
    }

    /// This bench's identity in the registry (`sites/.frappe-tenant/bench-id`), created on
    /// first use: benches sharing a MariaDB server never see each other's registry rows.
    pub async fn bench_id(
        &self,
        create: bool,
        deadline: Instant,
    ) -> Result<Option<String>, BenchError> {
        if let Some(id) = self.read_file(BENCH_ID_FILE, deadline).await? {
            let id = id.trim().to_string();
            if !id.is_empty() {
                return Ok(Some(id));
            }
        }
        if !create {
            return Ok(None);
        }
        let fresh = Secret::random(16).expose().to_ascii_lowercase();
        // No replace: when two first runs race, both end up with the winner's id.
        self.write_private_file(BENCH_ID_FILE, &Secret::new(fresh), false, deadline)
            .await?;
        Ok(self
            .read_file(BENCH_ID_FILE, deadline)
            .await?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    /// `gzip -d -f <rel>` (relative to the bench directory): `x.sql.gz` becomes `x.sql`.
    pub async fn gunzip(&self, rel: &str, deadline: Instant) -> Result<(), BenchError> {
        self.exec_ok(
            "gzip",
            vec!["-d".into(), "-f".into(), "--".into(), rel.into()],
            deadline,
        )
        .await
    }

    /// `mv -f <from> <to>` (relative to the bench directory), for the tool's own files.
    pub async fn move_file(
        &self,
        from: &str,
        to: &str,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        self.exec_ok(
            "mv",
            vec!["-f".into(), "--".into(), from.into(), to.into()],
            deadline,
        )
        .await
    }

    /// Files directly in a folder relative to the bench directory (none when it is absent).
    pub async fn list_files(
        &self,
        rel: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, BenchError> {
        if !self.exists(rel, deadline).await? {
            return Ok(vec![]);
        }
        let (ok, out, err) = self
            .exec_raw(
                "find",
                vec![
                    rel.into(),
                    "-mindepth".into(),
                    "1".into(),
                    "-maxdepth".into(),
                    "1".into(),
                    "-type".into(),
                    "f".into(),
                    "-printf".into(),
                    "%f\\n".into(),
                ],
                deadline,
            )
            .await?;
        if !ok {
            return Err(file_error(format!("listing {rel}"), err));
        }
        let mut names: Vec<String> = out.lines().map(String::from).collect();
        names.sort();
        Ok(names)
    }

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
    fn remote_argv(&self, inner: Vec<String>) -> (String, Vec<String>) {
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
    async fn exec_raw(
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
    async fn exec_ok(
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

/// A site folder of the bench, with the part of its `site_config.json` the tool uses.
#[derive(Debug, Clone)]
pub struct SiteDir {
    pub name: String,
    /// `None`: no readable `site_config.json` (a half-made site, or not a site).
    pub config: Option<SiteConfig>,
}

/// The keys of a `site_config.json` the tool reads. Everything else, the DB password
/// and the encryption key included, is never kept.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SiteConfig {
    pub db_name: Option<String>,
    /// Frappe versions after 15.14 may name the DB user apart from the database.
    pub db_user: Option<String>,
}

impl SiteConfig {
    /// The site's DB account name: `db_user`, else (Frappe v15.14) the database's name.
    pub fn db_user(&self) -> Option<&str> {
        self.db_user.as_deref().or(self.db_name.as_deref())
    }
}

/// Where the tool keeps its own files in the bench: hidden under `sites/`, so every
/// container sharing the sites volume sees them and Frappe never takes them for a site.
pub const TOOL_DIR: &str = "sites/.frappe-tenant";
const BENCH_ID_FILE: &str = "sites/.frappe-tenant/bench-id";
/// The template's description (see `template`).
pub const TEMPLATE_META: &str = "sites/.frappe-tenant/template.json";

/// What the tool reads of a bench before it chooses how to make a site: one batched read
/// (one exec in a container).
#[derive(Debug, Clone, Default)]
pub struct BenchFacts {
    pub common: CommonConfig,
    /// `sites/apps.txt`: the apps this bench has.
    pub apps: Vec<String>,
    pub bench_id: Option<String>,
    pub template_json: Option<String>,
}

/// `__version__ = "15.14.1"` → `15.14.1`, as bench's `get_version_from_string` reads it.
fn parse_version(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("__version__")?;
        let rest = rest.trim_start().strip_prefix('=')?.trim();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..];
        let end = value.find(quote)?;
        Some(value[..end].to_string())
    })
}

/// Folders under `sites/` that are never sites.
fn is_site_folder_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name != "assets"
}

fn parse_apps_txt(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn file_error(what: impl Into<String>, detail: String) -> BenchError {
    BenchError::File {
        what: what.into(),
        detail,
    }
}

fn run_error(program: &str, action: &str, e: RunError) -> BenchError {
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

/// `grep -H '' -- <paths>` output back into one text per path; a path grep could not
/// open is `None` when it does not exist, an error otherwise.
fn parse_grep_h(
    paths: &[String],
    stdout: &str,
    stderr: &str,
) -> Result<Vec<Option<String>>, BenchError> {
    let mut texts: Vec<Option<Vec<&str>>> = vec![None; paths.len()];
    for line in stdout.lines() {
        // The longest matching path wins, should one path prefix another.
        let hit = paths
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                line.len() > p.len()
                    && line.starts_with(p.as_str())
                    && line.as_bytes()[p.len()] == b':'
            })
            .max_by_key(|(_, p)| p.len());
        if let Some((i, p)) = hit {
            texts[i]
                .get_or_insert_with(Vec::new)
                .push(&line[p.len() + 1..]);
        }
    }
    paths
        .iter()
        .zip(texts)
        .map(|(p, t)| match t {
            Some(lines) => Ok(Some(lines.join("\n"))),
            None if stderr.contains(&format!("{p}: No such file")) => Ok(None),
            None if stderr.contains(&format!("{p}:")) => Err(file_error(
                format!("reading {p}"),
                stderr.trim().to_string(),
            )),
            // grep prints nothing for an empty file.
            None => Ok(Some(String::new())),
        })
        .collect()
}

/// rename(2) that fails instead of replacing an existing target (Linux renameat2).
fn rename_noreplace(src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (s, d) = (c(src)?, c(dst)?);
    // SAFETY: both paths are NUL-terminated C strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            s.as_ptr(),
            libc::AT_FDCWD,
            d.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
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
