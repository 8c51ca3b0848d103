//! The new site's Frappe REST API: one reqwest `Client`, the site chosen by the Host
//! header (how frappe_docker's nginx and Frappe itself route), Frappe's error bodies
//! turned into typed errors.
//!
//! Calls and shapes follow Frappe v15 (frappe/auth.py, frappe/api, user.py) and the
//! responses recorded under fixtures/frappe-v15/.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::basics::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{call}: no answer from {url}: {detail}")]
    Unreachable {
        call: &'static str,
        url: String,
        detail: String,
    },
    #[error("{call}: HTTP {status}{}: {message}", exc_type.as_deref().map(|t| format!(" {t}")).unwrap_or_default())]
    Status {
        call: &'static str,
        status: u16,
        exc_type: Option<String>,
        message: String,
    },
    #[error("{call}: unexpected response: {detail}")]
    Unexpected { call: &'static str, detail: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Frappe's exception class, when its answer named one (`SessionStopped`: the site is
    /// in maintenance mode).
    pub fn exc_type(&self) -> Option<&str> {
        match self {
            ApiError::Status { exc_type, .. } => exc_type.as_deref(),
            _ => None,
        }
    }
}

/// The user the tool creates, with the keys it stores in Frappe's encrypted Password field.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub password: &'a Secret,
    pub api_key: &'a str,
    pub api_secret: &'a Secret,
}

#[derive(Clone)]
pub struct Frappe {
    client: reqwest::Client,
    base: String,
    site: String,
}

/// How the tool's calls authenticate as Administrator: a login's `sid` cookie, or an API
/// key and secret lent to Administrator for the run (`Authorization: token key:secret`,
/// which Frappe checks on every request: no login round trip, no session left behind).
pub struct Session(Credential);

enum Credential {
    Sid(Secret),
    Token(Secret),
}

impl Session {
    /// Calls authenticated with `api_key` and `api_secret` (auth.py `validate_auth_via_api_keys`).
    pub fn with_api_key(api_key: &str, api_secret: &Secret) -> Self {
        Session(Credential::Token(token(api_key, api_secret)))
    }
}

pub enum SettingsOutcome {
    Written,
    DocTypeMissing,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The wizard rebuilds Frappe's caches and installs fixtures: 6–10 s on two cores, far
/// more on a loaded host.
const WIZARD_TIMEOUT: Duration = Duration::from_secs(180);

/// How a call authenticates: as a guest, or as a `Session` says.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Guest,
    Session(&'a Session),
}

/// One call to the site's REST API: `call` names it in errors.
struct Request<'a> {
    call: &'static str,
    method: Method,
    path: &'a str,
    auth: Auth<'a>,
    body: Option<Value>,
    timeout: Duration,
}

impl<'a> Request<'a> {
    fn new(call: &'static str, method: Method, path: &'a str, auth: Auth<'a>) -> Self {
        Request {
            call,
            method,
            path,
            auth,
            body: None,
            timeout: REQUEST_TIMEOUT,
        }
    }

    fn body(self, body: Value) -> Self {
        Request {
            body: Some(body),
            ..self
        }
    }
}

/// `Authorization: token key:secret`.
fn token(api_key: &str, api_secret: &Secret) -> Secret {
    Secret::new(format!("token {api_key}:{}", api_secret.expose()))
}

