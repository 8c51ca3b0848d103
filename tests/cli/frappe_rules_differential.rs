//! The other places the tool restates Frappe, held against Python:
//! - the Administrator password hash it writes into `__Auth` against passlib 1.7.4 itself,
//!   through Frappe's CryptContext;
//! - the site names it accepts against Frappe v15.14.1's rules for a site name (there is
//!   no naming rule, only a directory and a Host header), restated in Python because the
//!   Frappe repository is not on PyPI;
//! - the API key and secret it makes against how Frappe stores and parses them (restated);
//! - the one-time login key's value it writes into Frappe's Redis cache against Python's
//!   own `pickle`, which Frappe's cache uses to write and read it;
//! - Fernet, which the tool uses to store a lent API secret where Frappe decrypts it (and the
//!   keys it makes for a site that has none yet), against
//!   `cryptography` 42.0.0's, which Frappe's `encrypt`/`decrypt` use; the fake Frappe's own
//!   Fernet (`common::fernet`, which decides in the tests whether a token authenticates) is
//!   held to it too.
//!
//!   FRAPPE_TENANT_DIFFERENTIAL=1 cargo test --test cli frappe_rules_differential::
//!
//! SEED (default 9) picks the generated inputs; failures print it.

#[path = "../../crates/frappe-password/tests/python.rs"]
mod python;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use frappe_tenant::basics::fernet;
use frappe_tenant::basics::secret::Secret;
use frappe_tenant::commands::provision::new_api_credentials;
use frappe_tenant::outside::frappe_cache::pickle_str;
use frappe_tenant::outside::mariadb::tenant::frappe_password_hash;
use frappe_tenant::signup::{site_name, validate_subdomain};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::common::fernet as fake_fernet;

