#!/usr/bin/env python3
"""Re-records fixtures/frappe-v15/*.json from a running Frappe: every HTTP exchange
frappe-tenant makes, in its success and failure shapes.

Usage: record-fixtures.py FRAPPE_URL SITE [OTHER_SITE [--strict-only]]
       record-fixtures.py FRAPPE_URL SITE --setup-only
(Administrator password on stdin, the same for both sites)

The site must be a fresh one made for recording; it gains users and a custom
"SaaS Settings" DocType. Secrets in the responses (sid, keys) are replaced by
placeholders the fake server in tests/ fills in.

With OTHER_SITE (a second fresh site of the same bench) it also records what makes the
fake strict: a login as the new user, what a session of another site (or none) gets,
a SaaS Settings write with a field the DocType lacks, and Frappe's 417 for a table of
weak passwords under the site's password policy. --strict-only records only those.

--setup-only (SITE a fresh site whose setup wizard never ran) records the setup wizard as
the tool runs it (as Administrator, without an email: the wizard makes no user), its
refusals, Frappe's lists (countries and time zones, languages) the tool checks a sign-up
against, and the System Settings and User updates a sign-up makes on a site set up with
other values.
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
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    base, site = args[0], args[1]
    other = args[2] if len(args) > 2 else None
    admin = sys.stdin.readline().rstrip("\n")
    if "--setup-only" in sys.argv:
        record_setup(base, site, admin)
        return
    if "--strict-only" not in sys.argv:
        record_exchanges(base, site, admin)
    if other:
        record_strictness(base, site, other, admin)


def record_exchanges(base, site, admin):
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
    ensure_saas_settings(base, site, sid)
    st, h, b = call(base, site, "PUT", settings, plan, cookie=sid)
    save("saas-settings-ok", "PUT", settings, st, h, b)


# The fields the tool writes (src/commands/provision/steps.rs); the fake knows these three.
SAAS_SETTINGS = {
    "doctype": "DocType", "name": "SaaS Settings", "module": "Custom", "custom": 1, "issingle": 1,
    "fields": [
        {"fieldname": "plan_name", "label": "Plan Name", "fieldtype": "Data"},
        {"fieldname": "max_users", "label": "Max Users", "fieldtype": "Int"},
        {"fieldname": "max_storage", "label": "Max Storage (GB)", "fieldtype": "Float"},
    ],
    "permissions": [{"role": "System Manager", "read": 1, "write": 1}],
}


def ensure_saas_settings(base, site, sid):
    st, h, b = call(base, site, "GET", "/api/resource/DocType/SaaS%20Settings", cookie=sid)
    if st == 404:
        st, h, b = call(base, site, "POST", "/api/resource/DocType", SAAS_SETTINGS, cookie=sid)
        print(f"created DocType SaaS Settings: {st}", file=sys.stderr)



def login(base, site, usr, pwd):
    st, h, b = call(base, site, "POST", "/api/method/login", {"usr": usr, "pwd": pwd})
    assert st == 200, (site, usr, st, b)
    return next(c.split(";")[0][4:] for c in h.get_all("Set-Cookie") if c.startswith("sid="))


def message_of(body):
    """The human message of a Frappe error body (`_server_messages`), as the tool reads it."""
    v = json.loads(body)
    msgs = [json.loads(m).get("message", "") for m in json.loads(v.get("_server_messages", "[]"))]
    return " ".join(msgs)


def record_strictness(base, site, other, admin):
    users = "/api/resource/User"
    settings = "/api/resource/SaaS%20Settings/SaaS%20Settings"
    sid = login(base, site, "Administrator", admin)
    foreign = login(base, other, "Administrator", admin)

    # The tenant's own login: what the tests do with the password the tool set.
    email = f"rec-{secrets.token_hex(4)}@example.com"
    password = "Tr1cky-Lantern-42"
    user = {
        "email": email, "first_name": "Jane", "last_name": "Roe", "enabled": 1,
        "user_type": "System User", "send_welcome_email": 0, "new_password": password,
        "roles": [{"role": "System Manager"}],
    }
    st, h, b = call(base, site, "POST", users, user, cookie=sid)
    assert st == 200, (st, b)
    login_path = "/api/method/login"
    st, h, b = call(base, site, "POST", login_path, {"usr": email, "pwd": password})
    save("login-ok-user", "POST", login_path, st, h, b, [("Jane Roe", "{{fullName}}")])
    st, h, b = call(base, site, "POST", login_path, {"usr": email, "pwd": password + "x"})
    save("login-wrong-password-user", "POST", login_path, st, h, b)

    # A session is the site's: another site's sid (or none) is a guest here.
    guest = dict(user, email=f"rec-{secrets.token_hex(4)}@example.com")
    st, h, b = call(base, site, "POST", users, guest, cookie=foreign)
    save("create-user-session-expired", "POST", users, st, h, b)
    st, h, b = call(base, site, "POST", users, guest)
    save("create-user-as-guest", "POST", users, st, h, b)
    ensure_saas_settings(base, site, sid)
    plan = {"plan_name": "Free", "max_users": 5, "max_storage": 1.0}
    st, h, b = call(base, site, "PUT", settings, plan, cookie=foreign)
    save("saas-settings-session-expired", "PUT", settings, st, h, b)
    st, h, b = call(base, site, "PUT", settings, plan)
    save("saas-settings-as-guest", "PUT", settings, st, h, b)
    st, h, b = call(base, site, "GET", "/api/method/ping", cookie=foreign)
    save("ping-session-expired", "GET", "/api/method/ping", st, h, b)
    who = "/api/method/frappe.auth.get_logged_user"
    st, h, b = call(base, site, "GET", who)
    save("get-logged-user-as-guest", "GET", who, st, h, b)

    # A field the DocType lacks: Frappe keeps only its own fields (get_valid_dict).
    ensure_saas_settings(base, site, sid)
    st, h, b = call(base, site, "PUT", settings, plan, cookie=sid)
    assert st == 200, (st, b)
    typo = {"plan_nmae": "Pro", "max_users": 7, "max_storage": 2.5}
    st, h, b = call(base, site, "PUT", settings, typo, cookie=sid)
    save("saas-settings-unknown-field", "PUT", settings, st, h, b)
    st, h, b = call(base, site, "PUT", settings, {"plan_name": "Free", "max_users": "5", "max_storage": "1.0"}, cookie=sid)
    save("saas-settings-strings", "PUT", settings, st, h, b)

    # Frappe's verdict and message per password, under the default policy and two others.
    table = []
    system = "/api/resource/System%20Settings/System%20Settings"
    policies = [
        ({"enable_password_policy": 1, "minimum_password_score": 2},
         ["alice123", "password", "qwertyuiop", "abcabcabc", "Jane2019", "None2255", "Bluebird7", "Lantern-42"]),
        ({"enable_password_policy": 1, "minimum_password_score": 3}, ["Lantern-42", "Acme1234x"]),
        ({"enable_password_policy": 1, "minimum_password_score": 4}, ["Acme1234x"]),
        ({"enable_password_policy": 0, "minimum_password_score": 2}, ["password"]),
    ]
    for policy, passwords in policies:
        # A fresh site has no language or time zone yet, and System Settings needs both.
        required = {"language": "en", "time_zone": "Asia/Kolkata"}
        st, h, b = call(base, site, "PUT", system, dict(policy, **required), cookie=sid)
        assert st == 200, (policy, st, b)
        for pw in passwords:
            who = dict(user, email=f"rec-{secrets.token_hex(4)}@example.com", new_password=pw)
            st, h, b = call(base, site, "POST", users, who, cookie=sid)
            v = json.loads(b)
            table.append({
                "policy": policy, "first_name": "Jane", "last_name": "Roe", "email": who["email"],
                "password": pw, "status": st, "exc_type": v.get("exc_type"),
                "message": message_of(b) if st != 200 else None,
            })
            print(f"weak-passwords: {pw!r} under {policy} -> {st}", file=sys.stderr)
    call(base, site, "PUT", system, dict(policies[0][0], **required), cookie=sid)
    (OUT / "weak-passwords.json").write_text(json.dumps(table, indent=2) + "\n")

SETUP = "/api/method/frappe.desk.page.setup_wizard.setup_wizard.setup_complete"
DEFAULTS = {"language": "English", "country": "United States", "timezone": "America/New_York", "currency": "USD"}


def record_setup(base, site, admin):
    import time

    sid = login(base, site, "Administrator", admin)
    st, h, b = call(base, site, "POST", SETUP, {"args": DEFAULTS})
    save("setup-complete-as-guest", "POST", SETUP, st, h, b)
    st, h, b = call(base, site, "POST", SETUP, {"args": {}}, cookie=sid)
    save("setup-complete-empty-args", "POST", SETUP, st, h, b)
    st, h, b = call(base, site, "POST", SETUP, {"args": dict(DEFAULTS, country="Narnia")}, cookie=sid)
    save("setup-complete-bad-country", "POST", SETUP, st, h, b)
    started = time.monotonic()
    st, h, b = call(base, site, "POST", SETUP, {"args": DEFAULTS}, cookie=sid)
    print(f"setup wizard: {time.monotonic() - started:.2f} s", file=sys.stderr)
    save("setup-complete-ok", "POST", SETUP, st, h, b)
    st, h, b = call(base, site, "POST", SETUP, {"args": DEFAULTS}, cookie=sid)
    save("setup-complete-again", "POST", SETUP, st, h, b)
    info = "/api/method/frappe.geo.country_info.get_country_timezone_info"
    st, h, b = call(base, site, "GET", info)
    save("setup-country-timezone-info-guest", "GET", info, st, h, b)
    langs = "/api/method/frappe.desk.page.setup_wizard.setup_wizard.load_languages"
    st, h, b = call(base, site, "GET", langs, cookie=sid)
    save("setup-load-languages", "GET", langs, st, h, b)
    settings = "/api/resource/System%20Settings/System%20Settings"
    germany = {"country": "Germany", "language": "de", "time_zone": "Europe/Berlin",
               "number_format": "#.###,##", "date_format": "dd.mm.yyyy", "time_format": "HH:mm"}
    st, h, b = call(base, site, "PUT", settings, germany)
    save("system-settings-as-guest", "PUT", settings, st, h, b)
    st, h, b = call(base, site, "PUT", settings, dict(germany, country="Narnia"), cookie=sid)
    save("system-settings-bad-country", "PUT", settings, st, h, b)
    st, h, b = call(base, site, "PUT", settings, germany, cookie=sid)
    save("system-settings-update", "PUT", settings, st, h, b, replace=[(sid, "{{sid}}")])
    admin_user = "/api/resource/User/Administrator"
    st, h, b = call(base, site, "PUT", admin_user, {"time_zone": "Europe/Berlin"})
    save("user-update-as-guest", "PUT", admin_user, st, h, b)
    st, h, b = call(base, site, "PUT", admin_user, {"time_zone": "Europe/Berlin"}, cookie=sid)
    save("user-update-time-zone", "PUT", admin_user, st, h, b)
    guest = "/api/resource/User/Guest"
    st, h, b = call(base, site, "PUT", guest, {"time_zone": "Europe/Berlin"}, cookie=sid)
    save("user-update-time-zone-guest", "PUT", guest, st, h, b)
    st, h, b = call(base, site, "PUT", settings, {"setup_complete": 0}, cookie=sid)
    save("system-settings-reopen-setup", "PUT", settings, st, h, b)


if __name__ == "__main__":
    main()

