#!/usr/bin/env python3
"""Python side of tests/frappe_rules_differential.rs: reads JSON lines on stdin, writes
one JSON verdict a line.  python frappe_rules.py passlib|site|api_key|pickle|fernet

passlib: the real thing, passlib==1.7.4 with Frappe's CryptContext (frappe/utils/password.py
    `passlibctx = CryptContext(schemes=["pbkdf2_sha256", "argon2"])`, whose `verify` is what
    `check_password` runs at login).
fernet: the real thing, cryptography==42.0.0 (Frappe v15.14.1's pyproject: ~=42.0.0), called
    as frappe/utils/password.py `encrypt`/`decrypt` call it: `Fernet(encode(key))`, then
    `cstr(cipher_suite.decrypt(encode(txt)))`, InvalidToken for a token it refuses.
site, api_key: Frappe's rules are in the Frappe repository, which is not on PyPI, so they
    are RESTATED here, each citing frappe v15.14.1 source; they are not Frappe's code.
"""
import base64
import json
import pickle
import os.path
import sys
from importlib.metadata import version

from passlib.context import CryptContext
from passlib.hash import pbkdf2_sha256

assert version("passlib") == "1.7.4", version("passlib")

mode = sys.argv[1]
ctx = CryptContext(schemes=["pbkdf2_sha256", "argon2"])


def frappe_site_from_host(host):
    # Restates frappe/utils/__init__.py get_site_name: the Host header up to its first ':'
    # (frappe/app.py init_request uses it when no X-Frappe-Site-Name header is sent).
    return host.partition(":")[0]


def site_rules(site):
    problems = []
    # frappe/__init__.py init: site_path = os.path.join(sites_path, site); the site must
    # be one directory directly inside sites/ (installer._new_site refuses an existing one).
    joined = os.path.join("sites", site)
    if os.path.dirname(joined) != "sites" or site in ("", ".", "..") or os.path.isabs(site):
        problems.append("not a single directory inside sites/")
    # Reached through the Host header, with or without a port.
    for host in (site, site + ":8000"):
        if frappe_site_from_host(host) != site:
            problems.append(f"Host {host!r} resolves to another site")
    # Host names are case-insensitive and clients send them lower-cased.
    if site.lower() != site:
        problems.append("Host headers arrive lower-cased")
    return problems


def api_key_rules(key, secret):
    problems = []
    # frappe/core/doctype/user/user.json: api_key Data (unique), api_secret Password;
    # Data and Password fields hold up to 140 characters.
    if not key or not secret or len(key) > 140 or len(secret) > 140:
        problems.append("empty or over 140 characters")
    # frappe/auth.py: the header is split at " " into (type, token); validate_auth_via_api_keys
    # then splits the token (or its base64 decoding, for Basic) at ":" into exactly two.
    header = f"token {key}:{secret}"
    try:
        auth_type, auth_token = header.split(" ")
        k, s = auth_token.split(":")
        if (k, s) != (key, secret):
            problems.append("token header does not give them back")
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        k, s = base64.b64decode(basic).decode().split(":")
        if (k, s) != (key, secret):
            problems.append("basic header does not give them back")
    except ValueError as e:
        problems.append(f"header does not parse: {e}")
    return problems


for line in sys.stdin:
    req = json.loads(line)
    if mode == "passlib":
        pw, stored = req["password"], req["hash"]
        salt = bytes.fromhex(req["salt"])
        out = {
            "verify": pbkdf2_sha256.verify(pw, stored),
            "frappe_verify": ctx.verify(pw, stored),
            "wrong_rejected": not ctx.verify(pw + "x", stored),
            "needs_update": ctx.needs_update(stored),
            "same_hash": pbkdf2_sha256.using(salt=salt, rounds=29000).hash(pw) == stored,
            "default_rounds": pbkdf2_sha256.default_rounds,
        }
    elif mode == "site":
        out = {"problems": site_rules(req["site"])}
    elif mode == "api_key":
        out = {"problems": api_key_rules(req["key"], req["secret"])}
    elif mode == "pickle":
        # What Frappe's cache writes for a str (redis_wrapper.py set_value: pickle.dumps,
        # the interpreter's default protocol), and what its get_value reads back.
        ours = bytes.fromhex(req["ours"])
        out = {
            "same_bytes": pickle.dumps(req["text"]) == ours,
            "protocol": pickle.DEFAULT_PROTOCOL,
            "loads": pickle.loads(ours) == req["text"],
        }
    elif mode == "fernet":
        from cryptography.fernet import Fernet, InvalidToken

        assert version("cryptography") == "42.0.0", version("cryptography")
        cipher_suite = Fernet(req["key"].encode())
        if "token" in req:
            try:
                out = {"plain": cipher_suite.decrypt(req["token"].encode()).decode()}
            except InvalidToken:
                out = {"plain": None}
        else:
            out = {"token": cipher_suite.encrypt(req["plain"].encode()).decode()}
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(out), flush=True)
