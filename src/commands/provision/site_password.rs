//! The Administrator password a provision gives a site, with its Frappe hash made on
//! another thread while the claim or new-site runs (pbkdf2 costs a few ms of CPU).

use crate::basics::secret::Secret;
use crate::error::{Code, Error};
use crate::outside::mariadb::tenant::frappe_password_hash;
use crate::outside::mariadb::Db;

/// A site's Administrator password, with its Frappe hash being made on another thread.
pub(super) struct SitePassword {
    pub(super) password: Secret,
    hash: tokio::task::JoinHandle<String>,
}

impl SitePassword {
    pub(super) fn new(password: Secret) -> Self {
        let p = password.clone();
        let hash = tokio::task::spawn_blocking(move || frappe_password_hash(&p, rand::random()));
        SitePassword { password, hash }
    }

    /// Writes the hash into the site's `__Auth`.
    pub(super) async fn write(self, db: &mut Db, db_name: &str) -> Result<(), Error> {
        let hash = self
            .hash
            .await
            .map_err(|e| Error::new(Code::DbUnavailable, e.to_string()).at("create-site"))?;
        db.set_administrator_hash(db_name, &hash)
            .await
            .map_err(|e| Error::from(e).at("create-site"))
    }
}
