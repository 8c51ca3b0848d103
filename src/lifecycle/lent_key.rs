//! An API key and secret lent to a site's Administrator for one run's REST calls, then
//! taken back. The tool keeps no secret of any site, and a key checked on every request
//! costs no login round trip and leaves no session behind. The key goes into `tabUser`,
//! the secret, Fernet-encrypted under the site's own `encryption_key`, into `__Auth`, and
//! its mask into `tabUser.api_secret`, exactly as a save of the User stores them; both are drawn now (CSPRNG)
//! and are in no argv and no log: MariaDB gets them as bound parameters, Frappe in the
//! Authorization header. Taking it back restores what Administrator had before.

use crate::basics::fernet;
use crate::basics::secret::Secret;
use crate::error::{Code, Error};
use crate::outside::frappe::Session;
use crate::outside::mariadb::tenant::AdministratorKeys;
use crate::outside::mariadb::Db;

/// A key lent to Administrator: `session` authenticates as it until `take_back`.
pub struct LentKey {
    pub session: Session,
    api_key: String,
    db_name: String,
    was: AdministratorKeys,
}

/// Lends Administrator of the site whose database is `db_name` a fresh key pair, the
/// secret encrypted under the site's `encryption_key`.
pub async fn lend(
    db: &mut Db,
    site: &str,
    db_name: &str,
    encryption_key: &Secret,
) -> Result<LentKey, Error> {
    let api_key = Secret::random(20).expose().to_string();
    let api_secret = Secret::random(40);
    let encrypted = fernet::encrypt(encryption_key, api_secret.expose().as_bytes())
        .map_err(|e| Error::config(format!("{site}: {e}")))?;
    let was = db.administrator_keys(db_name).await?;
    db.lend_administrator_keys(db_name, &api_key, &encrypted, api_secret.expose().len())
        .await?;
    Ok(LentKey {
        session: Session::with_api_key(&api_key, &api_secret),
        api_key,
        db_name: db_name.to_owned(),
        was,
    })
}

impl LentKey {
    /// Puts Administrator's key and stored secret back as they were before `lend`.
    pub async fn take_back(self, db: &mut Db, site: &str) -> Result<(), Error> {
        db.restore_administrator_keys(&self.db_name, &self.was)
            .await
            .map_err(|e| {
                Error::new(
                    Code::DbUnavailable,
                    format!(
                        "the temporary API key {} lent to Administrator of {site} could not be \
                         taken back ({e}): remove it (tabUser.api_key of Administrator, its \
                         api_secret in __Auth)",
                        self.api_key
                    ),
                )
            })
    }
}
