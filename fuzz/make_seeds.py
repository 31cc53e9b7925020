#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ (files named gen-*; other files, such as saved
crash inputs named crash-* or regress-*, are left alone).

    python3 fuzz/make_seeds.py

Each seed is one mode byte and that mode's input, as gatehouse::fuzzing::{token, admin_form}
read them. Tokens are signed with the TEST-ONLY key src/fuzzing/fuzz-key.pem (by the openssl
command line tool); the constants below must match src/fuzzing/token.rs. `cargo test` replays every
seed (fuzzing::seeds::replay_seeds).
"""

import base64
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import quote_plus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = os.path.join(ROOT, "src/fuzzing/fuzz-key.pem")
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_FuzzPool1"
CLIENT_ID = "4fuzz0client0id0abcdef012"
KID = "fUzZ/test+only+key="
FAR_FUTURE = 4_102_444_800


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sign(header: bytes, payload: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", KEY],
        input=signing_input,
        capture_output=True,
        check=True,
    ).stdout
    return f"{signing_input.decode()}.{b64(signature)}"


class Writer:
    def __init__(self, target: str):
        self.dir = os.path.join(ROOT, "fuzz/seeds", target)
        os.makedirs(self.dir, exist_ok=True)
        for name in os.listdir(self.dir):
            if name.startswith("gen-"):
                os.remove(os.path.join(self.dir, name))
        self.count = 0

    def put(self, mode: int, name: str, body):
        if isinstance(body, str):
            body = body.encode()
        name = re.sub(r"[^A-Za-z0-9]", "_", name)[:60]
        path = os.path.join(self.dir, f"gen-{mode}-{self.count:03}-{name}")
        with open(path, "wb") as f:
            f.write(bytes([mode]) + body)
        self.count += 1


HEADER = {"kid": KID, "alg": "RS256"}
ACCESS = {
    "sub": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "iss": ISSUER,
    "client_id": CLIENT_ID,
    "origin_jti": "11111111-2222-4333-8444-555555555555",
    "event_id": "66666666-7777-4888-8999-aaaaaaaaaaaa",
    "token_use": "access",
    "scope": "aws.cognito.signin.user.admin",
    "auth_time": 1_700_000_000,
    "exp": FAR_FUTURE,
    "iat": 1_700_000_000,
    "jti": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
    "username": "fuzz-user",
    "cognito:groups": ["editors"],
}
ID = {
    "sub": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "aud": CLIENT_ID,
    "email_verified": True,
    "token_use": "id",
    "auth_time": 1_700_000_000,
    "iss": ISSUER,
    "cognito:username": "fuzz-user",
    "exp": FAR_FUTURE,
    "given_name": "Jane",
    "family_name": "Doe",
    "iat": 1_700_000_000,
    "email": "jane@example.com",
    "jti": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
    "origin_jti": "11111111-2222-4333-8444-555555555555",
}
ODD_VALUES = [
    ("null", None),
    ("zero", 0),
    ("neg", -1),
    ("float", 1.5),
    ("str", "x"),
    ("empty", ""),
    ("arr", []),
    ("obj", {}),
    ("true", True),
    ("u64max", 2**64 - 1),
    ("past", 1_000_000_000),
]


def token_seeds():
    w = Writer("token")
    header = compact(HEADER)
    valid = sign(header.encode(), compact(ACCESS).encode())
    id_token = sign(header.encode(), compact(ID).encode())

    # Mode 0: the Authorization header (one header per line).
    for name, value in [
        ("bearer", f"Bearer {valid}"),
        ("lower", f"bearer {valid}"),
        ("spaces", f"BEARER   {valid}  "),
        ("id", f"Bearer {id_token}"),
        ("two-headers", f"Bearer {valid}\nBearer {valid}"),
        ("basic", "Basic dXNlcjpwYXNzd29yZA=="),
        ("scheme-only", "Bearer"),
        ("scheme-space", "Bearer "),
        ("inner-space", f"Bearer {valid} x"),
        ("shape", "Bearer a.b.c"),
        ("four-parts", f"Bearer {valid}.x"),
        ("padded", f"Bearer {valid}=="),
        ("trailing", f"Bearer {valid}x"),
        ("empty", ""),
        ("huge", "Bearer " + "a" * 9000),
        ("none-alg", "Bearer eyJhbGciOiJub25lIn0.e30."),
    ]:
        w.put(0, f"auth-{name}", value)

    # Header variants: signed as a bearer token (mode 0) and as header\0claims (mode 1).
    headers = [
        ("ok", header),
        ("typ", compact({"kid": KID, "alg": "RS256", "typ": "JWT"})),
        ("typ-num", compact({"kid": KID, "alg": "RS256", "typ": 5})),
        ("jku", compact({"kid": KID, "alg": "RS256", "jku": "https://evil.example/jwks"})),
        ("crit", compact({"kid": KID, "alg": "RS256", "crit": ["exp"]})),
        ("none", compact({"kid": KID, "alg": "none"})),
        ("hs256", compact({"kid": KID, "alg": "HS256"})),
        ("rs512", compact({"kid": KID, "alg": "RS512"})),
        ("ps256", compact({"kid": KID, "alg": "PS256"})),
        ("lower-alg", compact({"kid": KID, "alg": "rs256"})),
        ("alg-arr", compact({"kid": KID, "alg": ["RS256"]})),
        ("alg-null", compact({"kid": KID, "alg": None})),
        ("no-alg", compact({"kid": KID})),
        ("no-kid", compact({"alg": "RS256"})),
        ("kid-num", compact({"kid": 7, "alg": "RS256"})),
        ("kid-empty", compact({"kid": "", "alg": "RS256"})),
        ("kid-long", compact({"kid": "k" * 300, "alg": "RS256"})),
        ("kid-unknown", compact({"kid": "other", "alg": "RS256"})),
        ("dup-alg", f'{{"kid":"{KID}","alg":"RS256","alg":"none"}}'),
        ("dup-kid", f'{{"kid":"{KID}","kid":"x","alg":"RS256"}}'),
        ("array", '["RS256"]'),
        ("string", '"RS256"'),
        ("empty", ""),
        ("ws", f" {header} "),
    ]
    access = compact(ACCESS)
    for name, h in headers:
        w.put(1, f"header-{name}", h.encode() + b"\0" + access.encode())
        w.put(0, f"auth-header-{name}", f"Bearer {sign(h.encode(), access.encode())}")

    # Mode 1: claims variants, each claim removed or given an odd value.
    def claims_seed(name, claims: str):
        w.put(1, name, header.encode() + b"\0" + claims.encode())

    for kind, base in [("access", ACCESS), ("id", ID)]:
        claims_seed(f"{kind}-ok", compact(base))
        for key in list(base) + ["nbf", "aud"]:
            without = {k: v for k, v in base.items() if k != key}
            claims_seed(f"{kind}-no-{key}", compact(without))
            for label, value in ODD_VALUES:
                claims_seed(f"{kind}-{key}-{label}", compact({**base, key: value}))
    now = int(time.time())
    for name, patch in [
        ("expired", {"exp": now - 3600}),
        ("nbf-future", {"nbf": FAR_FUTURE}),
        ("nbf-past", {"nbf": 1_700_000_000}),
        ("iss-other", {"iss": "https://evil.example"}),
        ("iss-slash", {"iss": ISSUER + "/"}),
        ("use-refresh", {"token_use": "refresh"}),
        ("client-other", {"client_id": "someone-else"}),
        ("groups-str", {"cognito:groups": "admins"}),
        ("scope-many", {"scope": "openid profile articles/write"}),
        ("verified-True", {"email_verified": "True"}),
        ("verified-yes", {"email_verified": "yes"}),
        ("aud-arr", {"aud": [CLIENT_ID]}),
    ]:
        for kind, base in [("access", ACCESS), ("id", ID)]:
            claims_seed(f"{kind}-{name}", compact({**base, **patch}))
    claims_seed("dup-exp", access.replace("{", '{"exp":1,', 1))
    claims_seed("not-json", '{"sub":')
    claims_seed("array", "[1,2]")
    claims_seed("nested", "[" * 200)
    w.put(1, "claims-only", access)  # no NUL: the default header is used

    # Mode 2: edits (pos_lo, pos_hi, byte) to a valid token.
    for name, edits in [
        ("none", b""),
        ("flip-header", bytes([0, 0, ord("f")])),
        ("flip-sig", bytes([0x50, 0x01, ord("A")])),
        ("append", bytes([0xFF, 0xFF, ord("A")])),
        ("delete", bytes([5, 0, 0])),
        ("dot", bytes([3, 0, ord(".")])),
    ]:
        w.put(2, f"edit-{name}", edits)

    # Mode 3: JWKS documents.
    def jwk(**extra):
        return {"kty": "RSA", "kid": "k", "n": "AQAB" * 90, "e": "AQAB", **extra}

    for name, doc in [
        ("empty", {"keys": []}),
        ("one", {"keys": [jwk()]}),
        ("oct", {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}),
        ("enc", {"keys": [jwk(use="enc")]}),
        ("rs512", {"keys": [jwk(alg="RS512")]}),
        ("ops", {"keys": [jwk(key_ops=["encrypt"])]}),
        ("e-even", {"keys": [jwk(e="AQAA")]}),
        ("e-one", {"keys": [jwk(e="AQ")]}),
        ("n-short", {"keys": [jwk(n="AQAB")]}),
        ("n-num", {"keys": [jwk(n=5)]}),
        ("kid-empty", {"keys": [jwk(kid="")]}),
        ("keys-obj", {"keys": {}}),
        ("html", "<html>"),
        ("nothing", {}),
    ]:
        w.put(3, f"jwks-{name}", doc if isinstance(doc, str) else compact(doc))
    return w.count


def admin_form_seeds():
    w = Writer("admin_form")
    enc = quote_plus

    # Mode 0: users list query strings.
    users = [
        "",
        "q=alice",
        "q=+al%25ice+&is_staff=maybe&source=x&created_from=2024-13-01&o=password_hash&p=-3&per=7",
        "q=bob&is_active=1&o=-created_at&p=3&per=25",
        "p=9223372036854775807",
        "p=9223372036854775806&per=200",
        "p=99999999999999999999",
        "p=1000000000",
        "p=0",
        "created_from=2024-01-01&created_to=2024-12-31",
        "created_from=" + enc(" " * 20 + "2024-01-01"),
        "created_to=" + enc(" 2024-02-29 "),
        "created_to=%2B262143-12-31",
        "created_from=" + "0" * 16 + "2024-01-01",
        "q=" + enc("a" * 199 + " b"),
        "q=" + "%C3%A9" * 250,
        "q=%00%0D%0A",
        "q=a&q=b",
        "_changelist_filters=q%3Dx",
    ]
    for column in ["username", "email", "is_staff", "is_active", "source", "created_at"]:
        users += [f"o={column}", f"o=-{column}&p=2"]
    for flag in ["is_staff", "is_superuser", "is_active"]:
        users += [f"{flag}={value}" for value in ["1", "0", "true", "no", "x", ""]]
    users += [f"source={s}&per=50" for s in ["cognito", "local", "COGNITO", ""]]
    for i, q in enumerate(users):
        w.put(0, f"users-list-{i}", q)

    # Modes 1 and 2: articles and groups lists.
    simple = [
        "",
        "o=name",
        "o=-author&author=bob",
        "o=-name&q=x&p=2",
        "foo=1",
        "o=",
        "o=bogus",
        "o=created_at",
        "q=x&author=%20bob%20",
        "author=" + enc("a" * 149 + " b"),
        "q=" + enc("a" * 199 + " b"),
        "p=9223372036854775807",
        "p=-1&p=2",
        "author=a%26b%3Dc",
    ]
    for i, q in enumerate(simple):
        w.put(1, f"articles-list-{i}", q)
        w.put(2, f"groups-list-{i}", q)

    # Mode 3: next targets, raw and as the login form's field.
    nexts = [
        "/admin/",
        "/admin/users/?q=a",
        "/admin/users/x/change/#frag",
        "//evil.example/admin/",
        "https://evil.example/",
        "/admin/\\evil",
        "/admin/../static/x",
        "/admin/%2e%2e/static/x",
        "/admin/.%2E/x",
        "/admin/..",
        "/admin/./users/",
        "/admin/users/../../x",
        "/admin/\t/x",
        "/admin/\u00e9",
        "/static/x",
        "",
    ]
    for i, n in enumerate(nexts):
        w.put(3, f"next-raw-{i}", n)
        w.put(3, f"next-form-{i}", "username=a&password=b&next=" + enc(n))

    # Modes 4-7: users add, users change, groups, articles forms.
    uuid = "0190a0b0-0000-7000-8000-000000000001"
    forms = [
        (4, "add", "username=alice&email=Alice%40Example.COM&password1=correct+horse+battery&password2=correct+horse+battery"),
        (4, "add-mismatch", "username=alice&password1=a&password2=b"),
        (4, "add-common", "username=bob&password1=password&password2=password"),
        (4, "add-numeric", "username=bob&password1=12345678901&password2=12345678901"),
        (4, "add-similar", "username=alicealice&password1=alicealice1&password2=alicealice1"),
        (4, "add-bad-name", "username=al+ice%21&email=x%40&password1=&password2="),
        (4, "add-long-name", "username=" + "a" * 151),
        (4, "add-email-ws", "email=%20a%20b%40c.d%20"),
        (4, "add-email-dots", "email=a%40.c.&username=%C3%A9"),
        (4, "add-email-at", "email=a%40b%40c"),
        (4, "add-email-kelvin", "email=%E2%84%AA%40x.y"),
        (5, "change", f"username=bob&email=&first_name=%20Bob&is_active=on&is_staff=on&groups={uuid}&user_permissions=bad&_changelist_filters=q%3Dbob%26p%3D3&_continue=1"),
        (5, "change-filters", "username=bob&_changelist_filters=" + enc("p=9223372036854775807&created_from=" + enc(" " * 10 + "2024-01-01")) + "&_addanother="),
        (5, "change-bulk", f"action=deactivate&_selected_action={uuid}&_selected_action=x&confirm=yes"),
        (5, "change-long", "first_name=" + "a" * 160),
        (6, "group", f"name=Editors&permissions={uuid}&permissions=bad"),
        (6, "group-empty", "name=%20%20"),
        (6, "group-crlf", "name=a%0D%0Ab"),
        (7, "article", "name=Hello&body=line1%0D%0Aline2%0Dline3%0A&author=alice&_continue=1"),
        (7, "article-cr", "name=Hello&body=a%0Db%0D%0D%0Ac&author=alice"),
        (7, "article-empty", "name=&body=&author="),
        (7, "article-long", "name=" + "a" * 58 + "&_addanother=1"),
    ]
    for mode, name, body in forms:
        w.put(mode, name, body)

    # Mode 8: CSV rows: username, email, first name, last name, sub, password hash (NUL-separated).
    rows = [
        ["alice", "alice@example.com", "Alice", "Doe", "sub-1", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"],
        ["=cmd", "+1", "-2", "@SUM(A1)", "\tx", "no-dollars"],
        ["a,b", '"quoted"', "line\nbreak", "cr\rhere", "\r=x", "$$$$$"],
        ["", "", "", "", "", ""],
        ["\u00e9\U0001f980", "x@y.z", " =space", "'already", "\u202ertl", "$a$b"],
    ]
    for i, fields in enumerate(rows):
        w.put(8, f"csv-{i}", "\0".join(fields))
    return w.count


if __name__ == "__main__":
    n_token = token_seeds()
    n_form = admin_form_seeds()
    print(f"wrote {n_token} token seeds and {n_form} admin_form seeds", file=sys.stderr)
