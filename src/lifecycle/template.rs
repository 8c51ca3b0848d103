//! The template's description (`sites/.frappe-tenant/template.json`): which dump, which
//! apps at which versions, and whether it can be restored on this bench now. `template
//! build` writes it; provision and `pool fill` read it before choosing how to make a site.

use std::collections::BTreeSet;

use tokio::time::Instant;

use crate::output::TemplateMeta;
use crate::outside::bench::{Bench, BenchError, BenchFacts, TEMPLATE_META};
use frappe_password::PasswordPolicy;

/// The password policy a new site of this bench applies to its first user: the one
/// recorded from the template's reference site when there is a template (it is a fresh
/// site of this bench's Frappe), else a fresh Frappe v15 site's defaults.
pub fn sign_up_policy(facts: &BenchFacts) -> PasswordPolicy {
    facts
        .template_json
        .as_deref()
        .and_then(|t| serde_json::from_str::<TemplateMeta>(t).ok())
        .and_then(|m| m.password_policy)
        .unwrap_or_default()
}

/// The template, when it can be restored for a site with `wanted` apps on this bench
/// now; otherwise why not.
pub async fn check(
    bench: &Bench,
    facts: &BenchFacts,
    wanted: &[String],
    deadline: Instant,
) -> Result<Result<TemplateMeta, String>, BenchError> {
    let Some(text) = &facts.template_json else {
        return Ok(Err(
            "there is no template (`frappe-tenant template build` makes one)".into(),
        ));
    };
    let meta: TemplateMeta = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return Ok(Err(format!("{TEMPLATE_META} is unreadable: {e}"))),
    };
    let have: BTreeSet<&str> = meta.apps.iter().map(|a| a.app.as_str()).collect();
    let want: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    if have != want {
        return Ok(Err(format!(
            "the template has apps {have:?} but sites here get {want:?}: rebuild it"
        )));
    }
    let versions = bench.app_versions(wanted, deadline).await?;
    for (app, now) in wanted.iter().zip(versions) {
        let then = meta
            .apps
            .iter()
            .find(|a| &a.app == app)
            .map(|a| a.version.as_str())
            .unwrap_or_default();
        if now.as_deref() != Some(then) {
            return Ok(Err(format!(
                "{app} is {} on the bench but {then} in the template: rebuild it",
                now.as_deref().unwrap_or("of unknown version")
            )));
        }
    }
    if !bench.exists(&meta.sql, deadline).await? {
        return Ok(Err(format!("the template's dump {} is missing", meta.sql)));
    }
    Ok(Ok(meta))
}
