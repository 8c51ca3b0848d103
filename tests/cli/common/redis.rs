//! The tests' own Redis client (GET, DEL, TTL, KEYS): the fake Frappe reads one-time login
//! keys where the tool writes them, as Frappe's `login_via_key` does, and tests look at
//! them without the tool's code. Redis answers on TEST_REDIS_URL (default
//! redis://127.0.0.1:6379); tests that need it fail without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn connect() -> BufReader<TcpStream> {
    let url = url::Url::parse(&redis_url()).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
    let stream = TcpStream::connect(&addr)
        .unwrap_or_else(|e| panic!("Redis must answer at {addr} for these tests: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    BufReader::new(stream)
}

/// One command; the reply as bytes (`None` for a nil bulk string), integers as text.
pub fn command(parts: &[&[u8]]) -> Option<Vec<u8>> {
    let mut conn = connect();
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    conn.get_mut().write_all(&out).unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let line = line.trim_end();
    match line.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = line[1..].parse().unwrap();
            if n < 0 {
                return None;
            }
            let mut buf = vec![0; n as usize + 2];
            conn.read_exact(&mut buf).unwrap();
            buf.truncate(n as usize);
            Some(buf)
        }
        Some(b':') | Some(b'+') => Some(line.as_bytes()[1..].to_vec()),
        Some(b'*') => {
            // KEYS: the names, one per line.
            let n: i64 = line[1..].parse().unwrap();
            let mut names = vec![];
            for _ in 0..n.max(0) {
                let mut len = String::new();
                conn.read_line(&mut len).unwrap();
                let len: usize = len.trim_end()[1..].parse().unwrap();
                let mut buf = vec![0; len + 2];
                conn.read_exact(&mut buf).unwrap();
                buf.truncate(len);
                names.push(String::from_utf8(buf).unwrap());
            }
            Some(names.join("\n").into_bytes())
        }
        _ => panic!(
            "Redis refused {:?}: {line}",
            String::from_utf8_lossy(parts[0])
        ),
    }
}

pub fn get(key: &str) -> Option<Vec<u8>> {
    command(&[b"GET", key.as_bytes()])
}

pub fn del(key: &str) {
    command(&[b"DEL", key.as_bytes()]);
}

/// Seconds left, as Redis says (-2: no such key).
pub fn ttl(key: &str) -> i64 {
    String::from_utf8(command(&[b"TTL", key.as_bytes()]).unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

pub fn keys(pattern: &str) -> Vec<String> {
    let got = String::from_utf8(command(&[b"KEYS", pattern.as_bytes()]).unwrap()).unwrap();
    got.lines().map(String::from).collect()
}

/// The `str` of a protocol-4 pickle as Python writes one (PROTO, FRAME, SHORT_BINUNICODE
/// or BINUNICODE, MEMOIZE, STOP); `None` for anything else, as `pickle.loads` of it would
/// not give a user name.
pub fn unpickle_str(b: &[u8]) -> Option<String> {
    let rest = b.strip_prefix(b"\x80\x04\x95")?;
    let (frame, rest) = rest.split_at_checked(8)?;
    let frame = u64::from_le_bytes(frame.try_into().ok()?) as usize;
    if rest.len() != frame {
        return None;
    }
    let (text, tail) = match rest.first()? {
        0x8c => {
            let n = *rest.get(1)? as usize;
            (rest.get(2..2 + n)?, rest.get(2 + n..)?)
        }
        b'X' => {
            let n = u32::from_le_bytes(rest.get(1..5)?.try_into().ok()?) as usize;
            (rest.get(5..5 + n)?, rest.get(5 + n..)?)
        }
        _ => return None,
    };
    (tail == b"\x94.").then(|| String::from_utf8(text.to_vec()).ok())?
}
