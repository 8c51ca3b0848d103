//! The apps a tenant site gets: frappe, then those of INSTALL_APPS the bench has, and
//! installing the ones a site lacks with `bench install-app`.

use tokio::time::Instant;

use crate::context::Context;
use crate::outside::bench::BenchError;
use crate::outside::mariadb::{Db, DbError};
use crate::progress::progress;

/// The apps every tenant site gets: frappe, then those of INSTALL_APPS the bench has.
/// The others are returned apart, for a warning.
pub fn wanted_apps(install_apps: &[String], available: &[String]) -> (Vec<String>, Vec<String>) {
    let mut wanted = vec!["frappe".to_string()];
    let mut missing = vec![];
    for app in install_apps {
        if wanted.contains(app) {
            continue;
        }
        if available.contains(app) {
            wanted.push(app.clone());
        } else {
            missing.push(app.clone());
        }
    }
    (wanted, missing)
}

#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    #[error(transparent)]
    Db(DbError),
    #[error(transparent)]
    Bench(BenchError),
}

/// Installs each wanted app the site does not have yet. A fresh site has only
/// frappe; a template or standby site already has them all, and bench never starts.
pub async fn install_missing_apps(
    ctx: &Context,
    db: &mut Db,
    site: &str,
    db_name: &str,
    wanted: &[String],
    deadline: Instant,
) -> Result<(), AppsError> {
    if wanted.len() <= 1 {
        return Ok(());
    }
    let installed = db
        .installed_apps(db_name)
        .await
        .map_err(AppsError::Db)?
        .unwrap_or_default();
    for app in wanted.iter().filter(|a| !installed.contains(a)) {
        ctx.bench
            .install_app(site, app, deadline)
            .await
            .map_err(AppsError::Bench)?;
        progress(&format!("✓ {app} installed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_get_frappe_and_the_available_apps() {
        let (wanted, missing) = wanted_apps(
            &["nexus_core".into(), "erpnext".into(), "frappe".into()],
            &["frappe".into(), "erpnext".into()],
        );
        assert_eq!(wanted, ["frappe", "erpnext"]);
        assert_eq!(missing, ["nexus_core"]);
    }
}
