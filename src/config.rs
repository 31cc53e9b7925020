//! Settings from the environment (and `.env`), read and validated once at start-up.
//!
//! Every problem is reported as one [`ConfigError`] naming the variable, so a bad deployment stops
//! with a line an operator can act on instead of a panic deep inside a request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::cookie::Key;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Where the docker-compose Postgres listens, so `gatehouse serve` runs with nothing set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/gatehouse";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// `actix_web::cookie::Key::derive_from` needs at least 256 bits of master key.
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// Every variable Gatehouse reads; a test checks that the README's settings table lists each.
pub const VARIABLES: &[&str] = &[
    "GATEHOUSE_ENV",
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "DATABASE_CONNECT_TIMEOUT_SECONDS",
    "DATABASE_POOL_TIMEOUT_SECONDS",
    "DATABASE_STATEMENT_TIMEOUT_MS",
    "RUN_MIGRATIONS",
    "BIND",
    "WORKERS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "SECRET_KEY",
    "COOKIE_SECURE",
    "SESSION_IDLE_TIMEOUT_SECONDS",
    "SESSION_MAX_AGE_SECONDS",
    "TRUSTED_PROXIES",
    "LOG_FORMAT",
    "RUST_LOG",
    "COGNITO_REGION",
    "COGNITO_USER_POOL_ID",
    "COGNITO_ISSUER",
    "COGNITO_JWKS_URL",
    "COGNITO_CLIENT_IDS",
    "COGNITO_TOKEN_USE",
    "COGNITO_CREATE_USERS",
    "COGNITO_LEEWAY_SECONDS",
    "COGNITO_JWKS_REFRESH_SECONDS",
    "COGNITO_JWKS_MIN_REFETCH_SECONDS",
    "COGNITO_REFRESH_TOKEN_DAYS",
    "COGNITO_HOOK_SECRET",
    "API_EDITOR_GROUP",
    "API_READ_SCOPE",
    "CORS_ALLOWED_ORIGINS",
    "PUBLIC_URL",
    "COGNITO_DOMAIN",
    "COGNITO_WEB_CLIENT_ID",
    "COGNITO_WEB_CLIENT_SECRET",
    "COGNITO_WEB_SCOPES",
    "WEB_SESSION_IDLE_TIMEOUT_SECONDS",
    "WEB_SESSION_MAX_AGE_SECONDS",
];

/// A configuration value that cannot be used. `Display` is the one line printed at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which Cognito token kind the API accepts (`COGNITO_TOKEN_USE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    Access,
    Id,
    Any,
}

/// The app clients whose tokens are accepted (`COGNITO_CLIENT_IDS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIds {
    /// Only the explicit value `*`: every app client of the pool.
    Any,
    List(Vec<String>),
}

