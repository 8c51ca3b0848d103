//! A tenant's registry row as the contract shows it (`verify`, `pool status`): mapped from
//! the registry's own row type, so a column renamed in the registry never renames a field
//! of the published JSON.

use serde::Serialize;

use crate::outside::mariadb::registry::{Row, SitePath, Status};

/// One registry row, as `verify` and `pool status` print it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub id: u64,
    pub site: String,
    pub subdomain: String,
    pub db_name: String,
    pub organization: Option<String>,
    pub email: Option<String>,
    pub status: Status,
    pub path: Option<SitePath>,
    pub step: Option<String>,
    pub error: Option<String>,
    /// For a site taken from the pool: the standby name it had before.
    pub standby_site: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Row> for Registration {
    fn from(r: &Row) -> Self {
        Registration {
            id: r.id,
            site: r.site.clone(),
            subdomain: r.subdomain.clone(),
            db_name: r.db_name.clone(),
            organization: r.organization.clone(),
            email: r.email.clone(),
            status: r.status,
            path: r.path,
            step: r.step.clone(),
            error: r.error.clone(),
            standby_site: r.standby_site.clone(),
            created_at: r.created_at.clone(),
            updated_at: r.updated_at.clone(),
        }
    }
}