fn seed() -> u64 {
    std::env::var("SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9)
}

/// Runs frappe_rules.py in `mode` over `requests`, one answer per request.
fn ask(py: &std::path::Path, mode: &str, requests: &[Value]) -> Vec<Value> {
    let script = python::repo().join("tests/differential/frappe_rules.py");
    let mut child = Command::new(py)
        .arg(script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body: String = requests.iter().map(|r| format!("{r}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "frappe_rules.py {mode} failed");
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), requests.len());
    answers
}

fn random_text(rng: &mut StdRng, max: usize) -> String {
    const POOLS: [&str; 4] = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ",
        "äöüßéèçñøåłİıΣσςжЖ東京한국😀🔒\u{301}\u{200d}",
        "0123456789.-",
    ];
    let n = rng.random_range(0..=max);
    (0..n)
        .map(|_| {
            let pool: Vec<char> = POOLS[rng.random_range(0..POOLS.len())].chars().collect();
            pool[rng.random_range(0..pool.len())]
        })
        .collect()
}

#[test]
fn administrator_hashes_verify_in_passlib_as_frappe_runs_it() {
    let Some(py) = python::python("frappe_rules_differential") else {
        return;
    };
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut passwords: Vec<String> = (0..150).map(|_| random_text(&mut rng, 40)).collect();
    passwords.extend(["".into(), "Tr1cky-Lantern-42".into(), "x".repeat(300)]);
    passwords.push(Secret::random(24).expose().to_owned()); // as the tool makes them
    let requests: Vec<Value> = passwords
        .iter()
        .map(|p| {
            let salt: [u8; 16] = rng.random();
            let hash = frappe_password_hash(&Secret::new(p.clone()), salt);
            let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
            json!({"password": p, "salt": hex, "hash": hash})
        })
        .collect();
    let answers = ask(&py, "passlib", &requests);
    let bad: Vec<String> = requests
        .iter()
        .zip(&answers)
        .filter(|(_, a)| {
            !(a["verify"] == true
                && a["frappe_verify"] == true
                && a["wrong_rejected"] == true
                && a["needs_update"] == false
                && a["same_hash"] == true
                && a["default_rounds"] == 29000)
        })
        .map(|(r, a)| format!("  {r} -> {a}"))
        .collect();
    println!(
        "pbkdf2 differential, seed {seed}: {} hashes, {} rejected by passlib",
        requests.len(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "seed {seed}:\n{}",
        bad[..bad.len().min(5)].join("\n")
    );
}

#[test]
fn accepted_site_names_work_as_frappe_sites() {
    let Some(py) = python::python("frappe_rules_differential") else {
        return;
    };
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut candidates: Vec<String> = (0..3000).map(|_| random_text(&mut rng, 70)).collect();
    candidates.extend(
        [
            "acme-corp",
            "..",
            ".",
            "a/b",
            "a:b",
            "A",
            "a..b",
            "-a",
            "a-",
            "x",
            "sites",
            "ä",
            "a\\b",
            "localhost",
            "www",
            "ft-x",
            "a b",
        ]
        .map(String::from),
    );
    for _ in 0..1000 {
        let n = rng.random_range(1..=64);
        let s: String = (0..n)
            .map(|_| b"abcz09-"[rng.random_range(0..7)] as char)
            .collect();
        candidates.push(s);
    }
    let accepted: Vec<String> = candidates
        .iter()
        .filter(|c| validate_subdomain(c).is_ok())
        .flat_map(|c| ["localhost", "erp.example.com"].map(|d| site_name(c, d)))
        .collect();
    let mut requests: Vec<Value> = accepted.iter().map(|s| json!({ "site": s })).collect();
    // The restated rule must itself refuse names Frappe cannot serve.
    let controls = ["a/b.localhost", "a:b.localhost", "A.localhost", "..", ""];
    requests.extend(controls.iter().map(|s| json!({ "site": s })));
    let answers = ask(&py, "site", &requests);
    let (answers, control_answers) = answers.split_at(accepted.len());
    assert!(
        control_answers
            .iter()
            .all(|a| !a["problems"].as_array().unwrap().is_empty()),
        "the restated rule accepted an unusable name: {control_answers:?}"
    );
    let bad: Vec<String> = requests
        .iter()
        .zip(answers)
        .filter(|(_, a)| {
            !a["problems"]
                .as_array()
                .expect("every answer lists its problems")
                .is_empty()
        })
        .map(|(r, a)| format!("  {r} -> {a}"))
        .collect();
    println!(
        "site-name differential, seed {seed}: {} candidates, {} site names accepted, {} unusable",
        candidates.len(),
        accepted.len(),
        bad.len()
    );
    assert!(
        accepted.len() > 1000,
        "the generator should produce many valid names"
    );
    assert!(
        bad.is_empty(),
        "seed {seed}:\n{}",
        bad[..bad.len().min(5)].join("\n")
    );
}

#[test]
fn api_keys_have_a_shape_frappe_stores_and_parses() {
    let Some(py) = python::python("frappe_rules_differential") else {
        return;
    };
    let made: Vec<(String, Secret)> = (0..500).map(|_| new_api_credentials()).collect();
    let mut requests: Vec<Value> = made
        .iter()
        .map(|(k, s)| json!({"key": k, "secret": s.expose()}))
        .collect();
    // The restated rule must itself refuse what Frappe cannot parse.
    requests.push(json!({"key": "a:b", "secret": "c"}));
    requests.push(json!({"key": "a b", "secret": "c"}));
    let answers = ask(&py, "api_key", &requests);
    let (ours, controls) = answers.split_at(made.len());
    assert!(
        controls
            .iter()
            .all(|a| !a["problems"].as_array().unwrap().is_empty()),
        "the restated rule accepted a key Frappe cannot parse: {controls:?}"
    );
    let bad: Vec<&Value> = ours
        .iter()
        .filter(|a| !a["problems"].as_array().unwrap().is_empty())
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    for (k, s) in &made {
        assert_eq!(k.len(), 20);
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{k}"
        );
        assert_eq!(s.expose().len(), 40);
        assert!(s.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let keys: std::collections::HashSet<&String> = made.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), made.len(), "api_key is unique in Frappe");
}

#[test]
fn login_key_values_are_what_python_pickles() {
    let Some(py) = python::python("frappe_rules_differential") else {
        return;
    };
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut texts: Vec<String> = [
        "a",
        "jane.roe@example.test",
        "Administrator",
        "jörg.müller@beispiel.de",
        "名前@例え.jp",
    ]
    .map(String::from)
    .to_vec();
    // Around the 255-byte boundary between Python's two string opcodes.
    for n in [250, 254, 255, 256, 257, 300, 1000] {
        texts.push("x".repeat(n));
        texts.push(format!("{}é", "y".repeat(n - 1)));
    }
    for _ in 0..200 {
        let n = rng.random_range(1..=140);
        texts.push(random_text(&mut rng, n));
    }
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| {
            let ours: String = pickle_str(t).iter().map(|b| format!("{b:02x}")).collect();
            json!({ "text": t, "ours": ours })
        })
        .collect();
    let answers = ask(&py, "pickle", &requests);
    let bad: Vec<String> = texts
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a["same_bytes"] != true || a["loads"] != true)
        .map(|(t, a)| format!("  {t:?} -> {a}"))
        .collect();
    println!(
        "pickle differential, seed {seed}: {} strings, protocol {}",
        texts.len(),
        answers[0]["protocol"]
    );
    assert!(
        bad.is_empty(),
        "seed {seed}:\n{}",
        bad[..bad.len().min(5)].join("\n")
    );
}

/// `raw` as a Fernet token signed with `key`'s signing half: a token whose only fault is
/// the one a test put in it.
fn signed(key: &str, mut raw: Vec<u8>) -> String {
    use hmac::{Hmac, Mac};
    let k = URL_SAFE.decode(key).unwrap();
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&k[..16]).unwrap();
    mac.update(&raw);
    raw.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(raw)
}

