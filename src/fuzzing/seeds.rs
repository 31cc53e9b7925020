//! The committed seed corpora in `fuzz/seeds/<target>/`: written by the ignored test
//! `write_seeds` (`cargo test --lib fuzzing::seeds::write_seeds -- --ignored`), and replayed through
//! the same entry points as the fuzz targets by `replay_seeds`, so a plain `cargo test` runs every
//! seed (and every saved crash input) without libFuzzer.
//!
//! Generated seeds are named `gen-*` and rewritten by `write_seeds`; inputs saved from fuzzing
//! runs (`crash-*`, `regress-*`) are kept as they are.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{admin_form, token};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

/// (name, bytes) of every seed of `target`, sorted by name.
fn read_seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<_> = std::fs::read_dir(seeds_dir(target))
        .expect("fuzz/seeds/<target> exists")
        .map(|e| {
            let path = e.expect("dir entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("seed readable"))
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn replay_seeds() {
    let token_seeds = read_seeds("token");
    assert!(token_seeds.len() >= 100, "{} token seeds", token_seeds.len());
    for (name, bytes) in &token_seeds {
        let outcome = std::panic::catch_unwind(|| token::fuzz(bytes));
        assert!(outcome.is_ok(), "token seed {name} fails");
    }
    let form_seeds = read_seeds("admin_form");
    assert!(form_seeds.len() >= 100, "{} admin_form seeds", form_seeds.len());
    for (name, bytes) in &form_seeds {
        let outcome = std::panic::catch_unwind(|| admin_form::fuzz(bytes));
        assert!(outcome.is_ok(), "admin_form seed {name} fails");
    }
}

struct Writer {
    dir: PathBuf,
    count: usize,
}

impl Writer {
    fn new(target: &str) -> Self {
        let dir = seeds_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with("gen-") {
                std::fs::remove_file(path).unwrap();
            }
        }
        Writer { dir, count: 0 }
    }

    fn put(&mut self, mode: u8, name: &str, body: &[u8]) {
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect();
        let mut bytes = vec![mode];
        bytes.extend_from_slice(body);
        let path = self.dir.join(format!("gen-{mode}-{:03}-{name}", self.count));
        std::fs::write(path, bytes).unwrap();
        self.count += 1;
    }
}

fn odd_values() -> Vec<(&'static str, Value)> {
    vec![
        ("null", Value::Null),
        ("zero", json!(0)),
        ("neg", json!(-1)),
        ("float", json!(1.5)),
        ("str", json!("x")),
        ("empty", json!("")),
        ("arr", json!([])),
        ("obj", json!({})),
        ("true", json!(true)),
        ("u64max", json!(u64::MAX)),
        ("past", json!(1_000_000_000)),
    ]
}

#[test]
#[ignore = "writes fuzz/seeds/token; run by hand after changing the fuzzing fixture"]
fn write_seeds() {
    write_token_seeds();
    write_admin_form_seeds();
}

fn write_token_seeds() {
    let mut w = Writer::new("token");
    let valid = token::valid_token();
    let header = token::header().to_string();
    let access = token::access_claims();
    let id = token::id_claims();

    // Mode 0: the Authorization header.
    let signed = |h: &str, c: &Value| token::sign(h.as_bytes(), c.to_string().as_bytes());
    for (name, value) in [
        ("bearer", format!("Bearer {valid}")),
        ("lower", format!("bearer {valid}")),
        ("spaces", format!("BEARER   {valid}  ")),
        ("id", format!("Bearer {}", signed(&header, &id))),
        ("two-headers", format!("Bearer {valid}\nBearer {valid}")),
        ("basic", "Basic dXNlcjpwYXNzd29yZA==".to_owned()),
        ("scheme-only", "Bearer".to_owned()),
        ("scheme-space", "Bearer ".to_owned()),
        ("inner-space", format!("Bearer {valid} x")),
        ("shape", "Bearer a.b.c".to_owned()),
        ("four-parts", format!("Bearer {valid}.x")),
        ("padded", format!("Bearer {valid}==")),
        ("trailing", format!("Bearer {valid}x")),
        ("empty", String::new()),
        ("huge", format!("Bearer {}", "a".repeat(9000))),
        ("none-alg", "Bearer eyJhbGciOiJub25lIn0.e30.".to_owned()),
    ] {
        w.put(0, &format!("auth-{name}"), value.as_bytes());
    }

    // Header variants, signed, in modes 0 and 1.
    let kid = token::KID;
    let headers = [
        ("ok", header.clone()),
        ("typ", json!({"kid": kid, "alg": "RS256", "typ": "JWT"}).to_string()),
        ("typ-num", json!({"kid": kid, "alg": "RS256", "typ": 5}).to_string()),
        ("jku", json!({"kid": kid, "alg": "RS256", "jku": "https://evil.example/jwks"}).to_string()),
        ("crit", json!({"kid": kid, "alg": "RS256", "crit": ["exp"]}).to_string()),
        ("none", json!({"kid": kid, "alg": "none"}).to_string()),
        ("hs256", json!({"kid": kid, "alg": "HS256"}).to_string()),
        ("rs512", json!({"kid": kid, "alg": "RS512"}).to_string()),
        ("ps256", json!({"kid": kid, "alg": "PS256"}).to_string()),
        ("lower-alg", json!({"kid": kid, "alg": "rs256"}).to_string()),
        ("alg-arr", json!({"kid": kid, "alg": ["RS256"]}).to_string()),
        ("alg-null", json!({"kid": kid, "alg": null}).to_string()),
        ("no-alg", json!({"kid": kid}).to_string()),
        ("no-kid", json!({"alg": "RS256"}).to_string()),
        ("kid-num", json!({"kid": 7, "alg": "RS256"}).to_string()),
        ("kid-empty", json!({"kid": "", "alg": "RS256"}).to_string()),
        ("kid-long", json!({"kid": "k".repeat(300), "alg": "RS256"}).to_string()),
        ("kid-unknown", json!({"kid": "other", "alg": "RS256"}).to_string()),
        ("dup-alg", format!(r#"{{"kid":"{kid}","alg":"RS256","alg":"none"}}"#)),
        ("dup-kid", format!(r#"{{"kid":"{kid}","kid":"x","alg":"RS256"}}"#)),
        ("array", "[\"RS256\"]".to_owned()),
        ("string", "\"RS256\"".to_owned()),
        ("empty", String::new()),
        ("ws", format!(" {header} ")),
    ];
    for (name, h) in &headers {
        let claims = access.to_string();
        let mut body = h.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(claims.as_bytes());
        w.put(1, &format!("header-{name}"), &body);
        w.put(
            0,
            &format!("auth-header-{name}"),
            format!("Bearer {}", token::sign(h.as_bytes(), claims.as_bytes())).as_bytes(),
        );
    }

    // Claims variants, signed (mode 1): each claim removed or given an odd value.
    let claim_seed = |w: &mut Writer, name: &str, claims: &str| {
        let mut body = header.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(claims.as_bytes());
        w.put(1, name, &body);
    };
    for (kind, base) in [("access", &access), ("id", &id)] {
        claim_seed(&mut w, &format!("{kind}-ok"), &base.to_string());
        let keys: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
        for key in keys.iter().chain(&["nbf".to_owned(), "aud".to_owned()]) {
            let mut without = base.clone();
            without.as_object_mut().unwrap().remove(key);
            claim_seed(&mut w, &format!("{kind}-no-{key}"), &without.to_string());
            for (label, value) in odd_values() {
                let mut changed = base.clone();
                changed[key.as_str()] = value;
                claim_seed(&mut w, &format!("{kind}-{key}-{label}"), &changed.to_string());
            }
        }
    }
    let now = chrono::Utc::now().timestamp();
    for (name, patch) in [
        ("expired", json!({"exp": now - 3600})),
        ("nbf-future", json!({"nbf": token::FAR_FUTURE})),
        ("nbf-past", json!({"nbf": 1_700_000_000})),
        ("iss-other", json!({"iss": "https://evil.example"})),
        ("iss-slash", json!({"iss": format!("{}/", token::ISSUER)})),
        ("use-refresh", json!({"token_use": "refresh"})),
        ("client-other", json!({"client_id": "someone-else"})),
        ("groups-str", json!({"cognito:groups": "admins"})),
        ("scope-many", json!({"scope": "openid profile articles/write"})),
        ("verified-True", json!({"email_verified": "True"})),
        ("verified-yes", json!({"email_verified": "yes"})),
        ("aud-arr", json!({"aud": [token::CLIENT_ID]})),
    ] {
        for (kind, base) in [("access", &access), ("id", &id)] {
            let mut claims = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                claims[k] = v.clone();
            }
            claim_seed(&mut w, &format!("{kind}-{name}"), &claims.to_string());
        }
    }
    let raw = access.to_string();
    claim_seed(
        &mut w,
        "dup-exp",
        &raw.replacen('{', r#"{"exp":1,"#, 1),
    );
    claim_seed(&mut w, "not-json", "{\"sub\":");
    claim_seed(&mut w, "array", "[1,2]");
    claim_seed(&mut w, "nested", &"[".repeat(200));
    // Unsigned default header: the rest is the claims.
    w.put(1, "claims-only", raw.as_bytes());

    // Mode 2: edits to a valid token.
    for (name, edits) in [
        ("none", vec![]),
        ("flip-header", vec![0, 0, b'f']),
        ("flip-sig", vec![0x50, 0x01, b'A']),
        ("append", vec![0xff, 0xff, b'A']),
        ("delete", vec![5, 0, 0]),
        ("dot", vec![3, 0, b'.']),
    ] {
        w.put(2, &format!("edit-{name}"), &edits);
    }

    // Mode 3: JWKS documents.
    let jwk = |extra: Value| {
        let mut k = json!({"kty": "RSA", "kid": "k", "n": "AQAB".repeat(90), "e": "AQAB"});
        for (key, value) in extra.as_object().unwrap() {
            k[key] = value.clone();
        }
        k
    };
    for (name, doc) in [
        ("empty", json!({"keys": []}).to_string()),
        ("one", json!({"keys": [jwk(json!({}))]}).to_string()),
        ("oct", json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}).to_string()),
        ("enc", json!({"keys": [jwk(json!({"use": "enc"}))]}).to_string()),
        ("rs512", json!({"keys": [jwk(json!({"alg": "RS512"}))]}).to_string()),
        ("ops", json!({"keys": [jwk(json!({"key_ops": ["encrypt"]}))]}).to_string()),
        ("e-even", json!({"keys": [jwk(json!({"e": "AQAA"}))]}).to_string()),
        ("e-one", json!({"keys": [jwk(json!({"e": "AQ"}))]}).to_string()),
        ("n-short", json!({"keys": [jwk(json!({"n": "AQAB"}))]}).to_string()),
        ("n-num", json!({"keys": [jwk(json!({"n": 5}))]}).to_string()),
        ("kid-empty", json!({"keys": [jwk(json!({"kid": ""}))]}).to_string()),
        ("keys-obj", json!({"keys": {}}).to_string()),
        ("html", "<html>".to_owned()),
        ("nothing", "{}".to_owned()),
    ] {
        w.put(3, &format!("jwks-{name}"), doc.as_bytes());
    }
}

fn write_admin_form_seeds() {
    let mut w = Writer::new("admin_form");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    // Mode 0: users list.
    let mut users = vec![
        String::new(),
        "q=alice".into(),
        "q=+al%25ice+&is_staff=maybe&source=x&created_from=2024-13-01&o=password_hash&p=-3&per=7"
            .into(),
        "q=bob&is_active=1&o=-created_at&p=3&per=25".into(),
        "p=9223372036854775807".into(),
        "p=9223372036854775806&per=200".into(),
        "p=99999999999999999999".into(),
        "p=0".into(),
        "created_from=2024-01-01&created_to=2024-12-31".into(),
        format!("created_from={}", enc("                    2024-01-01")),
        format!("created_to={}", enc(" 2024-02-29 ")),
        "created_to=+262143-12-31".into(),
        format!("q={}", enc(&format!("{} b", "a".repeat(199)))),
        format!("q={}", "%C3%A9".repeat(250)),
        "q=%00%0D%0A".into(),
        "q=a&q=b".into(),
        "_changelist_filters=q%3Dx".into(),
    ];
    for (column, _) in crate::admin::user_list::COLUMNS {
        users.push(format!("o={column}"));
        users.push(format!("o=-{column}&p=2"));
    }
    for flag in ["is_staff", "is_superuser", "is_active"] {
        for value in ["1", "0", "true", "no", "x", ""] {
            users.push(format!("{flag}={value}"));
        }
    }
    for source in ["cognito", "local", "COGNITO", ""] {
        users.push(format!("source={source}&per=50"));
    }
    for (i, q) in users.iter().enumerate() {
        w.put(0, &format!("users-list-{i}"), q.as_bytes());
    }

    // Modes 1 and 2: articles and groups lists.
    let simple = [
        String::new(),
        "o=name".into(),
        "o=-author&author=bob".into(),
        "o=-name&q=x&p=2".into(),
        "foo=1".into(),
        "o=".into(),
        "o=bogus".into(),
        "o=created_at".into(),
        "q=x&author=%20bob%20".into(),
        format!("author={}", enc(&format!("{} b", "a".repeat(149)))),
        format!("q={}", enc(&format!("{} b", "a".repeat(199)))),
        "p=9223372036854775807".into(),
        "p=-1&p=2".into(),
        "author=a%26b%3Dc".into(),
    ];
    for (i, q) in simple.iter().enumerate() {
        w.put(1, &format!("articles-list-{i}"), q.as_bytes());
        w.put(2, &format!("groups-list-{i}"), q.as_bytes());
    }

    // Mode 3: next.
    for (i, next) in [
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
        "/admin/é",
        "/static/x",
        "",
    ]
    .iter()
    .enumerate()
    {
        w.put(3, &format!("next-raw-{i}"), next.as_bytes());
        w.put(3, &format!("next-form-{i}"), format!("username=a&password=b&next={}", enc(next)).as_bytes());
    }

    // Modes 4–7: forms.
    let forms: &[(u8, &str, &str)] = &[
        (4, "add", "username=alice&email=Alice%40Example.COM&password1=correct+horse+battery&password2=correct+horse+battery"),
        (4, "add-mismatch", "username=alice&password1=a&password2=b"),
        (4, "add-common", "username=bob&password1=password&password2=password"),
        (4, "add-numeric", "username=bob&password1=12345678901&password2=12345678901"),
        (4, "add-similar", "username=alicealice&password1=alicealice1&password2=alicealice1"),
        (4, "add-bad-name", "username=al+ice%21&email=x%40&password1=&password2="),
        (4, "add-long-name", "username=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        (4, "add-email-ws", "email=%20a%20b%40c.d%20"),
        (4, "add-email-dots", "email=a%40.c.&username=%C3%A9"),
        (4, "add-email-at", "email=a%40b%40c"),
        (4, "add-email-kelvin", "email=%E2%84%AA%40x.y"),
        (5, "change", "username=bob&email=&first_name=%20Bob&is_active=on&is_staff=on&groups=0190a0b0-0000-7000-8000-000000000001&user_permissions=bad&_changelist_filters=q%3Dbob%26p%3D3&_continue=1"),
        (5, "change-filters", "username=bob&_changelist_filters=p%3D9223372036854775807%26created_from%3D%2520%2520%2520%2520%2520%2520%2520%2520%2520%25202024-01-01&_addanother="),
        (5, "change-bulk", "action=deactivate&_selected_action=0190a0b0-0000-7000-8000-000000000001&_selected_action=x&confirm=yes"),
        (5, "change-long", "first_name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        (6, "group", "name=Editors&permissions=0190a0b0-0000-7000-8000-000000000001&permissions=bad"),
        (6, "group-empty", "name=%20%20"),
        (6, "group-crlf", "name=a%0D%0Ab"),
        (7, "article", "name=Hello&body=line1%0D%0Aline2%0Dline3%0A&author=alice&_continue=1"),
        (7, "article-cr", "name=Hello&body=a%0Db%0D%0D%0Ac&author=alice"),
        (7, "article-empty", "name=&body=&author="),
        (7, "article-long", "name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&_addanother=1"),
    ];
    for (mode, name, body) in forms {
        w.put(*mode, name, body.as_bytes());
    }

    // Mode 8: CSV rows (username, email, first, last, sub, password hash).
    for (i, fields) in [
        ["alice", "alice@example.com", "Alice", "Doe", "sub-1", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"],
        ["=cmd", "+1", "-2", "@SUM(A1)", "\tx", "no-dollars"],
        ["a,b", "\"quoted\"", "line\nbreak", "cr\rhere", "\r=x", "$$$$$"],
        ["", "", "", "", "", ""],
        ["é🦀", "x@y.z", " =space", "'already", "\u{202e}rtl", "$a$b"],
    ]
    .iter()
    .enumerate()
    {
        w.put(8, &format!("csv-{i}"), fields.join("\0").as_bytes());
    }
}
