//! The bench's files, through whichever executor reaches it: reading configs in one
//! batch, listing sites, and the few writes the tool makes (removing or renaming a site
//! folder, its own private files under `sites/.frappe-tenant/`). Locally every path goes
//! through `local_fs`, which follows no link the bench's owner could plant; in a container
//! the commands run as the container's user, who owns the bench anyway.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::executor::{run_error, spawn_and_wait};
use super::local_fs::Tree;
use super::{file_error, Bench, BenchError, Executor};
use crate::basics::secret::Secret;

impl Bench {
    /// Reads files by path relative to the bench directory; `None` for each that does not
    /// exist. In a container it is one `grep -H ''` for all of them, not one exec each.
    pub async fn read_files(
        &self,
        paths: &[String],
        deadline: Instant,
    ) -> Result<Vec<Option<String>>, BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                let (tree, paths) = (Tree::new(path), paths.to_vec());
                local(move || {
                    paths
                        .iter()
                        .map(|rel| {
                            tree.read(rel)
                                .map_err(|e| file_error(format!("reading {rel}"), e.to_string()))
                        })
                        .collect()
                })
                .await
            }
            _ => {
                // `-H`: every line is `path:line`, whatever the number of files.
                let mut args = vec!["-H".to_string(), String::new(), "--".to_string()];
                args.extend(paths.iter().cloned());
                let out = self.exec_raw("grep", args, deadline).await?;
                parse_grep_h(paths, out.status.code(), &out.stdout, &out.stderr)
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

    /// Whether a path relative to the bench directory exists.
    pub async fn exists(&self, rel: &str, deadline: Instant) -> Result<bool, BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                let (tree, rel) = (Tree::new(path), rel.to_string());
                local(move || {
                    tree.exists(&rel)
                        .map_err(|e| file_error(format!("checking {rel}"), e.to_string()))
                })
                .await
            }
            _ => {
                // Not `test -e`: its "no" is status 1, as is a container that refused the
                // exec. find names the path it prints (a link is not followed, as here).
                let args = [rel, "-maxdepth", "0", "-printf", "x"].map(String::from);
                let out = self.exec_raw("find", args.to_vec(), deadline).await?;
                match (out.status.success(), out.stdout.as_str()) {
                    (true, "x") => Ok(true),
                    (false, "") if only_missing(&out.stderr) => Ok(false),
                    _ => Err(file_error(
                        format!("checking {rel}"),
                        out.stderr.trim().to_string(),
                    )),
                }
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

    /// The site's `encryption_key` (Frappe's Fernet key for its Password fields), read
    /// on its own and kept only as a `Secret`; `None` when the config has none.
    pub async fn site_encryption_key(
        &self,
        site: &str,
        deadline: Instant,
    ) -> Result<Option<Secret>, BenchError> {
        #[derive(Deserialize)]
        struct Key {
            encryption_key: Option<String>,
        }
        let rel = format!("sites/{site}/site_config.json");
        let Some(text) = self.read_file(&rel, deadline).await? else {
            return Ok(None);
        };
        let key: Key = serde_json::from_str(&text)
            .map_err(|e| file_error(format!("parsing {rel}"), e.to_string()))?;
        Ok(key
            .encryption_key
            .filter(|k| !k.is_empty())
            .map(Secret::new))
    }

    /// The site's `encryption_key`, made now when its config has none, as Frappe's
    /// `get_encryption_key` makes one on first use: a new Fernet key added to
    /// `site_config.json` (`json.dumps(indent=1, sort_keys=True)`, as `update_site_config`
    /// writes it), the rest of the config kept as read. Only for a site no one else writes
    /// yet (one this run made or claimed, under its lock): a write between the read and the
    /// rename would be lost. The new file replaces the old by a rename and is the owner's
    /// only (0600).
    /// The folder must still be the run's: its config must name `db_name`, else nothing
    /// is read from it or written to it.
    pub async fn site_encryption_key_or_new(
        &self,
        site: &str,
        db_name: &str,
        deadline: Instant,
    ) -> Result<Secret, BenchError> {
        let rel = format!("sites/{site}/site_config.json");
        let text = self
            .read_file(&rel, deadline)
            .await?
            .ok_or_else(|| file_error(format!("reading {rel}"), "no such file".into()))?;
        let mut config: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| file_error(format!("parsing {rel}"), e.to_string()))?;
        let names = config.get("db_name").and_then(|n| n.as_str());
        if names != Some(db_name) {
            return Err(file_error(
                format!("reading {rel}"),
                format!("it names database {names:?}, not this run's {db_name}: left as it is"),
            ));
        }
        if let Some(key) = config
            .get("encryption_key")
            .and_then(|k| k.as_str())
            .filter(|k| !k.is_empty())
        {
            return Ok(Secret::new(key.to_string()));
        }
        let key = crate::basics::fernet::generate_key();
        config.insert("encryption_key".into(), key.expose().into());
        let mut out = Vec::new();
        let indent = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut writer = serde_json::Serializer::with_formatter(&mut out, indent);
        serde::Serialize::serialize(&config, &mut writer)
            .map_err(|e| file_error(format!("writing {rel}"), e.to_string()))?;
        let out = String::from_utf8(out).expect("serde_json writes UTF-8");
        self.write_private_file(&rel, &Secret::new(out), true, deadline)
            .await?;
        Ok(key)
    }

    /// The bytes of the files each site keeps (`sites/<site>/public/files` and
    /// `private/files`, as Frappe stores uploads), in the order of `sites`: one walk per
    /// site locally (no link followed), one `find` for all of them in a container.
    pub async fn files_sizes(
        &self,
        sites: &[String],
        deadline: Instant,
    ) -> Result<Vec<(u64, u64)>, BenchError> {
        let dirs: Vec<[String; 2]> = sites
            .iter()
            .map(|s| {
                [
                    format!("sites/{s}/public/files"),
                    format!("sites/{s}/private/files"),
                ]
            })
            .collect();
        if let Executor::Local { path, .. } = &self.executor {
            let tree = Tree::new(path);
            return local(move || {
                dirs.iter()
                    .map(|[public, private]| {
                        let size = |rel: &String| {
                            tree.size(rel)
                                .map_err(|e| file_error(format!("measuring {rel}"), e.to_string()))
                        };
                        Ok((size(public)?, size(private)?))
                    })
                    .collect()
            })
            .await;
        }
        if dirs.is_empty() {
            return Ok(vec![]);
        }
        // One `find` for all of them: each regular file's size and path (links are not
        // followed and not counted, as the local walk counts them); a missing folder is
        // only a complaint on stderr (and exit 1), and counts 0.
        let mut args: Vec<String> = dirs.iter().flatten().cloned().collect();
        args.extend(["-type", "f", "-printf", "%s\\t%p\\n"].map(String::from));
        let found = self.exec_raw("find", args, deadline).await?;
        if !found.status.success() && !only_missing(&found.stderr) {
            let detail = found.stderr.trim().to_string();
            return Err(file_error("measuring the sites' files", detail));
        }
        let out = found.stdout;
        let mut sizes: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for line in out.lines() {
            let Some((n, p)) = line.split_once('\t') else {
                continue;
            };
            // sites/<site>/<public|private>/files/…: the folder it was found under.
            let top: Vec<&str> = p.splitn(5, '/').take(4).collect();
            if let (Ok(n), 4) = (n.trim().parse::<u64>(), top.len()) {
                *sizes.entry(top.join("/")).or_default() += n;
            }
        }
        let get = |p: &String| sizes.get(p).copied().unwrap_or(0);
        Ok(dirs.iter().map(|[a, b]| (get(a), get(b))).collect())
    }

    /// Size and SHA-256 of files relative to the bench directory, in their order: read
    /// here without following links, or `sha256sum` and `stat` in the container.
    pub async fn digests(
        &self,
        paths: &[String],
        deadline: Instant,
    ) -> Result<Vec<FileDigest>, BenchError> {
        if let Executor::Local { path, .. } = &self.executor {
            let (tree, paths) = (Tree::new(path), paths.to_vec());
            return local(move || {
                paths
                    .iter()
                    .map(|rel| {
                        let failed =
                            |e: std::io::Error| file_error(format!("hashing {rel}"), e.to_string());
                        let mut f = tree.open(rel).map_err(failed)?.ok_or_else(|| {
                            file_error(format!("hashing {rel}"), "no such file".into())
                        })?;
                        let mut hasher = Sha256::new();
                        let size = std::io::copy(&mut f, &mut hasher).map_err(failed)?;
                        Ok(FileDigest {
                            size,
                            sha256: hex(&hasher.finalize()),
                        })
                    })
                    .collect()
            })
            .await;
        }
        let mut args = vec!["--".to_string()];
        args.extend(paths.iter().cloned());
        let sums = self.exec_raw("sha256sum", args.clone(), deadline).await?;
        if !sums.status.success() {
            let detail = sums.stderr.trim().to_string();
            return Err(file_error("hashing the backup", detail));
        }
        let sums = sums.stdout;
        let mut stat = vec!["-c".to_string(), "%s".into()];
        stat.extend(args);
        let sizes = self.exec_raw("stat", stat, deadline).await?;
        if !sizes.status.success() {
            let detail = sizes.stderr.trim().to_string();
            return Err(file_error("sizing the backup", detail));
        }
        let sizes = sizes.stdout;
        let sums: Vec<&str> = sums.lines().collect();
        let sizes: Vec<&str> = sizes.lines().collect();
        if sums.len() != paths.len() || sizes.len() != paths.len() {
            return Err(file_error(
                "hashing the backup",
                "sha256sum or stat left files out".into(),
            ));
        }
        sums.iter()
            .zip(sizes)
            .map(|(sum, size)| {
                Ok(FileDigest {
                    size: size
                        .trim()
                        .parse()
                        .map_err(|_| file_error("sizing the backup", size.into()))?,
                    sha256: sum
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                })
            })
            .collect()
    }

    /// Copies files of the bench into `out` (a directory here), each under its own name,
    /// never over an existing file; returns the paths written and the digest of each
    /// copy, read back from where it was written. From a container the files come in
    /// chunks through the executor (the bench's own Python reads a range and prints it
    /// as base64: the executor carries text).
    pub async fn copy_out(
        &self,
        paths: &[String],
        out: &std::path::Path,
        deadline: Instant,
    ) -> Result<Vec<(String, FileDigest)>, BenchError> {
        let Executor::Local { path, .. } = &self.executor else {
            let mut copied = vec![];
            for rel in paths {
                copied.push(self.copy_from_container(rel, out, deadline).await?);
            }
            return Ok(copied);
        };
        let (tree, paths, out) = (Tree::new(path), paths.to_vec(), out.to_path_buf());
        local(move || {
            paths
                .iter()
                .map(|rel| {
                    let name = rel.rsplit('/').next().unwrap_or(rel);
                    let target = out.join(name);
                    let failed = |e: std::io::Error| {
                        file_error(
                            format!("copying {rel} to {}", target.display()),
                            e.to_string(),
                        )
                    };
                    let mut from = tree
                        .open(rel)
                        .map_err(failed)?
                        .ok_or_else(|| failed(std::io::ErrorKind::NotFound.into()))?;
                    let mut to = create_private(&target).map_err(failed)?;
                    let copied = (|| {
                        std::io::copy(&mut from, &mut to)?;
                        to.sync_all()?;
                        let mut written = std::fs::File::open(&target)?;
                        let mut hasher = Sha256::new();
                        let size = std::io::copy(&mut written, &mut hasher)?;
                        Ok(FileDigest {
                            size,
                            sha256: hex(&hasher.finalize()),
                        })
                    })();
                    if copied.is_err() {
                        // No half copy is left behind.
                        let _ = std::fs::remove_file(&target);
                    }
                    Ok((target.display().to_string(), copied.map_err(failed)?))
                })
                .collect()
        })
        .await
    }

    /// One file of a container copied into `out`, chunk by chunk.
    async fn copy_from_container(
        &self,
        rel: &str,
        out: &std::path::Path,
        deadline: Instant,
    ) -> Result<(String, FileDigest), BenchError> {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let target = out.join(name);
        let failed = |e: String| file_error(format!("copying {rel} to {}", target.display()), e);
        let mut to = create_private(&target).map_err(|e| failed(e.to_string()))?;
        let copied = self.fill_from_container(rel, &mut to, deadline).await;
        if copied.is_err() {
            // No half copy is left behind.
            let _ = std::fs::remove_file(&target);
        }
        let digest = copied.map_err(|e| failed(e.to_string()))?;
        Ok((target.display().to_string(), digest))
    }

    async fn fill_from_container(
        &self,
        rel: &str,
        to: &mut std::fs::File,
        deadline: Instant,
    ) -> Result<FileDigest, BenchError> {
        use base64::Engine;
        use std::io::Write;
        let failed = |e: String| file_error(format!("reading {rel}"), e);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        loop {
            let args = vec![
                "-I".to_string(),
                "-c".into(),
                CHUNK_READER.into(),
                rel.into(),
                size.to_string(),
                CHUNK.to_string(),
            ];
            let read = self.exec_raw("env/bin/python", args, deadline).await?;
            if !read.status.success() {
                return Err(failed(read.stderr.trim().to_string()));
            }
            let text = read.stdout;
            let chunk = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| failed(e.to_string()))?;
            to.write_all(&chunk).map_err(|e| failed(e.to_string()))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if chunk.len() < CHUNK {
                break;
            }
        }
        to.sync_all().map_err(|e| failed(e.to_string()))?;
        Ok(FileDigest {
            size,
            sha256: hex(&hasher.finalize()),
        })
    }

    /// Every folder under `sites/` that can be a site (not `assets`, not hidden), with its
    /// `site_config.json` when it has a readable one. Sorted by name.
    pub async fn list_sites(&self, deadline: Instant) -> Result<Vec<SiteDir>, BenchError> {
        let names = self.list_entries("sites", false, deadline).await?;
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| is_site_folder_name(n))
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
            .map(|(name, text)| {
                let (config, unparsed) = match text.map(|t| serde_json::from_str(&t)) {
                    None => (None, None),
                    Some(Ok(config)) => (Some(config), None),
                    Some(Err(e)) => (None, Some(e.to_string())),
                };
                SiteDir {
                    name,
                    config,
                    unparsed,
                }
            })
            .collect();
        sites.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(sites)
    }

    /// The real directories (or, with `files`, regular files) directly in the folder `rel`,
    /// sorted; none when it is absent. Links are neither.
    async fn list_entries(
        &self,
        rel: &str,
        files: bool,
        deadline: Instant,
    ) -> Result<Vec<String>, BenchError> {
        if let Executor::Local { path, .. } = &self.executor {
            let (tree, rel) = (Tree::new(path), rel.to_string());
            return local(move || {
                tree.list(&rel, files)
                    .map_err(|e| file_error(format!("listing {rel}"), e.to_string()))
            })
            .await;
        }
        let kind = if files { "f" } else { "d" };
        let found = self
            .exec_raw(
                "find",
                [
                    rel,
                    "-mindepth",
                    "1",
                    "-maxdepth",
                    "1",
                    "-type",
                    kind,
                    "-printf",
                    "%f\\n",
                ]
                .map(String::from)
                .to_vec(),
                deadline,
            )
            .await?;
        // A folder that is not there is only find's complaint; any other failure (a
        // container that refused the exec, say) is no empty folder.
        if !found.status.success() {
            return match only_missing(&found.stderr) && found.stdout.is_empty() {
                true => Ok(vec![]),
                false => Err(file_error(format!("listing {rel}"), found.stderr)),
            };
        }
        let mut names: Vec<String> = found.stdout.lines().map(String::from).collect();
        names.sort();
        Ok(names)
    }

    /// Removes `sites/<site>` when bench could not (its config was never written).
    /// `site` is a validated DNS name, so it cannot climb out of `sites/`.
    pub async fn remove_site_dir(&self, site: &str, deadline: Instant) -> Result<(), BenchError> {
        let rel = format!("sites/{site}");
        match &self.executor {
            Executor::Local { path, .. } => {
                let tree = Tree::new(path);
                local(move || {
                    tree.remove_tree(&rel)
                        .map_err(|e| file_error(format!("removing {rel}"), e.to_string()))
                })
                .await
            }
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
                let tree = Tree::new(path);
                let what = format!("renaming {src} to {dst}");
                local(move || {
                    tree.rename_noreplace(&src, &dst)
                        .map_err(|e| file_error(what, e.to_string()))
                })
                .await
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
    /// through a new temporary file and a rename, so readers never see half of it, and
    /// nothing is written through a link someone planted. The content goes to the child on
    /// stdin, never into argv: it may be a secret.
    pub async fn write_private_file(
        &self,
        rel: &str,
        content: &Secret,
        replace: bool,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        if let Executor::Local { path, .. } = &self.executor {
            let (tree, rel) = (Tree::new(path), rel.to_string());
            let bytes = content.expose().as_bytes().to_vec();
            return local(move || {
                tree.write_new(&rel, &mut bytes.as_slice(), replace)
                    .map_err(|e| file_error(format!("writing {rel}"), e.to_string()))
            })
            .await;
        }
        // A name nobody can guess, so no one can plant a link there first.
        let tmp = format!("{rel}.tmp-{:016x}", rand::random::<u64>());
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
        let (prog, argv) = self.container_argv(
            vec![
                "dd".into(),
                format!("of={tmp}"),
                "conv=notrunc".into(),
                "oflag=nofollow".into(),
                "status=none".into(),
            ],
            deadline,
        );
        let out = spawn_and_wait(&prog, &argv, None, content.expose().as_bytes(), deadline)
            .await
            .map_err(|e| run_error(&prog, "dd", e))?;
        if !out.status.success() {
            let _ = self.remove_file(&tmp, deadline).await;
            return Err(file_error(format!("writing {rel}"), out.stderr));
        }
        let mode = if replace { "-f" } else { "-n" };
        self.exec_ok(
            "mv",
            vec![
                mode.into(),
                "-T".into(),
                "--".into(),
                tmp.clone(),
                rel.into(),
            ],
            deadline,
        )
        .await?;
        if replace {
            return Ok(());
        }
        // `mv -n` leaves the temporary file when the target was there first.
        self.remove_file(&tmp, deadline).await
    }

    /// Removes a file relative to the bench directory; absent is fine.
    pub async fn remove_file(&self, rel: &str, deadline: Instant) -> Result<(), BenchError> {
        match &self.executor {
            Executor::Local { path, .. } => {
                let (tree, rel) = (Tree::new(path), rel.to_string());
                local(move || {
                    tree.remove_file(&rel)
                        .map_err(|e| file_error(format!("removing {rel}"), e.to_string()))
                })
                .await
            }
            _ => {
                self.exec_ok("rm", vec!["-f".into(), "--".into(), rel.into()], deadline)
                    .await
            }
        }
    }

    /// Decompresses `gz` (`x.sql.gz`, relative to the bench directory) into `out` and
    /// removes `gz`.
    pub async fn gunzip(&self, gz: &str, out: &str, deadline: Instant) -> Result<(), BenchError> {
        if let Executor::Local { path, .. } = &self.executor {
            let (tree, gz, out) = (Tree::new(path), gz.to_string(), out.to_string());
            return local(move || {
                tree.gunzip(&gz, &out)
                    .map_err(|e| file_error(format!("unpacking {gz}"), e.to_string()))
            })
            .await;
        }
        self.exec_ok(
            "gzip",
            vec!["-d".into(), "-f".into(), "--".into(), gz.into()],
            deadline,
        )
        .await?;
        let unpacked = gz.trim_end_matches(".gz").to_string();
        self.exec_ok(
            "mv",
            vec!["-f".into(), "-T".into(), "--".into(), unpacked, out.into()],
            deadline,
        )
        .await
    }

    /// Regular files directly in a folder relative to the bench directory (none when it is
    /// absent).
    pub async fn list_files(
        &self,
        rel: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, BenchError> {
        self.list_entries(rel, true, deadline).await
    }
}

/// Bytes per chunk of a file copied out of a container.
const CHUNK: usize = 8 << 20;

/// Prints, base64, `argv[3]` bytes of file `argv[1]` from offset `argv[2]`: a fixed
/// program, run as the bench's own `env/bin/python -I` (a container has no `dd` with
/// `skip_bytes` everywhere, and the tool never uses a shell).
const CHUNK_READER: &str = "import base64, sys\n\
f = open(sys.argv[1], 'rb')\n\
f.seek(int(sys.argv[2]))\n\
sys.stdout.write(base64.b64encode(f.read(int(sys.argv[3]))).decode())\n";

/// A file's size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub size: u64,
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A site folder of the bench, with the part of its `site_config.json` the tool uses.
#[derive(Debug, Clone)]
pub struct SiteDir {
    pub name: String,
    /// `None`: no readable `site_config.json` (a half-made site, or not a site).
    pub config: Option<SiteConfig>,
    /// Why its `site_config.json`, which is there, is not JSON: empty or cut short, as
    /// Frappe leaves it for an instant while it rewrites it in place (it truncates
    /// first), or broken. Such a folder may name any database.
    pub unparsed: Option<String>,
}

/// The keys of a `site_config.json` the tool reads. Everything else, the DB password
/// and the encryption key included, is never kept.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SiteConfig {
    pub db_name: Option<String>,
    /// Frappe versions after 15.14 may name the DB user apart from the database.
    pub db_user: Option<String>,
    /// The keys a suspension changes (see `SUSPENSION_KEYS`): `None` when absent, a JSON
    /// `null` when present as null, so `resume` can restore exactly what was there.
    #[serde(default, deserialize_with = "present")]
    pub maintenance_mode: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub allow_reads_during_maintenance: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub pause_scheduler: Option<serde_json::Value>,
}

/// A key that is present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl SiteConfig {
    /// The site's DB account name: `db_user`, else (Frappe v15.14) the database's name.
    pub fn db_user(&self) -> Option<&str> {
        self.db_user.as_deref().or(self.db_name.as_deref())
    }

    /// The value of one of the suspension's keys, as the config holds it.
    pub fn flag(&self, key: &str) -> Option<&serde_json::Value> {
        match key {
            "maintenance_mode" => self.maintenance_mode.as_ref(),
            "allow_reads_during_maintenance" => self.allow_reads_during_maintenance.as_ref(),
            "pause_scheduler" => self.pause_scheduler.as_ref(),
            _ => None,
        }
    }

    /// What `flag` says after bench set one of the suspension's keys (`None`: removed).
    pub fn set_flag(&mut self, key: &str, value: Option<serde_json::Value>) {
        match key {
            "maintenance_mode" => self.maintenance_mode = value,
            "allow_reads_during_maintenance" => self.allow_reads_during_maintenance = value,
            "pause_scheduler" => self.pause_scheduler = value,
            _ => {}
        }
    }
}

