#!/usr/bin/env python3
"""Seeded corpus for the password differential test (tests/differential.rs of crates/frappe-password).

    python gen.py SEED OUT.jsonl [COUNT]

Writes one JSON object a line: the sign-up's first name, last name and email as the tool
sends them to Frappe, the password, and what Python zxcvbn 4.4.28 says when called the
way Frappe v15.14.1 calls it, plus Frappe's accept/refuse verdict per minimum score.
Needs zxcvbn==4.4.28 (the version Frappe v15 pins, `zxcvbn~=4.4.28`).

The call, restated from frappe/core/doctype/user/user.py (User.password_strength_test,
test_password_strength) and frappe/utils/password_strength.py (test_password_strength):
  - user_data = (first_name, middle_name, last_name, email, birth_date); a REST insert
    leaves middle_name and birth_date None, and zxcvbn makes them "none" (str().lower());
  - the password is cut to its first 128 characters;
  - accepted iff enable_password_policy is falsy, or score and score >= cint(minimum).
"""
import json
import multiprocessing
import os
import random
import string
import sys
from importlib.metadata import version

from zxcvbn import zxcvbn
from zxcvbn.adjacency_graphs import ADJACENCY_GRAPHS
from zxcvbn.frequency_lists import FREQUENCY_LISTS

assert version("zxcvbn") == "4.4.28", version("zxcvbn")


def frappe_score(password, first, last, email):
    if len(password) > 128:
        password = password[:128]
    r = zxcvbn(password, (first, None, last, email, None))
    return r["score"], r["guesses"]


def frappe_verdict(score, minimum):
    # user.py test_password_strength, with enable_password_policy on.
    return bool(score and score >= (int(minimum) or 0))


seed = int(sys.argv[1])
out_path = sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 12000
rng = random.Random(seed)

L = FREQUENCY_LISTS
words = L["english_wikipedia"][:20000] + L["us_tv_and_film"][:10000]
firsts = L["male_names"] + L["female_names"]
surnames = L["surnames"]
domains = ["acme.com", "example.org", "gmail.com", "mail.co", "firma.de", "xn--bcher-kva.ch"]
unicode_words = [
    "müller", "straße", "çağrı", "ÇAĞRI", "Ελλάδα", "ΟΔΥΣΣΕΥΣ", "σοφία", "москва", "Привет",
    "東京タワー", "北京", "한국어", "עברית", "العربية", "पासवर्ड", "İstanbul", "ǅemal", "ﬁnance",
    "Ärger", "Øresund", "ŁÓDŹ", "naïve", "café", "😀🔒", "١٢٣٤٥٦", "२०२०", "٣١/١٢/٢٠٢٠", "ⅷ", "²³",
]
l33t = {"a": "4@", "b": "8", "c": "({[<", "e": "3", "g": "69", "i": "1!|", "l": "1|7",
        "o": "0", "s": "$5", "t": "+7", "x": "%", "z": "2"}
symbols = "!@#$%^&*()-_=+[]{};:'\",.<>/?\\|`~ "


def cap(w):
    r = rng.random()
    if r < 0.4:
        return w.capitalize()
    if r < 0.5:
        return w.upper()
    if r < 0.6:
        return "".join(c.upper() if rng.random() < 0.3 else c for c in w)
    if r < 0.65:
        return w[:-1] + w[-1:].upper()
    return w


def leet(w):
    p = rng.choice([0.3, 0.6, 1.0])
    return "".join(rng.choice(l33t[c]) if c in l33t and rng.random() < p else c for c in w)


def digits(n=None):
    n = n if n is not None else rng.randint(1, 6)
    return "".join(rng.choice(string.digits) for _ in range(n))


def year():
    return str(rng.randint(1900, 2030))


def date():
    d, m, y = rng.randint(1, 31), rng.randint(1, 12), rng.randint(1930, 2049)
    sep = rng.choice(["", "", "/", "-", ".", "_", " ", "\\"])
    yy = str(y) if rng.random() < 0.6 else f"{y % 100:02d}"
    dd = f"{d:02d}" if rng.random() < 0.7 else str(d)
    mm = f"{m:02d}" if rng.random() < 0.7 else str(m)
    parts = rng.choice([[dd, mm, yy], [mm, dd, yy], [yy, mm, dd]])
    return sep.join(parts)


def walk():
    g = ADJACENCY_GRAPHS[rng.choice(["qwerty", "qwerty", "dvorak", "keypad", "mac_keypad"])]
    k = rng.choice(list(g))
    out = [k]
    direction = rng.randrange(len(g[k]))
    for _ in range(rng.randint(2, 12)):
        if rng.random() < 0.3:
            direction = rng.randrange(len(g[k]))
        adj = g[k][direction]
        if not adj:
            adjs = [a for a in g[k] if a]
            adj = rng.choice(adjs)
        c = adj[1] if len(adj) > 1 and rng.random() < 0.2 else adj[0]
        out.append(c)
        k = c if c in g else adj[0]
    return "".join(out)


def repeat():
    base = rng.choice([rng.choice(string.ascii_letters), rng.choice(words)[:4], digits(2), "ab", "abc", "123", rng.choice(symbols)])
    return base * rng.randint(2, 6)


