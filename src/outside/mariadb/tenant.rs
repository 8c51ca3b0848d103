//! A tenant's state read straight from its site database, for `verify`: the tables
//! Frappe v15 keeps it in (`tabUser`, `tabHas Role`, `__Auth`, `tabSingles`,
//! `tabDefaultValue`), so a check does not depend on the site's HTTP side being up.

use std::collections::BTreeMap;

use super::catalog::FRAPPE_MARKER_TABLES;
use super::{quote_ident, Db, DbError};
use crate::basics::secret::Secret;

/// A password as Frappe stores it (`passlibctx.hash(pwd)`, pbkdf2_sha256).
pub fn frappe_password_hash(password: &Secret, salt: [u8; 16]) -> String {
    frappe_password::passlib::stored_hash(password.expose(), salt)
}

/// What a site's System Settings say of its setup wizard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupState {
    /// `setup_complete` is 1: the desk opens, not the wizard.
    pub complete: bool,
    pub country: Option<String>,
    pub time_zone: Option<String>,
    /// A language code (`en`, `de`).
    pub language: Option<String>,
}

/// The tenant's admin user as its site database holds it.
#[derive(Debug)]
pub struct UserState {
    pub name: String,
    pub enabled: bool,
    pub user_type: String,
    pub system_manager: bool,
    pub api_key: Option<String>,
    /// `Some(encrypted)` when `__Auth` holds an `api_secret` for the user.
    pub api_secret_encrypted: Option<bool>,
}