/// Python's truthiness of a config value, as Frappe reads `frappe.local.conf.<key>`.
pub fn truthy(v: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Folders under `sites/` that are never sites.
pub(super) fn is_site_folder_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name != "assets"
}

/// Whether a failed `find` complained only of paths that do not exist (each stderr line
/// `find: '…': No such file or directory`), and so said nothing else went wrong.
fn only_missing(stderr: &str) -> bool {
    let mut lines = stderr.lines().filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some() && lines.all(|l| l.ends_with(": No such file or directory"))
}

/// `grep -H '' -- <paths>` output back into one text per path; a path grep could not
/// open is `None` when it does not exist, an error otherwise. grep exits 0 when it
/// printed a line, 1 when every file is empty, 2 when a file could not be read; any other
/// status, or 1 with a complaint, is the exec failing (a container that refused it),
/// never files that are empty.
pub(super) fn parse_grep_h(
    paths: &[String],
    status: Option<i32>,
    stdout: &str,
    stderr: &str,
) -> Result<Vec<Option<String>>, BenchError> {
    let all = || format!("reading {}", paths.join(", "));
    match status {
        Some(0 | 2) => {}
        Some(1) if stdout.is_empty() && stderr.trim().is_empty() => {}
        _ => return Err(file_error(all(), stderr.trim().to_string())),
    }
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

/// A new file for a copy out of the bench, never over anything already there (a link
/// included), readable by the tool's own account only whatever the umask: a backup holds the
/// site's database password, its encryption key and its customers' data.
fn create_private(target: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
}

/// Runs a local file operation on the blocking pool, counted as waiting on the bench.
async fn local<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, BenchError> + Send + 'static,
) -> Result<T, BenchError> {
    let _waiting = crate::basics::waits::waiting();
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| file_error("a local file operation", e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_bench(dir: &std::path::Path) -> Bench {
        Bench {
            executor: Executor::Local {
                bin: "bench".into(),
                path: dir.to_path_buf(),
            },
            db_host_flag: super::super::DbHostFlag::NoMariadbSocket,
        }
    }

    #[tokio::test]
    async fn a_site_without_an_encryption_key_gets_one_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("sites/a.localhost");
        std::fs::create_dir_all(&site).unwrap();
        let config = site.join("site_config.json");
        std::fs::write(
            &config,
            r#"{"db_name": "ft_x", "db_password": "p", "z": [1, {"b": 2}]}"#,
        )
        .unwrap();
        let bench = local_bench(dir.path());
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let key = bench
            .site_encryption_key_or_new("a.localhost", "ft_x", deadline)
            .await
            .unwrap();
        // Frappe's layout (json.dumps indent=1, sort_keys), every other key as it was.
        let text = std::fs::read_to_string(&config).unwrap();
        let want = format!(
            "{{\n \"db_name\": \"ft_x\",\n \"db_password\": \"p\",\n \"encryption_key\": \"{}\",\n \"z\": [\n  1,\n  {{\n   \"b\": 2\n  }}\n ]\n}}",
            key.expose()
        );
        assert_eq!(text, want);
        assert!(
            crate::basics::fernet::encrypt(&key, b"x").is_ok(),
            "a Fernet key"
        );
        // Asked again, the same key, the file untouched.
        let again = bench
            .site_encryption_key_or_new("a.localhost", "ft_x", deadline)
            .await
            .unwrap();
        assert_eq!(again.expose(), key.expose());
        assert_eq!(std::fs::read_to_string(&config).unwrap(), want);
        // A site without a config gets none.
        assert!(bench
            .site_encryption_key_or_new("b.localhost", "ft_x", deadline)
            .await
            .is_err());
        assert!(!dir.path().join("sites/b.localhost").exists());
        // A folder whose config names another database is not this run's: untouched.
        let other = dir.path().join("sites/c.localhost");
        std::fs::create_dir_all(&other).unwrap();
        let theirs = r#"{"db_name": "someone_else"}"#;
        std::fs::write(other.join("site_config.json"), theirs).unwrap();
        assert!(bench
            .site_encryption_key_or_new("c.localhost", "ft_x", deadline)
            .await
            .is_err());
        assert_eq!(
            std::fs::read_to_string(other.join("site_config.json")).unwrap(),
            theirs
        );
    }

    fn paths() -> Vec<String> {
        ["a/x.json", "a/y.txt", "a/z"].map(String::from).to_vec()
    }

    #[test]
    fn grep_output_is_one_text_per_path() {
        let out = "a/x.json:{\na/x.json:}\na/z:one\n";
        let err = "grep: a/y.txt: No such file or directory\n";
        let texts = parse_grep_h(&paths(), Some(2), out, err).unwrap();
        assert_eq!(
            texts,
            vec![Some("{\n}".to_string()), None, Some("one".to_string())]
        );
        // Every file empty: status 1 and nothing said.
        let texts = parse_grep_h(&paths(), Some(1), "", "").unwrap();
        assert_eq!(texts, vec![Some(String::new()); 3]);
        let denied = "grep: a/y.txt: Permission denied\n";
        assert!(parse_grep_h(&paths(), Some(2), out, denied).is_err());
    }

    #[test]
    fn a_grep_line_belongs_only_to_the_path_it_starts_with() {
        let paths = ["a/x".to_string()];
        // Another path's line, with a colon where this path's would end.
        let texts = parse_grep_h(&paths, Some(0), "a/x:1\nb/y:2\n", "").unwrap();
        assert_eq!(texts, vec![Some("1".to_string())]);
        // A line that is the path itself and no more (output cut short) is no text.
        let texts = parse_grep_h(&paths, Some(0), "a/x\n", "").unwrap();
        assert_eq!(texts, vec![Some(String::new())]);
    }

    #[test]
    fn config_values_are_true_as_python_reads_them() {
        use serde_json::json;
        for (v, want) in [
            (json!(null), false),
            (json!(false), false),
            (json!(true), true),
            (json!(0), false),
            (json!(0.0), false),
            (json!(1), true),
            (json!(-1), true),
            (json!(0.5), true),
            (json!(""), false),
            (json!("0"), true),
            (json!([]), false),
            (json!([0]), true),
            (json!({}), false),
            (json!({"a": 1}), true),
        ] {
            assert_eq!(truthy(Some(&v)), want, "{v}");
        }
        assert!(!truthy(None));
    }

    #[test]
    fn only_real_names_under_sites_can_be_sites() {
        for (name, want) in [
            ("a.localhost", true),
            ("assets2", true),
            ("", false),
            (".frappe-tenant", false),
            ("assets", false),
        ] {
            assert_eq!(is_site_folder_name(name), want, "{name:?}");
        }
    }

    #[test]
    fn a_config_keeps_each_suspension_key_apart_and_names_its_db_user() {
        use serde_json::json;
        let mut c: SiteConfig = serde_json::from_value(json!({
            "db_name": "_abc",
            "maintenance_mode": 0,
            "pause_scheduler": null,
        }))
        .unwrap();
        assert_eq!(c.flag("maintenance_mode"), Some(&json!(0)));
        assert_eq!(c.flag("pause_scheduler"), Some(&json!(null)));
        assert_eq!(c.flag("allow_reads_during_maintenance"), None);
        assert_eq!(c.flag("db_name"), None);
        for (i, key) in [
            "maintenance_mode",
            "allow_reads_during_maintenance",
            "pause_scheduler",
        ]
        .into_iter()
        .enumerate()
        {
            c.set_flag(key, Some(json!(i + 1)));
        }
        assert_eq!(c.flag("maintenance_mode"), Some(&json!(1)));
        assert_eq!(c.flag("allow_reads_during_maintenance"), Some(&json!(2)));
        assert_eq!(c.flag("pause_scheduler"), Some(&json!(3)));
        c.set_flag("pause_scheduler", None);
        assert_eq!(c.flag("pause_scheduler"), None);
        // Frappe 15.14 names the DB user after the database; later versions apart.
        assert_eq!(c.db_user(), Some("_abc"));
        c.db_user = Some("_user".into());
        assert_eq!(c.db_user(), Some("_user"));
        assert_eq!(SiteConfig::default().db_user(), None);
    }

    #[test]
    fn a_refused_exec_is_no_empty_file() {
        let paused = "Error response from daemon: Container backend is paused\n";
        assert!(parse_grep_h(&paths(), Some(1), "", paused).is_err());
        for status in [None, Some(126), Some(137), Some(255)] {
            assert!(
                parse_grep_h(&paths(), status, "", "").is_err(),
                "{status:?}"
            );
        }
    }

    #[test]
    fn only_a_missing_path_is_an_absent_folder() {
        assert!(only_missing("find: 'sites': No such file or directory\n"));
        assert!(!only_missing(""));
        assert!(!only_missing(
            "find: 'sites': No such file or directory\nError response from daemon: paused\n"
        ));
        assert!(!only_missing("find: 'sites': Permission denied\n"));
    }
}