def sequence():
    alpha = rng.choice([string.ascii_lowercase, string.ascii_uppercase, string.digits,
                        "αβγδεζηθικλμνξοπρστυφχψω", "абвгдежзийклмнопрстуфхцчшщ"])
    step = rng.choice([1, 1, 1, 2, 3, -1, -2])
    n = rng.randint(3, 10)
    start = rng.randrange(len(alpha))
    s = "".join(alpha[(start + i * step) % len(alpha)] for i in range(n))
    return s


def randstr(n=None):
    n = n if n is not None else rng.randint(8, 24)
    pool = rng.choice([string.ascii_letters + string.digits, string.ascii_letters + string.digits + symbols,
                       string.ascii_lowercase, string.digits, "".join(unicode_words)])
    return "".join(rng.choice(pool) for _ in range(n))


def common():
    lst = rng.choice(["passwords", "passwords", "passwords", "english_wikipedia", "surnames", "female_names", "male_names", "us_tv_and_film"])
    # Skewed to the top of each list, where the rank thresholds bite.
    idx = min(int(rng.paretovariate(0.6)) - 1, len(L[lst]) - 1)
    return L[lst][idx] if rng.random() < 0.7 else rng.choice(L[lst])


def person():
    first = rng.choice(firsts).capitalize()
    r = rng.random()
    if r < 0.1:
        last = ""
    elif r < 0.15:
        last = rng.choice(surnames).capitalize() + " " + rng.choice(surnames).capitalize()
    elif r < 0.2:
        last = rng.choice(["Müller", "Ødegård", "Straße", "Παπαδόπουλος", "Иванов", "None", "O'Brien"])
    else:
        last = rng.choice(surnames).capitalize()
    if rng.random() < 0.05:
        first = rng.choice(["José", "Zoë", "İlkay", "Σωκράτης", "Jean-Luc", "None", "null"])
    local = rng.choice([first.lower(), f"{first.lower()}.{last.split(' ')[-1].lower() or 'x'}", f"{first[:1].lower()}{last.lower().replace(' ', '')}", "info", "admin"])
    local = "".join(c for c in local if c.isascii() and (c.isalnum() or c in ".-_")) or "user"
    email = f"{local}@{rng.choice(domains)}"
    return first, last, email


def personal(first, last, email):
    local, domain = email.split("@")
    parts = [first, last.split(" ")[0] if last else first, local, domain.split(".")[0], email, "none", "None"]
    p = rng.choice(parts)
    return cap(p) + rng.choice(["", digits(), year(), "!", "@" + digits(2), date()])


def piece():
    kinds = [
        (common, 20), (lambda: cap(rng.choice(words)), 10), (lambda: leet(cap(common())), 8),
        (digits, 5), (year, 5), (date, 6), (walk, 8), (repeat, 5), (sequence, 5),
        (lambda: randstr(rng.randint(3, 8)), 6), (lambda: rng.choice(symbols), 5),
        (lambda: rng.choice(unicode_words), 4),
    ]
    fs, ws = zip(*kinds)
    return rng.choices(fs, ws)[0]()


def password(first, last, email):
    r = rng.random()
    if r < 0.08:
        return common()
    if r < 0.16:
        return cap(rng.choice(words)) + rng.choice([digits(), year(), "!", digits(2) + "!"])
    if r < 0.26:
        return personal(first, last, email)
    if r < 0.31:
        return leet(cap(common())) + rng.choice(["", digits(), year()])
    if r < 0.35:
        return walk()
    if r < 0.38:
        return date()
    if r < 0.41:
        return repeat()
    if r < 0.44:
        return sequence()
    if r < 0.52:
        return randstr()
    if r < 0.55:
        return randstr(rng.randint(100, 200))
    if r < 0.58:
        return "".join(rng.choice(unicode_words) for _ in range(rng.randint(1, 3))) + rng.choice(["", digits()])
    if r < 0.61:
        # The seed's own example shape and its neighbours.
        return cap(rng.choice(words)) + rng.choice(["", "-", "_", "."]) + cap(rng.choice(words)) + rng.choice(["", "-"]) + digits(rng.randint(0, 3))
    if r < 0.63:
        return (personal(first, last, email) + piece()) * rng.randint(1, 12)
    return "".join(piece() for _ in range(rng.randint(1, 5)))


def scored(case):
    p, first, last, email = case
    score, guesses = frappe_score(p, first, last, email)
    verdicts = {str(m): frappe_verdict(score, m) for m in (1, 2, 3, 4)}
    return json.dumps({"password": p, "first": first, "last": last, "email": email,
                       "score": score, "guesses": str(guesses), "accepted": verdicts},
                      ensure_ascii=False) + "\n"


def cases():
    # Drawn in one process from the one seeded rng, so the corpus is the same whatever the
    # number of processes that score it.
    seen = set()
    out = []
    while len(out) < count:
        first, last, email = person()
        p = password(first, last, email)
        # Control characters are refused by the tool's seed rule before zxcvbn, and the
        # corpus stays printable so a failure report can be pasted.
        if not p or any(ord(c) < 32 or ord(c) == 127 for c in p) or (p, first, last, email) in seen:
            continue
        seen.add((p, first, last, email))
        out.append((p, first, last, email))
    return out


if __name__ == "__main__":
    # zxcvbn is pure Python and takes milliseconds a long password: score on every core.
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool, open(out_path, "w", encoding="utf-8") as out:
        for line in pool.imap(scored, cases(), chunksize=100):
            out.write(line)