impl Db {
    /// How many of Frappe's marker tables the database has (all of them: a Frappe schema).
    pub async fn marker_tables(&mut self, db_name: &str) -> Result<usize, DbError> {
        let n: Option<i64> = self
            .first(
                &format!("looking for Frappe's tables in {db_name}"),
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?, ?, ?)",
                (
                    db_name,
                    FRAPPE_MARKER_TABLES[0],
                    FRAPPE_MARKER_TABLES[1],
                    FRAPPE_MARKER_TABLES[2],
                    FRAPPE_MARKER_TABLES[3],
                ),
            )
            .await?;
        Ok(n.unwrap_or(0) as usize)
    }

    /// The tenant's first System Manager other than Administrator, by creation.
    pub async fn first_system_manager(&mut self, db_name: &str) -> Result<Option<String>, DbError> {
        let d = quote_ident(db_name);
        self.first(
            "finding the tenant's System Manager",
            &format!(
                "SELECT u.name FROM {d}.tabUser u JOIN {d}.`tabHas Role` r \
                 ON r.parent = u.name AND r.parenttype = 'User' \
                 WHERE r.role = 'System Manager' AND u.name NOT IN ('Administrator', 'Guest') \
                 ORDER BY u.creation, u.name LIMIT 1"
            ),
            (),
        )
        .await
    }

    pub async fn tenant_user(
        &mut self,
        db_name: &str,
        email: &str,
    ) -> Result<Option<UserState>, DbError> {
        let d = quote_ident(db_name);
        let user: Option<(String, i64, Option<String>, Option<String>)> = self
            .first(
                &format!("reading user {email}"),
                &format!(
                    "SELECT name, enabled, user_type, api_key FROM {d}.tabUser WHERE name = ?"
                ),
                (email,),
            )
            .await?;
        let Some((name, enabled, user_type, api_key)) = user else {
            return Ok(None);
        };
        let roles: Option<i64> = self
            .first(
                &format!("reading the roles of {email}"),
                &format!(
                    "SELECT COUNT(*) FROM {d}.`tabHas Role` \
                     WHERE parent = ? AND parenttype = 'User' AND role = 'System Manager'"
                ),
                (&name,),
            )
            .await?;
        let secret: Option<i64> = self
            .first(
                &format!("looking up the API secret of {email}"),
                &format!(
                    "SELECT encrypted FROM {d}.__Auth \
                     WHERE doctype = 'User' AND name = ? AND fieldname = 'api_secret'"
                ),
                (&name,),
            )
            .await?;
        Ok(Some(UserState {
            name,
            enabled: enabled == 1,
            user_type: user_type.unwrap_or_default(),
            system_manager: roles.unwrap_or(0) > 0,
            api_key: api_key.filter(|k| !k.is_empty()),
            api_secret_encrypted: secret.map(|e| e == 1),
        }))
    }

    /// `installed_apps` as Frappe records it (a JSON list in `tabDefaultValue`).
    pub async fn installed_apps(&mut self, db_name: &str) -> Result<Option<Vec<String>>, DbError> {
        let d = quote_ident(db_name);
        let v: Option<Option<String>> = self
            .first(
                "reading installed apps",
                &format!(
                    "SELECT defvalue FROM {d}.tabDefaultValue \
                     WHERE parent = '__global' AND defkey = 'installed_apps' LIMIT 1"
                ),
                (),
            )
            .await?;
        Ok(v.flatten().and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// The values of a Single DocType, or `None` when that DocType does not exist.
    pub async fn single_values(
        &mut self,
        db_name: &str,
        doctype: &str,
    ) -> Result<Option<BTreeMap<String, String>>, DbError> {
        let d = quote_ident(db_name);
        let exists: Option<i64> = self
            .first(
                &format!("looking up DocType {doctype}"),
                &format!("SELECT COUNT(*) FROM {d}.tabDocType WHERE name = ?"),
                (doctype,),
            )
            .await?;
        if exists.unwrap_or(0) == 0 {
            return Ok(None);
        }
        let rows: Vec<(String, Option<String>)> = self
            .rows(
                &format!("reading {doctype}"),
                &format!("SELECT field, value FROM {d}.tabSingles WHERE doctype = ?"),
                (doctype,),
            )
            .await?;
        Ok(Some(
            rows.into_iter()
                .map(|(f, v)| (f, v.unwrap_or_default()))
                .collect(),
        ))
    }

    /// A site's System Settings single as stored, field by value (`None` when the
    /// database has no System Settings DocType); the password policy is read from it.
    pub async fn system_settings(
        &mut self,
        db_name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, DbError> {
        self.single_values(db_name, "System Settings").await
    }

    /// How far the site's setup wizard got, from its System Settings.
    pub async fn setup_state(&mut self, db_name: &str) -> Result<SetupState, DbError> {
        let values = self.system_settings(db_name).await?.unwrap_or_default();
        let get = |k: &str| values.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(SetupState {
            complete: get("setup_complete").as_deref() == Some("1"),
            country: get("country"),
            time_zone: get("time_zone"),
            language: get("language"),
        })
    }

    /// Whether ERPNext's `tabCompany` has this company; `None` when the site has no
    /// Company DocType (no ERPNext).
    pub async fn company_exists(
        &mut self,
        db_name: &str,
        company: &str,
    ) -> Result<Option<bool>, DbError> {
        let d = quote_ident(db_name);
        let doctype: Option<i64> = self
            .first(
                "looking up DocType Company",
                &format!("SELECT COUNT(*) FROM {d}.tabDocType WHERE name = 'Company'"),
                (),
            )
            .await?;
        if doctype.unwrap_or(0) == 0 {
            return Ok(None);
        }
        let n: Option<i64> = self
            .first(
                "looking up the company",
                &format!("SELECT COUNT(*) FROM {d}.tabCompany WHERE name = ?"),
                (company,),
            )
            .await?;
        Ok(Some(n.unwrap_or(0) > 0))
    }

    /// Gives the site's Administrator a new password, written exactly as Frappe's
    /// `update_password` writes one (hash in `__Auth`, `encrypted` 0). A site restored
    /// from the template, or a standby taken from the pool, has no password anyone
    /// knows; this is how it gets its own per-site one without bench (whose
    /// `set-admin-password` would put it in argv). The caller proves it with a REST login.
    pub async fn set_administrator_password(
        &mut self,
        db_name: &str,
        password: &Secret,
    ) -> Result<(), DbError> {
        self.set_administrator_hash(db_name, &frappe_password_hash(password, rand::random()))
            .await
    }

    /// `set_administrator_password` with the hash made beforehand (`frappe_password_hash`).
    pub async fn set_administrator_hash(
        &mut self,
        db_name: &str,
        hash: &str,
    ) -> Result<(), DbError> {
        let d = quote_ident(db_name);
        self.run(
            "setting the Administrator password",
            &format!(
                "INSERT INTO {d}.__Auth (doctype, name, fieldname, password, encrypted) \
                 VALUES ('User', 'Administrator', 'password', ?, 0) \
                 ON DUPLICATE KEY UPDATE password = VALUES(password), encrypted = 0"
            ),
            (hash,),
        )
        .await
    }

    /// Prepares the template's reference site for its dump: removes the Administrator
    /// password hash and any session, and refuses when the database holds encrypted
    /// values (they would be unreadable under every restored site's own encryption key).
    /// Returns how many encrypted values were found (0 when it is fit to dump).
    pub async fn scrub_for_template(&mut self, db_name: &str) -> Result<i64, DbError> {
        let d = quote_ident(db_name);
        self.run(
            "removing the reference site's Administrator password",
            &format!("DELETE FROM {d}.__Auth WHERE doctype = 'User' AND fieldname = 'password'"),
            (),
        )
        .await?;
        self.run(
            "removing the reference site's sessions",
            &format!("DELETE FROM {d}.tabSessions"),
            (),
        )
        .await?;
        let encrypted: Option<i64> = self
            .first(
                "looking for encrypted values",
                &format!("SELECT COUNT(*) FROM {d}.__Auth WHERE encrypted = 1"),
                (),
            )
            .await?;
        Ok(encrypted.unwrap_or(0))
    }
}

/// The Administrator's API key and stored secret as they were before a key pair was lent
/// to it: put back exactly (the encrypted value as stored, never decrypted).
#[derive(Debug, Clone)]
pub struct AdministratorKeys {
    /// `tabUser`'s `api_key` and `api_secret` (the Password field's mask, `*` per character).
    api_key: Option<String>,
    mask: Option<String>,
    /// `__Auth`'s row for its `api_secret`: the stored value and its `encrypted` flag.
    secret: Option<(String, i64)>,
}

impl Db {
    /// What `lend_administrator_keys` replaces.
    pub async fn administrator_keys(
        &mut self,
        db_name: &str,
    ) -> Result<AdministratorKeys, DbError> {
        let d = quote_ident(db_name);
        let user: Option<(Option<String>, Option<String>)> = self
            .first(
                "reading the Administrator's API key",
                &format!(
                    "SELECT api_key, api_secret FROM {d}.tabUser WHERE name = 'Administrator'"
                ),
                (),
            )
            .await?;
        let (api_key, mask) = user.unwrap_or_default();
        let secret: Option<(String, i64)> = self
            .first(
                "reading the Administrator's API secret",
                &format!(
                    "SELECT password, encrypted FROM {d}.__Auth \
                     WHERE doctype = 'User' AND name = 'Administrator' AND fieldname = 'api_secret'"
                ),
                (),
            )
            .await?;
        Ok(AdministratorKeys {
            api_key,
            mask,
            secret,
        })
    }

    /// Gives the site's Administrator the API key `key` and the secret `encrypted` (Fernet
    /// under the site's key, of a secret `secret_len` characters long), as a save of the
    /// User leaves them (`BaseDocument._save_passwords`): the secret in `__Auth`, its mask
    /// in `tabUser.api_secret`. Without the mask, the next save of Administrator (the
    /// setup's time zone) takes the field for emptied and deletes the secret from `__Auth`.
    pub async fn lend_administrator_keys(
        &mut self,
        db_name: &str,
        key: &str,
        encrypted: &Secret,
        secret_len: usize,
    ) -> Result<(), DbError> {
        let d = quote_ident(db_name);
        self.run(
            "setting a temporary API key for Administrator",
            &format!(
                "UPDATE {d}.tabUser SET api_key = ?, api_secret = ? WHERE name = 'Administrator'"
            ),
            (key, "*".repeat(secret_len)),
        )
        .await?;
        self.run(
            "setting a temporary API secret for Administrator",
            &format!(
                "INSERT INTO {d}.__Auth (doctype, name, fieldname, password, encrypted) \
                 VALUES ('User', 'Administrator', 'api_secret', ?, 1) \
                 ON DUPLICATE KEY UPDATE password = VALUES(password), encrypted = 1"
            ),
            (encrypted.expose(),),
        )
        .await
    }

    /// Puts back what `administrator_keys` read.
    pub async fn restore_administrator_keys(
        &mut self,
        db_name: &str,
        was: &AdministratorKeys,
    ) -> Result<(), DbError> {
        let d = quote_ident(db_name);
        self.run(
            "restoring the Administrator's API key",
            &format!(
                "UPDATE {d}.tabUser SET api_key = ?, api_secret = ? WHERE name = 'Administrator'"
            ),
            (was.api_key.as_deref(), was.mask.as_deref()),
        )
        .await?;
        match &was.secret {
            Some((password, encrypted)) => {
                self.run(
                    "restoring the Administrator's API secret",
                    &format!(
                        "UPDATE {d}.__Auth SET password = ?, encrypted = ? \
                         WHERE doctype = 'User' AND name = 'Administrator' AND fieldname = 'api_secret'"
                    ),
                    (password, encrypted),
                )
                .await
            }
            None => {
                self.run(
                    "removing the temporary API secret",
                    &format!(
                        "DELETE FROM {d}.__Auth \
                         WHERE doctype = 'User' AND name = 'Administrator' AND fieldname = 'api_secret'"
                    ),
                    (),
                )
                .await
            }
        }
    }
}
