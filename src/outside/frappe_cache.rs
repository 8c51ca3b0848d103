//! Frappe's Redis cache (`redis_cache` in common_site_config.json), where Frappe keeps
//! what lives minutes, not in the database: here, the one-time login keys of
//! frappe/www/login.py. A key written the way `frappe.cache.set_value(...,
//! expires_in_sec=…)` writes it (utils/redis_wrapper.py: the key prefixed with the site's
//! database name, the value `pickle.dumps`'d, `SETEX`) is one Frappe's `login_via_key`
//! accepts. A few lines of RESP over TCP: the tool needs three commands, not a client.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::basics::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("Frappe's Redis cache URL {url:?} is not redis://[:password@]host:port[/db]")]
    BadUrl { url: String },
    #[error("Frappe's Redis cache at {addr} does not answer: {detail}")]
    Unreachable { addr: String, detail: String },
    #[error("Frappe's Redis cache at {addr} refused {command}: {reply}")]
    Refused {
        addr: String,
        command: &'static str,
        reply: String,
    },
}

/// One site's keys in Frappe's cache.
#[derive(Debug, Clone)]
pub struct FrappeCache {
    addr: String,
    password: Option<Secret>,
    db: Option<u32>,
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl FrappeCache {
    pub fn new(url: &str) -> Result<Self, CacheError> {
        let bad = || CacheError::BadUrl {
            url: url.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|_| bad())?;
        if parsed.scheme() != "redis" {
            return Err(bad());
        }
        let host = parsed.host_str().ok_or_else(bad)?;
        let port = parsed.port().unwrap_or(6379);
        let db = match parsed.path().trim_start_matches('/') {
            "" => None,
            n => Some(n.parse().map_err(|_| bad())?),
        };
        Ok(FrappeCache {
            addr: format!("{host}:{port}"),
            password: parsed.password().map(|p| Secret::new(p.to_string())),
            db,
        })
    }

    /// Whether the cache answers (before a run promises a login link).
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.connect().await?;
        self.command(&mut conn, "PING", &[b"PING"]).await.map(drop)
    }

    /// A one-time login key for `user` on the site whose database is `db_name`, valid
    /// for `ttl`, as `_generate_temporary_login_link` stores one.
    pub async fn put_login_key(
        &self,
        db_name: &str,
        key: &Secret,
        user: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let _waiting = crate::basics::waits::waiting();
        let name = format!("{db_name}|one_time_login_key:{}", key.expose());
        let seconds = ttl.as_secs().max(1).to_string();
        let value = pickle_str(user);
        let mut conn = self.connect().await?;
        self.command(
            &mut conn,
            "SETEX",
            &[b"SETEX", name.as_bytes(), seconds.as_bytes(), &value],
        )
        .await
        .map(drop)
    }

    async fn connect(&self) -> Result<BufReader<TcpStream>, CacheError> {
        let unreachable = |detail: String| CacheError::Unreachable {
            addr: self.addr.clone(),
            detail,
        };
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| unreachable("timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let mut conn = BufReader::new(stream);
        if let Some(p) = &self.password {
            self.command(&mut conn, "AUTH", &[b"AUTH", p.expose().as_bytes()])
                .await?;
        }
        if let Some(db) = self.db {
            let db = db.to_string();
            self.command(&mut conn, "SELECT", &[b"SELECT", db.as_bytes()])
                .await?;
        }
        Ok(conn)
    }

    /// Sends one command and reads its one-line reply (`+OK`, `+PONG`, `-ERR …`).
    async fn command(
        &self,
        conn: &mut BufReader<TcpStream>,
        name: &'static str,
        parts: &[&[u8]],
    ) -> Result<String, CacheError> {
        let unreachable = |detail: String| CacheError::Unreachable {
            addr: self.addr.clone(),
            detail,
        };
        let mut out = format!("*{}\r\n", parts.len()).into_bytes();
        for p in parts {
            out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        let mut reply = String::new();
        let exchange = async {
            conn.get_mut().write_all(&out).await?;
            conn.read_line(&mut reply).await
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable("timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let reply = reply.trim_end().to_string();
        match reply.chars().next() {
            Some('+') => Ok(reply[1..].to_string()),
            _ => Err(CacheError::Refused {
                addr: self.addr.clone(),
                command: name,
                reply: if reply.is_empty() {
                    "the connection closed".into()
                } else {
                    reply
                },
            }),
        }
    }
}

/// `pickle.dumps(s)` of a `str` under protocol 4 (Python 3.8+'s default): PROTO 4, one
/// FRAME, the string (SHORT_BINUNICODE up to 255 bytes of UTF-8, else BINUNICODE),
/// MEMOIZE, STOP. Byte for byte what Python writes (tests/python.rs holds it to Python's
/// own `pickle`).
pub fn pickle_str(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut body = Vec::with_capacity(bytes.len() + 8);
    if bytes.len() < 256 {
        body.push(0x8c);
        body.push(bytes.len() as u8);
    } else {
        body.push(b'X');
        body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    }
    body.extend_from_slice(bytes);
    body.push(0x94);
    body.push(b'.');
    // The frame holds everything after its header, STOP included.
    let mut out = vec![0x80, 4, 0x95];
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_str_pickles_as_frappe_s_cache_stores_it() {
        // Recorded from Frappe's cache (FRAPPE-NOTES D): a 21-character email.
        let email = "jane.roe@example.test";
        assert_eq!(email.len(), 21);
        let mut want = b"\x80\x04\x95\x19\x00\x00\x00\x00\x00\x00\x00\x8c\x15".to_vec();
        want.extend_from_slice(email.as_bytes());
        want.extend_from_slice(b"\x94.");
        assert_eq!(pickle_str(email), want);
    }

    #[test]
    fn urls_say_where_and_how() {
        let c = FrappeCache::new("redis://127.0.0.1:13000").unwrap();
        assert_eq!((c.addr.as_str(), c.db), ("127.0.0.1:13000", None));
        let c = FrappeCache::new("redis://:pw@redis-cache:6379/2").unwrap();
        assert_eq!(
            c.password.as_ref().map(|p| p.expose().to_string()),
            Some("pw".into())
        );
        assert_eq!(c.db, Some(2));
        assert!(FrappeCache::new("http://x:1").is_err());
        assert!(FrappeCache::new("redis://x:1/notanumber").is_err());
    }
}
