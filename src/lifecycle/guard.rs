//! What no removal may take, whoever asks for it and whatever a site's config says: a
//! system schema, the registry, the MariaDB admin account or the database named like it,
//! and a database (or DB user) that another site's `site_config.json` or another live
//! registry row names. Every path that drops a database or a DB user asks the guard
//! first; the registry rows and site folders it knows are read when a command plans, and
//! a cleanup reads them again after its countdown, just before it removes anything.

use std::collections::{BTreeMap, BTreeSet};

use crate::context::Context;
use crate::outside::bench::SiteDir;
use crate::outside::mariadb::registry::LiveRow;
use crate::outside::mariadb::SYSTEM_SCHEMAS;

/// Accounts MariaDB itself has: never dropped.
const SYSTEM_ACCOUNTS: &[&str] = &["root", "mariadb.sys", "mysql", "PUBLIC"];

#[derive(Debug, Default, Clone)]
pub struct Guard {
    registry: String,
    /// The admin accounts the tool connects with: the bench's server's and the registry's.
    admins: Vec<String>,
    /// Database or DB user name → the site folders whose config names it.
    by_config: BTreeMap<String, BTreeSet<String>>,
    /// Database name → the live registry rows (any bench) that name it.
    by_live_row: BTreeMap<String, BTreeSet<u64>>,
    /// Database name → the other registry on the server that names it.
    by_other_registry: BTreeMap<String, String>,
}

impl Guard {
    /// The fixed part: what no command of this configuration may ever drop.
    pub fn fixed(ctx: &Context) -> Self {
        Self::of(ctx.registry.name(), &[&ctx.db.user, &ctx.control.user])
    }

    fn of(registry: &str, admins: &[&str]) -> Self {
        Guard {
            registry: registry.to_string(),
            admins: admins.iter().map(|a| a.to_string()).collect(),
            ..Guard::default()
        }
    }

    /// And what the bench's site folders and the registry's live rows name.
    pub fn knowing(mut self, sites: &[SiteDir], live: &[LiveRow]) -> Self {
        for s in sites {
            let Some(c) = &s.config else { continue };
            for name in [c.db_name.as_deref(), c.db_user()].into_iter().flatten() {
                self.by_config
                    .entry(name.to_string())
                    .or_default()
                    .insert(s.name.clone());
            }
        }
        for r in live {
            self.by_live_row
                .entry(r.db_name.clone())
                .or_default()
                .insert(r.id);
        }
        self
    }

    /// And what the other registries on the server name (another deployment's tenants).
    pub fn and_other_registries(mut self, named: BTreeMap<String, String>) -> Self {
        self.by_other_registry = named;
        self
    }

    /// Why the database `db_name` may not be dropped in removing `site` (for its registry
    /// row `row`, if the removal is for one), or `None` when it may.
    pub fn database(&self, db_name: &str, site: &str, row: Option<u64>) -> Option<String> {
        let lower = db_name.to_ascii_lowercase();
        if SYSTEM_SCHEMAS.contains(&lower.as_str()) {
            return Some(format!("{db_name} is a system schema"));
        }
        if db_name == self.registry {
            return Some(format!("{db_name} is the tool's registry"));
        }
        if self.admins.iter().any(|a| a == db_name) {
            return Some(format!(
                "{db_name} is named like the MariaDB admin account the tool connects with"
            ));
        }
        self.other_registry(db_name)
            .or_else(|| self.named_elsewhere(db_name, site, row))
    }

    fn other_registry(&self, name: &str) -> Option<String> {
        let registry = self.by_other_registry.get(name)?;
        Some(format!(
            "{name} is named by registry {registry}, another deployment's on this server"
        ))
    }

    /// Why the DB user `user` may not be dropped in removing `site`, or `None`.
    pub fn user(&self, user: &str, site: &str, row: Option<u64>) -> Option<String> {
        if user.is_empty() {
            return Some("an anonymous account ('') is MariaDB's, never a site's".into());
        }
        if self.admins.iter().any(|a| a == user) || SYSTEM_ACCOUNTS.contains(&user) {
            return Some(format!(
                "{user} is an account MariaDB or the tool itself uses"
            ));
        }
        self.other_registry(user)
            .or_else(|| self.named_elsewhere(user, site, row))
    }

    fn named_elsewhere(&self, name: &str, site: &str, row: Option<u64>) -> Option<String> {
        if let Some(other) = self
            .by_config
            .get(name)
            .and_then(|sites| sites.iter().find(|s| *s != site))
        {
            return Some(format!("the site_config.json of {other} names {name}"));
        }
        if let Some(id) = self
            .by_live_row
            .get(name)
            .and_then(|ids| ids.iter().find(|id| Some(**id) != row))
        {
            return Some(format!("live registry row {id} names {name}"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outside::bench::SiteConfig;

    fn guard() -> Guard {
        let site = |name: &str, db: &str| SiteDir {
            name: name.into(),
            config: Some(SiteConfig {
                db_name: Some(db.into()),
                ..Default::default()
            }),
            unparsed: None,
        };
        let live = LiveRow {
            id: 7,
            bench_id: "b".into(),
            site: "c.localhost".into(),
            db_name: "ft_c".into(),
        };
        Guard::of("frappe_tenant", &["ftroot"]).knowing(
            &[site("a.localhost", "ft_a"), site("b.localhost", "ft_a")],
            &[live],
        )
    }

    #[test]
    fn never_the_system_the_registry_or_the_admin_account() {
        let g = guard();
        for db in [
            "mysql",
            "SYS",
            "information_schema",
            "frappe_tenant",
            "ftroot",
        ] {
            assert!(g.database(db, "x.localhost", None).is_some(), "{db}");
        }
        for user in ["root", "mariadb.sys", "PUBLIC", "", "ftroot"] {
            assert!(g.user(user, "x.localhost", None).is_some(), "{user}");
        }
    }

    #[test]
    fn never_what_another_site_or_live_row_names() {
        let g = guard();
        // a.localhost and b.localhost both name ft_a: neither removal may drop it.
        assert!(g.database("ft_a", "a.localhost", None).is_some());
        assert!(g.database("ft_a", "b.localhost", None).is_some());
        // ft_c is live row 7's: only the removal for row 7 may drop it.
        assert!(g.database("ft_c", "c.localhost", Some(8)).is_some());
        assert!(g.database("ft_c", "c.localhost", Some(7)).is_none());
        assert!(g.database("ft_z", "z.localhost", None).is_none());
    }

    #[test]
    fn never_what_another_registry_on_the_server_names() {
        let staging = [("ft_s".to_string(), "frappe_tenant_staging".to_string())];
        let g = guard().and_other_registries(staging.into_iter().collect());
        assert!(g.database("ft_s", "s.localhost", None).is_some());
        assert!(g.user("ft_s", "s.localhost", None).is_some());
        assert!(g.database("ft_z", "z.localhost", None).is_none());
    }
}