/// Tokens Fernet must refuse, made from a good `token` under `key` (`other`: another key).
fn malformed(rng: &mut StdRng, key: &str, other: &str, token: &str) -> Vec<(String, String)> {
    use cipher::{BlockEncryptMut, KeyIvInit};
    let raw = URL_SAFE.decode(token).unwrap();
    let body = raw[..raw.len() - 32].to_vec();
    let k = URL_SAFE.decode(key).unwrap();
    let mut out = vec![
        ("empty".to_string(), String::new()),
        ("not base64".into(), "not a token".into()),
        ("another key's".into(), {
            let t = fernet::encrypt(&Secret::new(other), b"secret").unwrap();
            t.expose().to_owned()
        }),
    ];
    let mut version = body.clone();
    version[0] = 0x81;
    out.push(("version 0x81, signed".into(), signed(key, version)));
    let mut flipped = raw.clone();
    let at = rng.random_range(25..raw.len() - 32);
    flipped[at] ^= 1 << rng.random_range(0..8);
    out.push(("a ciphertext bit flipped".into(), URL_SAFE.encode(flipped)));
    let mut tag = raw.clone();
    let at = rng.random_range(raw.len() - 32..raw.len());
    tag[at] ^= 1 << rng.random_range(0..8);
    out.push(("an HMAC bit flipped".into(), URL_SAFE.encode(tag)));
    out.push((
        "one byte short".into(),
        URL_SAFE.encode(&raw[..raw.len() - 1]),
    ));
    out.push((
        "no ciphertext, signed".into(),
        signed(key, body[..25].to_vec()),
    ));
    // One block that decrypts to zeros: a valid HMAC over a bad PKCS7 padding.
    let iv: [u8; 16] = rng.random();
    let block = cbc::Encryptor::<aes::Aes128>::new_from_slices(&k[16..], &iv)
        .unwrap()
        .encrypt_padded_vec_mut::<cipher::block_padding::NoPadding>(&[0u8; 16]);
    let mut padding = body[..9].to_vec();
    padding.extend_from_slice(&iv);
    padding.extend_from_slice(&block);
    out.push(("bad padding, signed".into(), signed(key, padding)));
    if token.ends_with('=') {
        out.push((
            "base64 padding stripped".into(),
            token.trim_end_matches('=').to_owned(),
        ));
    }
    out
}

#[test]
fn fernet_tokens_cross_between_the_tool_and_pythons_cryptography() {
    let Some(py) = python::python("frappe_rules_differential") else {
        return;
    };
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keys: Vec<String> = (0..30)
        .map(|_| URL_SAFE.encode(rng.random::<[u8; 32]>()))
        .collect();
    // And keys the tool made, as it makes one for a site whose config has none: Python's
    // Fernet must take them (it raises on any other key, failing the run).
    keys.extend((0..10).map(|_| fernet::generate_key().expose().to_owned()));
    let mut requests = vec![];
    // (what, key, expected plaintext or None for a refusal, the fake's verdict)
    let mut expect: Vec<(String, Option<String>, Option<String>)> = vec![];
    for (i, key) in keys.iter().enumerate() {
        let mut plains: Vec<String> = (0..6).map(|_| random_text(&mut rng, 80)).collect();
        plains.extend(["".into(), Secret::random(40).expose().to_owned()]);
        plains.push("x".repeat(rng.random_range(1..300)));
        for plain in plains {
            // The tool's token, for Python to decrypt.
            let token = fernet::encrypt(&Secret::new(key.clone()), plain.as_bytes()).unwrap();
            requests.push(json!({"key": key, "token": token.expose()}));
            let fake = fake_fernet::decrypt(key, token.expose());
            expect.push((
                format!("the tool's token of {plain:?}"),
                Some(plain.clone()),
                fake,
            ));
            // Python's own token, for the fake Frappe's Fernet (answered below).
            requests.push(json!({"key": key, "plain": plain}));
            expect.push((format!("Python's token of {plain:?}"), Some(plain), None));
        }
        let token = fernet::encrypt(&Secret::new(key.clone()), b"api-secret").unwrap();
        let other = &keys[(i + 1) % keys.len()];
        for (what, bad) in malformed(&mut rng, key, other, token.expose()) {
            requests.push(json!({"key": key, "token": bad}));
            let fake = fake_fernet::decrypt(key, &bad);
            expect.push((format!("a token {what}"), None, fake));
        }
    }
    let answers = ask(&py, "fernet", &requests);
    let mut bad = vec![];
    for ((req, answer), (what, want, fake)) in requests.iter().zip(&answers).zip(&expect) {
        let key = req["key"].as_str().unwrap();
        if let Some(token) = answer["token"].as_str() {
            // Python encrypted: the fake must read it back, as Frappe would.
            let got = fake_fernet::decrypt(key, token);
            if got != *want {
                bad.push(format!("  {what}: the fake Frappe read {got:?}"));
            }
            continue;
        }
        let python = answer["plain"].as_str().map(String::from);
        if python != *want || fake != want {
            bad.push(format!(
                "  {what}: Python {python:?}, the fake Frappe {fake:?}, wanted {want:?}"
            ));
        }
    }
    println!(
        "Fernet differential, seed {seed}: {} tokens over {} keys, {} disagreements",
        requests.len(),
        keys.len(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "seed {seed}:\n{}",
        bad[..bad.len().min(5)].join("\n")
    );
}
