#!/usr/bin/env python3
"""Re-records fixtures/frappe-v15/*.json from a running Frappe: every HTTP exchange
frappe-tenant makes, in its success and failure shapes.

Usage: record-fixtures.py FRAPPE_URL SITE   (Administrator password on stdin)
The site must be a fresh one made for recording; it gains users and a custom
"SaaS Settings" DocType. Secrets in the responses (sid, keys) are replaced by
placeholders the fake server in tests/ fills in.
"""
import json
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "frappe-v15"


def call(base, site, method, path, body=None, cookie=None, auth=None):
    req = urllib.request.Request(base.rstrip("/") + path, method=method)
    req.add_header("Host", site)
    req.add_header("Accept", "application/json")
    if body is not None:
        req.add_header("Content-Type", "application/json")
        req.data = json.dumps(body).encode()
    if cookie:
        req.add_header("Cookie", f"sid={cookie}")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def save(name, method, path, status, headers, body, replace=()):
    for secret, placeholder in replace:
        body = body.replace(secret, placeholder)
    content_type = headers.get("Content-Type", "")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(
        json.dumps(
            {"method": method, "path": path, "status": status, "contentType": content_type, "body": body},
            indent=2,
        )
        + "\n"
    )
    print(f"{name}: {method} {path} -> {status}", file=sys.stderr)


def main():
    base, site = sys.argv[1], sys.argv[2]
    admin = sys.stdin.readline().rstrip("\n")
    login = "/api/method/login"
    st, h, b = call(base, site, "POST", login, {"usr": "Administrator", "pwd": admin + "x"})
    save("login-wrong-password", "POST", login, st, h, b)
    st, h, b = call(base, site, "POST", login, {"usr": "Administrator", "pwd": admin})
    save("login-ok", "POST", login, st, h, b)
    sid = next(c.split(";")[0][4:] for c in h.get_all("Set-Cookie") if c.startswith("sid="))
    st, h, b = call(base, "no-such-site.localhost", "POST", login, {"usr": "Administrator", "pwd": admin})
    save("unknown-site", "POST", login, st, h, b)
    st, h, b = call(base, site, "GET", "/api/method/ping")
    save("ping-ok", "GET", "/api/method/ping", st, h, b)

    email = f"rec-{secrets.token_hex(4)}@example.com"
    key, secret = secrets.token_hex(10), secrets.token_urlsafe(30)
    user = {
        "email": email, "first_name": "Rec", "last_name": "Order", "enabled": 1,
        "user_type": "System User", "send_welcome_email": 0, "new_password": "Tr1cky-Lantern-42",
        "roles": [{"role": "System Manager"}], "api_key": key, "api_secret": secret,
    }
    users = "/api/resource/User"
    swaps = [(email, "{{email}}"), (key, "{{apiKey}}")]
    st, h, b = call(base, site, "POST", users, user, cookie=sid)
    save("create-user-ok", "POST", users, st, h, b, swaps)
    st, h, b = call(base, site, "POST", users, user, cookie=sid)
    save("create-user-duplicate", "POST", users, st, h, b, swaps)
    weak = dict(user, email="weak-" + email, new_password="alice123", api_key=secrets.token_hex(10))
    st, h, b = call(base, site, "POST", users, weak, cookie=sid)
    save("create-user-weak-password", "POST", users, st, h, b, [("weak-" + email, "{{email}}")])
    st, h, b = call(base, site, "GET", users)
    save("list-users-as-guest", "GET", users, st, h, b)

    who = "/api/method/frappe.auth.get_logged_user"
    st, h, b = call(base, site, "GET", who, auth=f"token {key}:{secret}")
    save("get-logged-user-token-ok", "GET", who, st, h, b, swaps)
    st, h, b = call(base, site, "GET", who, auth=f"token {key}:wrong{secret}")
    save("get-logged-user-token-bad", "GET", who, st, h, b)

    settings = "/api/resource/SaaS%20Settings/SaaS%20Settings"
    plan = {"plan_name": "Free", "max_users": 5, "max_storage": 1.0}
    st, h, b = call(base, site, "PUT", settings, plan, cookie=sid)
    save("saas-settings-missing", "PUT", settings, st, h, b)
    doctype = {
        "doctype": "DocType", "name": "SaaS Settings", "module": "Custom", "custom": 1, "issingle": 1,
        "fields": [
            {"fieldname": "plan_name", "label": "Plan Name", "fieldtype": "Data"},
            {"fieldname": "max_users", "label": "Max Users", "fieldtype": "Int"},
            {"fieldname": "max_storage", "label": "Max Storage (GB)", "fieldtype": "Float"},
        ],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1}],
    }
    st, h, b = call(base, site, "GET", "/api/resource/DocType/SaaS%20Settings", cookie=sid)
    if st == 404:
        st, h, b = call(base, site, "POST", "/api/resource/DocType", doctype, cookie=sid)
        print(f"created DocType SaaS Settings: {st}", file=sys.stderr)
    st, h, b = call(base, site, "PUT", settings, plan, cookie=sid)
    save("saas-settings-ok", "PUT", settings, st, h, b)


if __name__ == "__main__":
    main()