/// A DocType or document name as one URL path segment.
fn url_segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl Frappe {
    pub fn new(base_url: &str, site: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client without custom TLS always builds");
        Self {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            site: site.to_owned(),
        }
    }

    /// POST /api/method/login. A 404 means Frappe does not know the Host header's site.
    pub async fn login(&self, user: &str, password: &Secret) -> Result<Session, ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "login";
        let body = json!({"usr": user, "pwd": password.expose()});
        let resp = self
            .send(Request::new(call, Method::POST, "/api/method/login", Auth::Guest).body(body))
            .await?;
        let sid = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                c.strip_prefix("sid=")
                    .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
            })
            .filter(|sid| !sid.is_empty() && sid != "Guest");
        let status = resp.status();
        if !status.is_success() {
            return Err(error_from(
                call,
                status,
                resp.text().await.unwrap_or_default(),
            ));
        }
        let sid = sid.ok_or(ApiError::Unexpected {
            call,
            detail: "login answered 200 without a sid cookie".into(),
        })?;
        Ok(Session(Credential::Sid(Secret::new(sid))))
    }

    /// POST /api/resource/User: user, password, System Manager role and API key+secret in
    /// one document insert, one transaction. `new_password` is hashed by User.on_update;
    /// `api_secret` is a Password field, so Frappe encrypts it into `__Auth`.
    pub async fn create_user(&self, s: &Session, u: &NewUser<'_>) -> Result<(), ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "create user";
        let body = json!({
            "email": u.email,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "enabled": 1,
            "user_type": "System User",
            "send_welcome_email": 0,
            "new_password": u.password.expose(),
            "roles": [{"role": "System Manager"}],
            "api_key": u.api_key,
            "api_secret": u.api_secret.expose(),
        });
        let v = self
            .json(
                Request::new(call, Method::POST, "/api/resource/User", Auth::Session(s)).body(body),
            )
            .await?;
        let name = v.pointer("/data/name").and_then(Value::as_str);
        if name != Some(u.email) {
            return Err(ApiError::Unexpected {
                call,
                detail: format!("created document is named {name:?}, not the email"),
            });
        }
        Ok(())
    }

    /// PUT /api/resource/SaaS Settings/SaaS Settings. PUT, not POST: POST on a Single
    /// replaces the whole document. Frappe v15 answers a write to a DocType that does not
    /// exist with 404 DoesNotExistError or 500 ImportError, depending on the path taken.
    pub async fn write_saas_settings(
        &self,
        s: &Session,
        values: Value,
    ) -> Result<SettingsOutcome, ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "write SaaS Settings";
        let path = "/api/resource/SaaS%20Settings/SaaS%20Settings";
        match self
            .json(Request::new(call, Method::PUT, path, Auth::Session(s)).body(values))
            .await
        {
            Ok(_) => Ok(SettingsOutcome::Written),
            Err(ApiError::Status { status: 404, .. }) => Ok(SettingsOutcome::DocTypeMissing),
            Err(ApiError::Status {
                status: 500,
                exc_type: Some(t),
                ..
            }) if t == "ImportError" || t == "ModuleNotFoundError" || t == "DoesNotExistError" => {
                Ok(SettingsOutcome::DocTypeMissing)
            }
            Err(e) => Err(e),
        }
    }

    /// POST frappe.desk.page.setup_wizard.setup_wizard.setup_complete with `args`, as any
    /// logged-in user may while setup is not complete (once it is, Frappe answers ok at
    /// once and changes nothing). v15.14.1 answers 200 `{"message": {"status": "ok"}}`;
    /// a failed stage is the exception's status (417) with `setup_wizard_failure_message`.
    /// `registered` (setup moved to a background job) and a `fail` in the message, which
    /// other versions use, are failures here: the run cannot tell when or whether it ended.
    pub async fn complete_setup_wizard(&self, s: &Session, args: Value) -> Result<(), ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "setup wizard";
        let path = "/api/method/frappe.desk.page.setup_wizard.setup_wizard.setup_complete";
        let v = self
            .json(Request {
                timeout: WIZARD_TIMEOUT,
                ..Request::new(call, Method::POST, path, Auth::Session(s))
                    .body(json!({ "args": args }))
            })
            .await
            .map_err(|e| match e {
                ApiError::Status {
                    call,
                    status,
                    exc_type,
                    message,
                } => ApiError::Status {
                    call,
                    status,
                    exc_type,
                    message: format!(
                        "{message} (the wizard's stage failed; Frappe rolled it back)"
                    ),
                },
                other => other,
            })?;
        let message = v.get("message").cloned().unwrap_or(Value::Null);
        match message.get("status").and_then(Value::as_str) {
            Some("ok") if message.get("fail").is_none() => Ok(()),
            _ => Err(ApiError::Unexpected {
                call,
                detail: format!("the wizard answered {message} instead of {{\"status\": \"ok\"}}"),
            }),
        }
    }

    /// PUT a document's fields (a Single's name is its DocType): Frappe updates them and
    /// saves the document, running its hooks (System Settings' `on_update` sets the site's
    /// defaults from them).
    pub async fn update_doc(
        &self,
        s: &Session,
        doctype: &str,
        name: &str,
        values: Value,
    ) -> Result<(), ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "update document";
        let path = format!(
            "/api/resource/{}/{}",
            url_segment(doctype),
            url_segment(name)
        );
        self.json(Request::new(call, Method::PUT, &path, Auth::Session(s)).body(values))
            .await
            .map(|_| ())
            .map_err(|e| match e {
                ApiError::Status {
                    status,
                    exc_type,
                    message,
                    ..
                } => ApiError::Status {
                    call: "update document",
                    status,
                    exc_type,
                    message: format!("{doctype} {name}: {message}"),
                },
                other => other,
            })
    }

    /// GET /api/method/ping (`frappe.ping`, allowed for guests): `{"message": "pong"}`
    /// when Frappe serves this site at the base URL; werkzeug's 404 page when it does not.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "ping";
        let v = self
            .json(Request::new(
                call,
                Method::GET,
                "/api/method/ping",
                Auth::Guest,
            ))
            .await?;
        if v.get("message").and_then(Value::as_str) == Some("pong") {
            Ok(())
        } else {
            Err(ApiError::Unexpected {
                call,
                detail: format!("answered {v} instead of pong"),
            })
        }
    }

    /// GET /api/method/frappe.auth.get_logged_user with `Authorization: token key:secret`;
    /// returns the user Frappe authenticated.
    pub async fn whoami_with_token(
        &self,
        api_key: &str,
        api_secret: &Secret,
    ) -> Result<String, ApiError> {
        let _waiting = crate::basics::waits::waiting();
        let call = "prove API keys";
        let keys = Session::with_api_key(api_key, api_secret);
        let path = "/api/method/frappe.auth.get_logged_user";
        let v = self
            .json(Request::new(call, Method::GET, path, Auth::Session(&keys)))
            .await?;
        v.get("message")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or(ApiError::Unexpected {
                call,
                detail: "no message in get_logged_user answer".into(),
            })
    }

    async fn json(&self, r: Request<'_>) -> Result<Value, ApiError> {
        let call = r.call;
        let resp = self.send(r).await?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| ApiError::Unexpected {
            call,
            detail: e.to_string(),
        })?;
        if !status.is_success() {
            return Err(error_from(call, status, text));
        }
        serde_json::from_str(&text).map_err(|_| ApiError::Unexpected {
            call,
            detail: format!("HTTP {status} without JSON body"),
        })
    }

    async fn send(&self, r: Request<'_>) -> Result<reqwest::Response, ApiError> {
        let call = r.call;
        let url = format!("{}{}", self.base, r.path);
        let mut req = self
            .client
            .request(r.method, &url)
            .timeout(r.timeout)
            .header(HOST, &self.site)
            .header("Accept", "application/json");
        if let Some(b) = r.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        req = match r.auth {
            Auth::Guest => req,
            Auth::Session(Session(Credential::Sid(sid))) => {
                req.header(COOKIE, format!("sid={}", sid.expose()))
            }
            Auth::Session(Session(Credential::Token(t))) => req.header(AUTHORIZATION, t.expose()),
        };
        tracing::debug!(call, %url, site = %self.site, "frappe request");
        req.send().await.map_err(|e| ApiError::Unreachable {
            call,
            url: url.clone(),
            detail: if e.is_timeout() {
                "timed out".into()
            } else {
                without_url(&e)
            },
        })
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// Frappe's error body: `exc_type`, and the human message in `_server_messages`
/// (a JSON list of JSON-encoded objects with a `message`), else `message`/`_error_message`.
fn error_from(call: &'static str, status: StatusCode, body: String) -> ApiError {
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let exc_type = v.get("exc_type").and_then(Value::as_str).map(String::from);
    let server_messages: Vec<String> = v
        .get("_server_messages")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|m| match serde_json::from_str::<Value>(&m) {
            Ok(obj) => obj
                .get("message")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or(m),
            Err(_) => m,
        })
        .collect();
    let message = if !server_messages.is_empty() {
        strip_tags(&server_messages.join("; "))
    } else if let Some(m) = v
        .get("_error_message")
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)
    {
        strip_tags(m)
    } else if v.is_null() {
        // Not JSON: Frappe's HTML 404 for an unknown site, or a proxy's page.
        strip_tags(&body).chars().take(200).collect()
    } else {
        status.canonical_reason().unwrap_or("error").to_owned()
    };
    ApiError::Status {
        call,
        status: status.as_u16(),
        exc_type,
        message,
    }
}

/// Text of an HTML fragment: tags become spaces, runs of white space one space.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_become_the_error_message() {
        let body = r#"{"exc_type":"DuplicateEntryError","_server_messages":"[\"{\\\"message\\\": \\\"User <strong>a@b.co</strong> already exists\\\"}\"]"}"#;
        let e = error_from("create user", StatusCode::CONFLICT, body.into());
        assert_eq!(
            e.to_string(),
            "create user: HTTP 409 DuplicateEntryError: User a@b.co already exists"
        );
    }

    #[test]
    fn html_bodies_are_reduced_to_text() {
        let e = error_from(
            "login",
            StatusCode::NOT_FOUND,
            "<html><body><h1>Not Found</h1><p>x.localhost does not exist</p></body></html>".into(),
        );
        assert_eq!(
            e.to_string(),
            "login: HTTP 404: Not Found x.localhost does not exist"
        );
        assert_eq!(e.status(), Some(404));
    }
}
