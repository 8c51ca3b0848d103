//! A one-time link that logs a user of a site straight into the desk: Frappe's own
//! (`frappe.www.login.login_via_key`, what `_generate_temporary_login_link` hands out),
//! minted without bench by writing its key into the site's Redis cache as Frappe does.
//!
//! What it grants: one normal desk session as that user, to whoever opens it first, within
//! its minutes. Frappe reads the key and deletes it before it logs the browser in (single
//! use), Redis drops it when its time is up, and Frappe rate-limits the endpoint (5 per
//! hour per IP). The key is 28 random bytes (Frappe's `generate_hash`: 56 hex digits); it
//! is in no log and in no child's argv, only in the URL handed to the caller.

use std::time::Duration;

use crate::basics::secret::Secret;
use crate::context::Context;
use crate::error::{Code, Error};
use crate::outside::bench::CommonConfig;
use crate::outside::frappe_cache::FrappeCache;

/// The path Frappe serves login keys on.
const LOGIN_VIA_KEY: &str = "/api/method/frappe.www.login.login_via_key";

/// Frappe's cache of this bench as the tool reaches it: REDIS_CACHE_URL, else the bench's
/// own `redis_cache`.
pub fn cache_of(ctx: &Context, common: &CommonConfig) -> Result<FrappeCache, Error> {
    let url = ctx
        .redis_cache_url
        .clone()
        .or_else(|| common.redis_cache.clone())
        .ok_or_else(|| {
            Error::config(
                "login links need Frappe's Redis cache: the bench's common_site_config.json \
                 has no redis_cache; set REDIS_CACHE_URL",
            )
        })?;
    FrappeCache::new(&url).map_err(|e| Error::config(e.to_string()))
}

/// Whether the cache answers: checked before a run that promised a link makes anything.
pub async fn reachable(cache: &FrappeCache) -> Result<(), Error> {
    cache.ping().await.map_err(|e| {
        Error::config(format!(
            "{e}: login links need it (REDIS_CACHE_URL, when the bench's own address is not \
             reachable from here)"
        ))
    })
}

/// A link for `user` of the site whose database is `db_name`, valid for `ttl`.
pub async fn mint(
    cache: &FrappeCache,
    site_url: &str,
    db_name: &str,
    user: &str,
    ttl: Duration,
) -> Result<String, Error> {
    let key = Secret::new(
        rand::random::<[u8; 28]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    cache
        .put_login_key(db_name, &key, user, ttl)
        .await
        .map_err(|e| {
            Error::new(
                Code::ConfigError,
                format!("the login link was not made: {e}"),
            )
        })?;
    Ok(format!(
        "{}{LOGIN_VIA_KEY}?key={}",
        site_url.trim_end_matches('/'),
        key.expose()
    ))
}