impl ClientIds {
    pub fn allows(&self, client_id: &str) -> bool {
        match self {
            ClientIds::Any => true,
            ClientIds::List(ids) => ids.iter().any(|id| id == client_id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub pool_timeout: Duration,
    pub statement_timeout: Duration,
    pub run_migrations: bool,
}

#[derive(Debug, Clone)]
pub struct CognitoSettings {
    /// Accepted `iss` values: Cognito has an original and an updated issuer format per pool.
    pub issuers: Vec<String>,
    pub jwks_url: Url,
    pub client_ids: ClientIds,
    pub token_use: TokenUse,
    pub create_users: bool,
    pub leeway: Duration,
    pub jwks_refresh: Duration,
    pub jwks_min_refetch: Duration,
    /// The pool's refresh-token lifetime: how long one sign-in can keep minting tokens, so how
    /// long its revocation must last.
    pub refresh_token_days: u64,
}

/// Web sign-in through Cognito's managed login (`/auth/*`): present only when the managed-login
/// domain and the web app client are both set.
#[derive(Debug, Clone)]
pub struct WebSignInSettings {
    /// The site's external origin (`https://app.example.com`, no path): redirect and sign-out URLs
    /// are built from it, and cookie-authenticated API calls must come from it (or a CORS origin).
    pub public_url: String,
    /// The managed-login domain, an origin (`https://auth.example.com`).
    pub domain: String,
    pub client_id: String,
    /// HTTP Basic authentication at the token and revoke endpoints, when the client has a secret.
    pub client_secret: Option<SecretString>,
    /// Space-separated, always including `openid` (the id token proves who signed in).
    pub scopes: String,
    pub idle_timeout: Duration,
    pub max_age: Duration,
}

impl WebSignInSettings {
    /// `{PUBLIC_URL}/auth/callback`: must be a callback URL of the app client, exactly.
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/callback", self.public_url)
    }

    /// `{PUBLIC_URL}/auth/signed-out`: must be a sign-out URL of the app client, exactly.
    pub fn logout_uri(&self) -> String {
        format!("{}/auth/signed-out", self.public_url)
    }
}

#[derive(Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database: DatabaseSettings,
    pub bind: SocketAddr,
    pub workers: Option<usize>,
    pub shutdown_timeout: Duration,
    /// Session and CSRF signing/encryption key.
    pub secret_key: Key,
    /// True when SECRET_KEY was unset and a random key was made: sessions end at every restart.
    pub secret_key_generated: bool,
    pub cookie_secure: bool,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    /// Peers whose `X-Forwarded-For` / `Forwarded` are believed (`TRUSTED_PROXIES`); empty: none.
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// `None` when no Cognito pool is configured: the API then answers 503 `cognito_not_configured`.
    pub cognito: Option<CognitoSettings>,
    pub cognito_hook_secret: Option<SecretString>,
    /// Members of this Cognito group may change and delete any article through the API.
    pub api_editor_group: String,
    /// The scope a machine-to-machine token needs to read articles.
    pub api_read_scope: String,
    /// Web origins (`https://app.example.com`) whose scripts may call the API; empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// `None` when web sign-in is not configured: `/auth/*` then says so, nothing else changes.
    pub web: Option<WebSignInSettings>,
}

impl std::fmt::Debug for Settings {
    // The key is left out; `SecretString` fields already print redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("database", &self.database)
            .field("bind", &self.bind)
            .field("workers", &self.workers)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("secret_key_generated", &self.secret_key_generated)
            .field("cookie_secure", &self.cookie_secure)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_max_age", &self.session_max_age)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("log_format", &self.log_format)
            .field("cognito", &self.cognito)
            .field("cognito_hook_secret", &self.cognito_hook_secret)
            .field("api_editor_group", &self.api_editor_group)
            .field("api_read_scope", &self.api_read_scope)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("web", &self.web)
            .finish()
    }
}

/// Reads raw values; empty strings count as unset (docker-compose's `FOO=` idiom).
struct Source<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Result<Option<String>, ConfigError>> Source<F> {
    fn raw(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        Ok((self.lookup)(var)?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()))
    }

    fn parse<T>(
        &self,
        var: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.raw(var)? {
            None => Ok(default),
            Some(v) => parse(&v).map_err(|reason| ConfigError::new(var, reason)),
        }
    }

    fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parse(var, default, parse_bool)
    }

    fn int(&self, var: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.parse(var, default, |v| {
            let n: u64 = v
                .parse()
                .map_err(|_| format!("expected a whole number, got {v:?}"))?;
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}, got {n}"));
            }
            Ok(n)
        })
    }

    fn seconds(
        &self,
        var: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.int(var, default, min, max).map(Duration::from_secs)
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {v:?}")),
    }
}

fn parse_http_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v).map_err(|e| format!("not a valid URL ({e}): {v:?}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("expected an http(s) URL with a host, got {v:?}"));
    }
    Ok(url)
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated origins, each exactly as a browser sends it in `Origin`
/// (scheme, host, port if not the default; no path). No wildcard: the API allows credentials, and
/// a browser refuses `*` with credentials anyway; listing origins is the safe form of "any".
fn parse_origins(v: &str, environment: Environment) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.contains('*') {
            return Err(format!(
                "wildcards are not allowed; list each origin, such as https://app.example.com, \
                 got {item:?}"
            ));
        }
        let origin = Url::parse(item)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .map(|u| u.origin().ascii_serialization());
        // An origin has no path, not even "/", and is lowercase: anything else never matches.
        if origin.as_deref() != Some(item) {
            return Err(format!(
                "expected origins such as https://app.example.com or http://localhost:5173 \
                 (scheme, lowercase host and port only), got {item:?}"
            ));
        }
        if item.starts_with("http://") && environment != Environment::Development {
            return Err(format!(
                "must be https:// origins outside GATEHOUSE_ENV=development, got {item:?}"
            ));
        }
        if !origins.iter().any(|o| o == item) {
            origins.push(item.to_owned());
        }
    }
    Ok(origins)
}

/// `TRUSTED_PROXIES`: comma-separated CIDRs (`10.0.0.0/8, fd00::/8`); a bare address is one host.
fn parse_trusted_proxies(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "expected comma-separated CIDRs such as 10.0.0.0/8 or fd00::/8, got {s:?}"
                    )
                })
        })
        .collect()
}

