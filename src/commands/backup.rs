//! `backup <site> [--with-files] [--out DIR]`: Frappe's own `bench backup` of a tenant
//! the tool made, under its lock, through the executor; each file it wrote with its size
//! and SHA-256, and with `--out` copied off the bench (from a container through the
//! executor), each copy checked against the hash taken on the bench.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cli::BackupArgs;
use crate::context::Context;
use crate::error::{Code, Error};
use crate::lifecycle::held::hold;
use crate::output::{round2, BackupFile, BackupReport, Output};
use crate::outside::bench::FileDigest;
use crate::outside::mariadb::registry::Status;

pub async fn run(args: BackupArgs) -> Result<Output, Error> {
    let started = Instant::now();
    let (ctx, site) = Context::resolve_for_site(&args.conn, &args.site).await?;
    let for_site = |e: Error| e.for_site(&site);
    let out = match &args.out {
        Some(dir) => Some(out_dir(dir).map_err(for_site)?),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut held = hold(
        &ctx,
        &site,
        "backup",
        &[Status::Active, Status::Suspended],
        deadline,
    )
    .await
    .map_err(for_site)?;
    let folder = format!("sites/{site}/private/backups");
    let before = ctx
        .bench
        .list_files(&folder, deadline)
        .await
        .map_err(|e| for_site(e.into()))?;
    held.still_held().await.map_err(for_site)?;
    ctx.bench
        .backup(&site, args.with_files, deadline)
        .await
        .map_err(|e| for_site(Error::from(e).at("backup")))?;
    let made: Vec<String> = ctx
        .bench
        .list_files(&folder, deadline)
        .await
        .map_err(|e| for_site(e.into()))?
        .into_iter()
        .filter(|n| !before.contains(n) && kind(n).is_some())
        .map(|n| format!("{folder}/{n}"))
        .collect();
    if !made.iter().any(|p| kind(p) == Some("database")) {
        return Err(for_site(Error::new(
            Code::BenchFailed,
            format!("bench backup succeeded but wrote no new database file in {folder}"),
        )));
    }
    let digests = ctx
        .bench
        .digests(&made, deadline)
        .await
        .map_err(|e| for_site(e.into()))?;
    let copied = match &out {
        Some(dir) => Some(
            copy(&ctx, &made, dir, &digests, deadline)
                .await
                .map_err(for_site)?,
        ),
        None => None,
    };
    let files = made
        .iter()
        .zip(digests)
        .enumerate()
        .map(|(i, (path, d))| BackupFile {
            kind: kind(path).unwrap_or_default().into(),
            path: path.clone(),
            size: d.size,
            sha256: d.sha256,
            copied_to: copied.as_ref().map(|c: &Vec<String>| c[i].clone()),
        })
        .collect();
    Ok(Output::Backup(BackupReport {
        success: true,
        site: site.clone(),
        db_name: held.row.db_name.clone(),
        with_files: args.with_files,
        files,
        elapsed: round2(started.elapsed().as_secs_f64()),
    }))
}

/// `--out`, checked before anything is done: an existing directory here.
fn out_dir(dir: &Path) -> Result<PathBuf, Error> {
    if !dir.is_dir() {
        return Err(
            Error::invalid(format!("--out {} is not a directory", dir.display())).on_field("out"),
        );
    }
    Ok(dir.to_path_buf())
}

/// The files copied to `dir`, each copy checked against the digest taken on the bench.
async fn copy(
    ctx: &Context,
    made: &[String],
    dir: &Path,
    digests: &[FileDigest],
    deadline: tokio::time::Instant,
) -> Result<Vec<String>, Error> {
    let copied = ctx.bench.copy_out(made, dir, deadline).await?;
    if copied.iter().map(|(_, d)| d).ne(digests.iter()) {
        return Err(Error::new(
            Code::BenchFailed,
            format!(
                "the copies in {} differ from the backup on the bench",
                dir.display()
            ),
        ));
    }
    Ok(copied.into_iter().map(|(p, _)| p).collect())
}

/// What a file of Frappe's backup holds, by its name (utils/backups.py
/// `set_backup_file_name`); `None` for what is not part of one.
fn kind(name: &str) -> Option<&'static str> {
    let name = name.rsplit('/').next().unwrap_or(name);
    if name.ends_with("-database.sql.gz") {
        Some("database")
    } else if name.ends_with("-site_config_backup.json") {
        Some("config")
    } else if name.ends_with("-private-files.tar") || name.ends_with("-private-files.tgz") {
        Some("private-files")
    } else if name.ends_with("-files.tar") || name.ends_with("-files.tgz") {
        Some("public-files")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn backup_files_are_known_by_frappes_names() {
        let k = |n: &str| {
            kind(&format!(
                "sites/a/private/backups/20261207_081700-a_localhost{n}"
            ))
        };
        assert_eq!(k("-database.sql.gz"), Some("database"));
        assert_eq!(k("-site_config_backup.json"), Some("config"));
        assert_eq!(k("-files.tar"), Some("public-files"));
        assert_eq!(k("-private-files.tar"), Some("private-files"));
        assert_eq!(k(".txt"), None);
    }
}