fn parse_database_url(v: &str) -> Result<SecretString, String> {
    // The message never repeats the value: it may hold a password.
    let url = Url::parse(v).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "expected a postgres:// URL, got scheme {:?}",
            url.scheme()
        ));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err("the URL names no database (postgres://user@host:5432/DBNAME)".into());
    }
    v.parse::<tokio_postgres::Config>()
        .map_err(|e| format!("not a usable Postgres URL ({e})"))?;
    Ok(SecretString::from(v.to_owned()))
}

/// `eu-west-1_AbCdEf012` → `eu-west-1`.
fn region_of_pool_id(pool_id: &str) -> Option<&str> {
    let (region, id) = pool_id.split_once('_')?;
    let valid_region = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_id = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
    (valid_region && valid_id).then_some(region)
}

impl Settings {
    /// Reads the process environment. Call `dotenvy::dotenv()` first to include `.env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| match std::env::var(var) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(ConfigError::new(var_name(var), "is not valid UTF-8"))
            }
        })
    }

    /// Reads from a map instead of the environment (tests).
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|var| Ok(map.get(var).cloned()))
    }

    fn from_lookup(
        lookup: impl Fn(&str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let src = Source { lookup };

        let environment = src.parse("GATEHOUSE_ENV", Environment::Production, |v| {
            match v.to_ascii_lowercase().as_str() {
                "development" | "dev" => Ok(Environment::Development),
                "production" | "prod" => Ok(Environment::Production),
                _ => Err(format!("expected development or production, got {v:?}")),
            }
        })?;

        let database = DatabaseSettings {
            url: src.parse(
                "DATABASE_URL",
                SecretString::from(DEFAULT_DATABASE_URL),
                parse_database_url,
            )?,
            pool_size: src.int("DATABASE_POOL_SIZE", 10, 1, 1000)? as usize,
            connect_timeout: src.seconds("DATABASE_CONNECT_TIMEOUT_SECONDS", 5, 1, 300)?,
            pool_timeout: src.seconds("DATABASE_POOL_TIMEOUT_SECONDS", 5, 1, 300)?,
            statement_timeout: Duration::from_millis(src.int(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                10_000,
                0,
                3_600_000,
            )?),
            run_migrations: src.bool("RUN_MIGRATIONS", true)?,
        };

        let bind = src.parse("BIND", default_bind(), |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("expected IP:PORT such as 0.0.0.0:8080, got {v:?}"))
        })?;
        let workers = match src.int("WORKERS", 0, 0, 1024)? {
            0 => None,
            n => Some(n as usize),
        };
        let shutdown_timeout = src.seconds("SHUTDOWN_TIMEOUT_SECONDS", 30, 0, 3600)?;

        let (secret_key, secret_key_generated) = match src.raw("SECRET_KEY")? {
            Some(v) if v.len() < MIN_SECRET_KEY_LEN => {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!(
                        "must be at least {MIN_SECRET_KEY_LEN} characters long, got {}; \
                         make one with `openssl rand -base64 48`",
                        v.len()
                    ),
                ));
            }
            Some(v) => (Key::derive_from(v.as_bytes()), false),
            None => (Key::generate(), true),
        };

        let cookie_secure = src.bool("COOKIE_SECURE", environment != Environment::Development)?;
        let session_idle_timeout =
            src.seconds("SESSION_IDLE_TIMEOUT_SECONDS", 3600, 60, 30 * 86_400)?;
        let session_max_age = src.seconds("SESSION_MAX_AGE_SECONDS", 12 * 3600, 60, 90 * 86_400)?;
        if session_idle_timeout > session_max_age {
            return Err(ConfigError::new(
                "SESSION_IDLE_TIMEOUT_SECONDS",
                format!(
                    "must not exceed SESSION_MAX_AGE_SECONDS ({}), got {}",
                    session_max_age.as_secs(),
                    session_idle_timeout.as_secs()
                ),
            ));
        }

        let trusted_proxies = src.parse("TRUSTED_PROXIES", Vec::new(), parse_trusted_proxies)?;

        let log_format = src.parse("LOG_FORMAT", LogFormat::Text, |v| {
            match v.to_ascii_lowercase().as_str() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("expected text or json, got {v:?}")),
            }
        })?;
        if let Some(filter) = src.raw("RUST_LOG")? {
            tracing_subscriber::EnvFilter::try_new(&filter)
                .map_err(|e| ConfigError::new("RUST_LOG", format!("not a valid filter: {e}")))?;
        }

        let cognito = Self::cognito(&src, environment)?;
        let cognito_hook_secret = match src.raw("COGNITO_HOOK_SECRET")? {
            Some(v) if v.len() < MIN_SECRET_KEY_LEN => {
                return Err(ConfigError::new(
                    "COGNITO_HOOK_SECRET",
                    format!(
                        "must be at least {MIN_SECRET_KEY_LEN} characters long, got {}",
                        v.len()
                    ),
                ));
            }
            v => v.map(SecretString::from),
        };

        let api_editor_group = src.parse("API_EDITOR_GROUP", "editors".to_owned(), |v| {
            if v.chars().count() > 128 {
                Err("must be at most 128 characters".into())
            } else {
                Ok(v.to_owned())
            }
        })?;

        let api_read_scope = src.parse(
            "API_READ_SCOPE",
            "gatehouse/articles.read".to_owned(),
            |v| {
                if v.chars().count() > 256 {
                    Err("must be at most 256 characters".into())
                } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    Err("must be a single scope, without spaces".into())
                } else {
                    Ok(v.to_owned())
                }
            },
        )?;

        let cors_allowed_origins = src.parse("CORS_ALLOWED_ORIGINS", Vec::new(), |v| {
            parse_origins(v, environment)
        })?;

        let web = Self::web(&src, environment, cognito.as_ref())?;

        Ok(Settings {
            web,
            api_editor_group,
            api_read_scope,
            cors_allowed_origins,
            environment,
            database,
            bind,
            workers,
            shutdown_timeout,
            secret_key,
            secret_key_generated,
            cookie_secure,
            session_idle_timeout,
            session_max_age,
            trusted_proxies,
            log_format,
            cognito,
            cognito_hook_secret,
        })
    }

    fn cognito<F: Fn(&str) -> Result<Option<String>, ConfigError>>(
        src: &Source<F>,
        environment: Environment,
    ) -> Result<Option<CognitoSettings>, ConfigError> {
        // Keys and issuers over plain HTTP can be swapped by anyone on the path: emulators only.
        let url = |var: &'static str, v: &str| {
            let url = parse_http_url(v).map_err(|reason| ConfigError::new(var, reason))?;
            if url.scheme() == "http" && environment != Environment::Development {
                return Err(ConfigError::new(
                    var,
                    format!(
                        "must be an https:// URL outside GATEHOUSE_ENV=development \
                         (http:// is for local emulators only), got {v:?}"
                    ),
                ));
            }
            Ok(url)
        };
        let pool_id = src.raw("COGNITO_USER_POOL_ID")?;
        let region = src.raw("COGNITO_REGION")?;
        let issuer_override = src.raw("COGNITO_ISSUER")?;

        let issuers: Vec<String> = match (&issuer_override, &pool_id) {
            (Some(list), _) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    url("COGNITO_ISSUER", s)?;
                    // `iss` is compared exactly; a trailing slash would never match Cognito's.
                    Ok(s.trim_end_matches('/').to_owned())
                })
                .collect::<Result<_, ConfigError>>()?,
            (None, Some(pool_id)) => {
                let pool_region = region_of_pool_id(pool_id).ok_or_else(|| {
                    ConfigError::new(
                        "COGNITO_USER_POOL_ID",
                        format!("expected REGION_ID such as eu-west-1_AbC123, got {pool_id:?}"),
                    )
                })?;
                if let Some(region) = &region
                    && region != pool_region
                {
                    return Err(ConfigError::new(
                        "COGNITO_REGION",
                        format!("{region:?} does not match the pool id's region {pool_region:?}"),
                    ));
                }
                vec![format!(
                    "https://cognito-idp.{pool_region}.amazonaws.com/{pool_id}"
                )]
            }
            (None, None) => {
                if region.is_some() {
                    return Err(ConfigError::new(
                        "COGNITO_USER_POOL_ID",
                        "must be set when COGNITO_REGION is set",
                    ));
                }
                for var in ["COGNITO_JWKS_URL", "COGNITO_CLIENT_IDS"] {
                    if src.raw(var)?.is_some() {
                        return Err(ConfigError::new(
                            var,
                            "is set but no pool is: set COGNITO_USER_POOL_ID or COGNITO_ISSUER",
                        ));
                    }
                }
                return Ok(None);
            }
        };
        let Some(first_issuer) = issuers.first() else {
            return Err(ConfigError::new("COGNITO_ISSUER", "lists no issuer"));
        };

        let jwks_url = match src.raw("COGNITO_JWKS_URL")? {
            Some(v) => url("COGNITO_JWKS_URL", &v)?,
            None => url(
                "COGNITO_ISSUER",
                &format!("{first_issuer}/.well-known/jwks.json"),
            )?,
        };

        let client_ids = match src.raw("COGNITO_CLIENT_IDS")? {
            None => {
                return Err(ConfigError::new(
                    "COGNITO_CLIENT_IDS",
                    "is required when Cognito is configured: list the app client ids \
                     (comma-separated), or `*` to accept every app client of the pool",
                ));
            }
            Some(v) if v == "*" => ClientIds::Any,
            Some(v) => {
                let ids: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if ids.is_empty() || ids.iter().any(|id| id == "*") {
                    return Err(ConfigError::new(
                        "COGNITO_CLIENT_IDS",
                        format!("expected a comma-separated list of ids, or `*` alone, got {v:?}"),
                    ));
                }
                ClientIds::List(ids)
            }
        };

        let token_use = src.parse("COGNITO_TOKEN_USE", TokenUse::Access, |v| match v {
            "access" => Ok(TokenUse::Access),
            "id" => Ok(TokenUse::Id),
            "any" => Ok(TokenUse::Any),
            _ => Err(format!("expected access, id or any, got {v:?}")),
        })?;

        Ok(Some(CognitoSettings {
            issuers,
            jwks_url,
            client_ids,
            token_use,
            create_users: src.bool("COGNITO_CREATE_USERS", true)?,
            leeway: src.seconds("COGNITO_LEEWAY_SECONDS", 0, 0, 300)?,
            jwks_refresh: src.seconds("COGNITO_JWKS_REFRESH_SECONDS", 3600, 10, 7 * 86_400)?,
            // 0 would let a flood of random key ids fetch the JWKS back to back.
            jwks_min_refetch: src.seconds("COGNITO_JWKS_MIN_REFETCH_SECONDS", 10, 1, 3600)?,
            refresh_token_days: src.int("COGNITO_REFRESH_TOKEN_DAYS", 30, 1, 3650)?,
        }))
    }

    fn web<F: Fn(&str) -> Result<Option<String>, ConfigError>>(
        src: &Source<F>,
        environment: Environment,
        cognito: Option<&CognitoSettings>,
    ) -> Result<Option<WebSignInSettings>, ConfigError> {
        // Parsed even when web sign-in is off, so a typo is reported before anyone turns it on.
        let idle_timeout =
            src.seconds("WEB_SESSION_IDLE_TIMEOUT_SECONDS", 86_400, 60, 90 * 86_400)?;
        let max_age = src.seconds("WEB_SESSION_MAX_AGE_SECONDS", 7 * 86_400, 60, 3650 * 86_400)?;
        if idle_timeout > max_age {
            return Err(ConfigError::new(
                "WEB_SESSION_IDLE_TIMEOUT_SECONDS",
                format!(
                    "must not exceed WEB_SESSION_MAX_AGE_SECONDS ({}), got {}",
                    max_age.as_secs(),
                    idle_timeout.as_secs()
                ),
            ));
        }
        let origin = |var: &'static str, v: &str| {
            let url = parse_http_url(v).map_err(|reason| ConfigError::new(var, reason))?;
            let origin = url.origin().ascii_serialization();
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::new(
                    var,
                    format!(
                        "expected an origin such as https://app.example.com (no path), got {v:?}"
                    ),
                ));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(ConfigError::new(
                    var,
                    "must not hold a user name or password",
                ));
            }
            if url.scheme() == "http" && environment != Environment::Development {
                return Err(ConfigError::new(
                    var,
                    format!("must be https:// outside GATEHOUSE_ENV=development, got {v:?}"),
                ));
            }
            Ok(origin)
        };
        let domain = src.raw("COGNITO_DOMAIN")?;
        let client_id = src.raw("COGNITO_WEB_CLIENT_ID")?;
        let (Some(domain), Some(client_id)) = (domain, client_id) else {
            return Ok(None);
        };
        let domain = origin("COGNITO_DOMAIN", &domain)?;
        if client_id.len() > 128 || !client_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::new(
                "COGNITO_WEB_CLIENT_ID",
                format!("expected an app client id (letters and digits), got {client_id:?}"),
            ));
        }
        let Some(public_url) = src.raw("PUBLIC_URL")? else {
            return Err(ConfigError::new(
                "PUBLIC_URL",
                "is required for web sign-in: the site's external origin, such as \
                 https://app.example.com (redirect URLs are built from it)",
            ));
        };
        let public_url = origin("PUBLIC_URL", &public_url)?;
        if cognito.is_none() {
            return Err(ConfigError::new(
                "COGNITO_DOMAIN",
                "web sign-in needs the user pool too: set COGNITO_USER_POOL_ID or COGNITO_ISSUER",
            ));
        }
        let scopes = src.parse(
            "COGNITO_WEB_SCOPES",
            "openid email profile".to_owned(),
            |v| {
                let scopes: Vec<&str> = v.split_whitespace().collect();
                if !scopes.contains(&"openid") {
                    return Err(format!(
                        "must include openid (the id token proves who signed in), got {v:?}"
                    ));
                }
                // RFC 6749 §3.3: scope tokens are printable ASCII without space, `"` or a backslash.
                if let Some(bad) = scopes.iter().find(|s| {
                    !s.bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                }) {
                    return Err(format!("{bad:?} is not a valid scope"));
                }
                Ok(scopes.join(" "))
            },
        )?;
        Ok(Some(WebSignInSettings {
            public_url,
            domain,
            client_id,
            client_secret: src
                .raw("COGNITO_WEB_CLIENT_SECRET")?
                .map(SecretString::from),
            scopes,
            idle_timeout,
            max_age,
        }))
    }

    pub fn database_url(&self) -> &str {
        self.database.url.expose_secret()
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Maps a looked-up name back to its `'static` entry for error messages.
fn var_name(var: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| **v == var)
        .copied()
        .unwrap_or("environment")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_map(&map)
    }

    fn err(pairs: &[(&str, &str)]) -> ConfigError {
        match settings(pairs) {
            Ok(_) => panic!("expected an error for {pairs:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_need_nothing_set() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.database_url(), DEFAULT_DATABASE_URL);
        assert_eq!(s.bind.to_string(), DEFAULT_BIND);
        assert!(s.secret_key_generated);
        assert!(s.cookie_secure, "secure cookies outside development");
        assert!(s.database.run_migrations);
        assert!(s.cognito.is_none());
    }

    #[test]
    fn development_turns_secure_cookies_off_unless_asked() {
        assert!(
            !settings(&[("GATEHOUSE_ENV", "development")])
                .unwrap()
                .cookie_secure
        );
        let s = settings(&[("GATEHOUSE_ENV", "development"), ("COOKIE_SECURE", "true")]).unwrap();
        assert!(s.cookie_secure);
    }

    #[test]
    fn cors_origins_are_exact_and_never_a_wildcard() {
        assert!(settings(&[]).unwrap().cors_allowed_origins.is_empty());
        let s = settings(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, https://admin.example.com:8443,https://app.example.com",
        )])
        .unwrap();
        assert_eq!(
            s.cors_allowed_origins,
            ["https://app.example.com", "https://admin.example.com:8443"]
        );
        let dev = [
            ("GATEHOUSE_ENV", "development"),
            ("CORS_ALLOWED_ORIGINS", "http://localhost:5173"),
        ];
        assert_eq!(
            settings(&dev).unwrap().cors_allowed_origins,
            ["http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://App.Example.com",
            "https://app.example.com:443",
            "app.example.com",
            "null",
            "ftp://app.example.com",
            "https://user@app.example.com",
            "http://app.example.com",
        ] {
            let e = err(&[("CORS_ALLOWED_ORIGINS", bad)]);
            assert_eq!(e.var, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn web_sign_in_needs_domain_client_public_url_and_a_pool() {
        let pool = [
            ("COGNITO_USER_POOL_ID", "eu-west-1_AbC123"),
            ("COGNITO_CLIENT_IDS", "abc"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = pool.to_vec();
            all.extend_from_slice(extra);
            all
        };
        // Either one unset: off, and nothing else changes.
        assert!(
            settings(&with(&[("COGNITO_DOMAIN", "https://auth.example.com")]))
                .unwrap()
                .web
                .is_none()
        );
        assert!(
            settings(&with(&[("COGNITO_WEB_CLIENT_ID", "7abc")]))
                .unwrap()
                .web
                .is_none()
        );
        let on = [
            ("COGNITO_DOMAIN", "https://auth.example.com/"),
            ("COGNITO_WEB_CLIENT_ID", "7abc"),
            ("PUBLIC_URL", "https://app.example.com"),
        ];
        let web = settings(&with(&on)).unwrap().web.unwrap();
        assert_eq!(web.domain, "https://auth.example.com");
        assert_eq!(web.redirect_uri(), "https://app.example.com/auth/callback");
        assert_eq!(web.logout_uri(), "https://app.example.com/auth/signed-out");
        assert_eq!(web.scopes, "openid email profile");
        assert!(web.client_secret.is_none());
        assert_eq!(
            (web.idle_timeout.as_secs(), web.max_age.as_secs()),
            (86_400, 604_800)
        );

        assert_eq!(err(&with(&on[..2])).var, "PUBLIC_URL");
        assert_eq!(err(&on).var, "COGNITO_DOMAIN", "needs the pool");
        for (var, bad) in [
            ("PUBLIC_URL", "https://app.example.com/app"),
            ("PUBLIC_URL", "http://app.example.com"),
            ("PUBLIC_URL", "https://user:pw@app.example.com"),
            ("COGNITO_DOMAIN", "http://auth.example.com"),
            ("COGNITO_DOMAIN", "auth.example.com"),
            ("COGNITO_WEB_CLIENT_ID", "7abc/../x"),
            ("COGNITO_WEB_SCOPES", "email profile"),
            ("COGNITO_WEB_SCOPES", "openid \"x"),
            ("WEB_SESSION_IDLE_TIMEOUT_SECONDS", "700000"),
        ] {
            let mut all = with(&on);
            all.retain(|(k, _)| *k != var);
            all.push((var, bad));
            assert_eq!(err(&all).var, var, "{var}={bad}");
        }
        // Plain HTTP for a local setup in development.
        let mut dev = with(&[
            ("GATEHOUSE_ENV", "development"),
            ("COGNITO_DOMAIN", "http://localhost:9229"),
            ("COGNITO_WEB_CLIENT_ID", "7abc"),
            ("PUBLIC_URL", "http://localhost:8080"),
            (
                "COGNITO_WEB_SCOPES",
                "openid  aws.cognito.signin.user.admin",
            ),
        ]);
        dev.push(("WEB_SESSION_IDLE_TIMEOUT_SECONDS", "600"));
        let web = settings(&dev).unwrap().web.unwrap();
        assert_eq!(web.public_url, "http://localhost:8080");
        assert_eq!(web.scopes, "openid aws.cognito.signin.user.admin");
        assert_eq!(web.idle_timeout.as_secs(), 600);
    }

    #[test]
    fn short_secret_key_is_refused_by_name() {
        let e = err(&[("SECRET_KEY", "too-short")]);
        assert_eq!(e.var, "SECRET_KEY");
        assert!(e.to_string().starts_with("SECRET_KEY: must be at least 32"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("DATABASE_URL", "mysql://x/y"),
            ("DATABASE_URL", "not a url"),
            ("DATABASE_URL", "postgres://localhost:5432"),
            ("DATABASE_POOL_SIZE", "0"),
            ("DATABASE_POOL_SIZE", "ten"),
            ("BIND", "localhost"),
            ("COOKIE_SECURE", "maybe"),
            ("GATEHOUSE_ENV", "staging"),
            ("LOG_FORMAT", "xml"),
            ("RUST_LOG", "foo=[[["),
            ("API_READ_SCOPE", "two scopes"),
        ] {
            assert_eq!(err(&[(var, value)]).var, var, "{var}={value}");
        }
    }

    #[test]
    fn database_url_error_never_echoes_the_password() {
        let e = err(&[("DATABASE_URL", "mysql://u:hunter2hunter2@db/x")]);
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn cognito_issuer_is_derived_from_the_pool_id() {
        let s = settings(&[
            ("COGNITO_USER_POOL_ID", "eu-west-1_AbC123"),
            ("COGNITO_CLIENT_IDS", "client-a, client-b"),
        ])
        .unwrap();
        let c = s.cognito.expect("configured");
        assert_eq!(
            c.issuers,
            ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"]
        );
        assert_eq!(
            c.jwks_url.as_str(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json"
        );
        assert_eq!(
            c.client_ids,
            ClientIds::List(vec!["client-a".into(), "client-b".into()])
        );
        assert_eq!(c.token_use, TokenUse::Access);
        assert_eq!(c.leeway, Duration::ZERO);
    }

    #[test]
    fn cognito_needs_client_ids_and_only_a_lone_star_means_any() {
        assert_eq!(
            err(&[("COGNITO_USER_POOL_ID", "eu-west-1_AbC123")]).var,
            "COGNITO_CLIENT_IDS"
        );
        assert_eq!(
            err(&[
                ("COGNITO_USER_POOL_ID", "eu-west-1_AbC123"),
                ("COGNITO_CLIENT_IDS", "a,*")
            ])
            .var,
            "COGNITO_CLIENT_IDS"
        );
        let s = settings(&[
            ("COGNITO_USER_POOL_ID", "eu-west-1_AbC123"),
            ("COGNITO_CLIENT_IDS", "*"),
        ])
        .unwrap();
        assert_eq!(s.cognito.unwrap().client_ids, ClientIds::Any);
    }

    #[test]
    fn cognito_values_are_checked() {
        let base = [
            ("COGNITO_USER_POOL_ID", "eu-west-1_AbC123"),
            ("COGNITO_CLIENT_IDS", "c"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = base.to_vec();
            v.push(extra);
            err(&v).var
        };
        assert_eq!(with(("COGNITO_TOKEN_USE", "refresh")), "COGNITO_TOKEN_USE");
        for days in ["0", "3651", "-1", "thirty"] {
            assert_eq!(
                with(("COGNITO_REFRESH_TOKEN_DAYS", days)),
                "COGNITO_REFRESH_TOKEN_DAYS"
            );
        }
        assert_eq!(with(("COGNITO_REGION", "us-east-1")), "COGNITO_REGION");
        assert_eq!(
            with(("COGNITO_JWKS_URL", "ftp://x/jwks")),
            "COGNITO_JWKS_URL"
        );
        assert_eq!(
            with(("COGNITO_LEEWAY_SECONDS", "-1")),
            "COGNITO_LEEWAY_SECONDS"
        );
        assert_eq!(
            err(&[("COGNITO_USER_POOL_ID", "mypool")]).var,
            "COGNITO_USER_POOL_ID"
        );
        assert_eq!(
            err(&[("COGNITO_CLIENT_IDS", "x")]).var,
            "COGNITO_CLIENT_IDS"
        );
    }

    #[test]
    fn emulator_issuers_are_taken_as_given() {
        let s = settings(&[
            ("GATEHOUSE_ENV", "development"),
            (
                "COGNITO_ISSUER",
                "http://localhost:9229/local_abc/, https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
            ),
            ("COGNITO_CLIENT_IDS", "c"),
            ("COGNITO_TOKEN_USE", "any"),
        ])
        .unwrap();
        let c = s.cognito.unwrap();
        assert_eq!(c.issuers.len(), 2);
        assert_eq!(c.issuers[0], "http://localhost:9229/local_abc");
        assert_eq!(
            c.jwks_url.as_str(),
            "http://localhost:9229/local_abc/.well-known/jwks.json"
        );
    }

    #[test]
    fn plain_http_keys_and_issuers_only_in_development() {
        let https = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X";
        for (var, value) in [
            ("COGNITO_ISSUER", "http://localhost:9229/local_abc"),
            ("COGNITO_JWKS_URL", "http://127.0.0.1:9229/jwks.json"),
        ] {
            let mut pairs = vec![("COGNITO_ISSUER", https), ("COGNITO_CLIENT_IDS", "c")];
            pairs.retain(|(k, _)| *k != var);
            pairs.push((var, value));
            let e = err(&pairs);
            assert_eq!(e.var, var, "{var}={value}");
            assert!(e.reason.contains("https://"), "{e}");
            pairs.push(("GATEHOUSE_ENV", "development"));
            assert!(settings(&pairs).is_ok(), "{var}={value} in development");
        }
        // The JWKS URL derived from an http:// issuer is refused under the issuer's name.
        let e = err(&[
            ("COGNITO_ISSUER", "http://localhost:9229/local_abc"),
            ("COGNITO_CLIENT_IDS", "c"),
        ]);
        assert_eq!(e.var, "COGNITO_ISSUER");
    }

    #[test]
    fn jwks_refetches_are_always_rate_limited() {
        for env in ["production", "development"] {
            let e = err(&[
                ("GATEHOUSE_ENV", env),
                ("COGNITO_USER_POOL_ID", "eu-west-1_AbC123"),
                ("COGNITO_CLIENT_IDS", "c"),
                ("COGNITO_JWKS_MIN_REFETCH_SECONDS", "0"),
            ]);
            assert_eq!(e.var, "COGNITO_JWKS_MIN_REFETCH_SECONDS", "{env}");
        }
    }

    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        assert!(settings(&[]).unwrap().trusted_proxies.is_empty());
        let s = settings(&[(
            "TRUSTED_PROXIES",
            "10.0.0.0/8, 192.168.1.7 ,fd00::/8,2001:db8::1,10.1.2.3/16",
        )])
        .unwrap();
        let nets: Vec<String> = s.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            [
                "10.0.0.0/8",
                "192.168.1.7/32",
                "fd00::/8",
                "2001:db8::1/128",
                "10.1.0.0/16"
            ]
        );
        for bad in [
            "10.0.0.0/33",
            "proxy.internal",
            "10.0.0.0/8;fd00::/8",
            "::/129",
        ] {
            let e = err(&[("TRUSTED_PROXIES", bad)]);
            assert_eq!(e.var, "TRUSTED_PROXIES", "{bad}");
            assert!(e.to_string().contains("CIDR"), "{e}");
        }
    }

    #[test]
    fn idle_timeout_cannot_outlive_the_session() {
        let e = err(&[
            ("SESSION_IDLE_TIMEOUT_SECONDS", "7200"),
            ("SESSION_MAX_AGE_SECONDS", "3600"),
        ]);
        assert_eq!(e.var, "SESSION_IDLE_TIMEOUT_SECONDS");
    }
}
