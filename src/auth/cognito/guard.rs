//! The API's door: bearer token → verified claims → a service (machine-to-machine token, no local
//! row) or a local user (created on first use) → checks that Cognito itself cannot make
//! (revocation, deactivation).

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::DateTime;
use diesel_async::AsyncPgConnection;
use futures_util::future::{Either, LocalBoxFuture};

use super::error::AuthError;
use super::provisioning::{self, Identity, Profile};
use super::verify::{Claims, Verifier};
use crate::auth::web::{WebAuth, session};
use crate::config::CognitoSettings;
use crate::db;
use crate::error::ApiError;
use crate::models::{TokenSignIn, User};
use crate::state::AppState;

/// Who presented a valid token: a person (a local user) or a service (a machine-to-machine
/// token, which never has a local user). Handlers that need a person take [`CognitoUser`], whose
/// extraction refuses a service with 403 `user_required`; handlers open to services take this.
#[derive(Clone)]
pub enum Caller {
    Person(CognitoUser),
    Service(ServiceClient),
}

impl Caller {
    /// People may read; a service only with `scope` in its token (403 `insufficient_scope`).
    pub fn require_read_scope(&self, scope: &str) -> Result<(), ApiError> {
        match self {
            Caller::Person(_) => Ok(()),
            Caller::Service(service) => service.require_scope(scope),
        }
    }
}

/// The authenticated app user: the local row and the verified token claims.
#[derive(Clone)]
pub struct CognitoUser {
    pub user: User,
    pub claims: Arc<Claims>,
    /// The web session, when the request was authenticated by its cookie instead of a bearer
    /// token (the claims are then the session's access token's).
    pub web_session: Option<uuid::Uuid>,
}

/// An app client authenticated by a `client_credentials` access token: only its id and scopes.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl ServiceClient {
    fn from_claims(claims: &Claims) -> Self {
        ServiceClient {
            client_id: claims.sub.clone(),
            scopes: claims
                .scope
                .as_deref()
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// 403 `insufficient_scope` unless the token granted `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(scope.to_owned()).into())
        }
    }
}

impl CognitoUser {
    /// 403 `forbidden_group` unless the token lists `group` in `cognito:groups`.
    pub fn require_group(&self, group: &str) -> Result<(), ApiError> {
        if self.claims.groups().iter().any(|g| g == group) {
            Ok(())
        } else {
            Err(AuthError::ForbiddenGroup(group.to_owned()).into())
        }
    }

    /// 403 `insufficient_scope` unless the token's `scope` grants `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.claims.has_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(scope.to_owned()).into())
        }
    }
}

type Extracted<T> =
    Either<Ready<Result<T, ApiError>>, LocalBoxFuture<'static, Result<T, ApiError>>>;

/// Inside the guarded scope the middleware has already done the work; anywhere else the extractor
/// authenticates by itself, so using it can never open a route.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(caller) = req.extensions().get::<Caller>().cloned() {
            return Either::Left(ready(Ok(caller)));
        }
        let req = req.clone();
        Either::Right(Box::pin(async move {
            authenticate(&req).await.map_err(refused)
        }))
    }
}

/// A person only: a service token is refused with 403 `user_required`.
impl FromRequest for CognitoUser {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        fn person(caller: Caller) -> Result<CognitoUser, ApiError> {
            match caller {
                Caller::Person(user) => Ok(user),
                Caller::Service(_) => Err(refused(AuthError::UserRequired)),
            }
        }
        match Caller::from_request(req, payload) {
            Either::Left(ready_caller) => {
                Either::Left(ready(ready_caller.into_inner().and_then(person)))
            }
            Either::Right(future) => {
                Either::Right(Box::pin(async move { future.await.and_then(person) }))
            }
        }
    }
}

/// Scope middleware: every route behind it requires a valid token (deny by default).
pub async fn require_cognito_user(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match authenticate(req.request()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_left_body())
        }
        // Answered here rather than raised, so the outer middleware sees a response it can tag.
        Err(e) => Ok(req.error_response(refused(e)).map_into_right_body()),
    }
}

/// Logs why (never the token) and turns the refusal into the API error response.
fn refused(e: AuthError) -> ApiError {
    match &e {
        AuthError::MissingToken => tracing::debug!(code = %e.code(), "bearer token refused"),
        AuthError::Database(db) => tracing::warn!(error = %db, "authentication needs the database"),
        _ => tracing::info!(code = %e.code(), reason = %e.message(), "bearer token refused"),
    }
    e.into()
}

/// The bearer token of the request. A non-Bearer scheme counts as no bearer credentials.
pub fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let mut values = req.headers().get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("the header is not printable ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::InvalidRequest("no token after Bearer"));
    }
    if token.contains(char::is_whitespace) {
        return Err(AuthError::InvalidRequest("the token contains whitespace"));
    }
    Ok(token)
}

/// A bearer token when the request has one; else the web session cookie (when web sign-in is
/// configured and the request carries it).
pub async fn authenticate(req: &HttpRequest) -> Result<Caller, AuthError> {
    let (Some(state), Some(verifier)) = (
        req.app_data::<web::Data<AppState>>(),
        req.app_data::<web::Data<Verifier>>(),
    ) else {
        return Err(AuthError::CognitoNotConfigured);
    };
    let token = match bearer_token(req) {
        Err(AuthError::MissingToken) => {
            if let Some(web) = req.app_data::<web::Data<WebAuth>>()
                && let Some(secret) = web.session_secret(req)
            {
                let signed_in = session::for_api(req, web, state, &secret).await?;
                return Ok(Caller::Person(CognitoUser {
                    user: signed_in.user,
                    claims: Arc::new(signed_in.claims),
                    web_session: Some(signed_in.session.id),
                }));
            }
            return Err(AuthError::MissingToken);
        }
        other => other?,
    };
    let claims = verifier.verify(token).await?;
    if claims.is_machine_token() {
        // No person behind it: nothing to provision, revoke or deactivate.
        return Ok(Caller::Service(ServiceClient::from_claims(&claims)));
    }
    let mut conn = db::connection(&state.pool).await?;
    let user = local_user(&mut conn, &claims, verifier.settings()).await?;
    Ok(Caller::Person(CognitoUser {
        user,
        claims: Arc::new(claims),
        web_session: None,
    }))
}

/// Finds (or provisions) the user and applies the local checks, in one round trip when the user
/// exists: the revocation checks ride along in the same statement. A missing user is created
/// only after the same checks.
async fn local_user(
    conn: &mut AsyncPgConnection,
    claims: &Claims,
    settings: &CognitoSettings,
) -> Result<User, AuthError> {
    let token = TokenSignIn {
        sub: &claims.sub,
        // Tokens without any jti can never be listed (logout refuses them), so "" matches nothing.
        session_id: claims.session_id().unwrap_or(""),
        // A token that does not say when its sign-in happened predates every sign-out.
        signed_in: claims.signed_in_at().unwrap_or(DateTime::UNIX_EPOCH),
    };
    let user = match User::for_token(conn, &token).await? {
        Some((_, true)) => return Err(AuthError::TokenRevoked),
        Some((user, false)) => user,
        None if settings.create_users => {
            if User::token_revoked(conn, &token).await? {
                return Err(AuthError::TokenRevoked);
            }
            provisioning::find_or_create(conn, &Identity::from_claims(claims)).await?
        }
        None => return Err(AuthError::UserNotProvisioned),
    };
    if !user.is_active {
        return Err(AuthError::UserInactive);
    }
    if claims.is_id_token() {
        // Cognito has no hook for attribute edits; id tokens carry the current values.
        return Ok(provisioning::sync_profile(conn, user, &Profile::from_claims(claims)).await?);
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    fn caller(groups: Option<Vec<&str>>, scope: Option<&str>) -> CognitoUser {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "sub": "s", "iss": "i", "exp": 1, "token_use": "access",
            "cognito:groups": groups, "scope": scope,
        }))
        .unwrap();
        let now = chrono::Utc::now();
        CognitoUser {
            user: User {
                id: crate::models::new_id(),
                username: "u".into(),
                email: String::new(),
                password_hash: None,
                cognito_sub: Some("s".into()),
                email_verified: false,
                first_name: String::new(),
                last_name: String::new(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
                last_login: None,
                session_epoch: 0,
                created_at: now,
                updated_at: now,
            },
            claims: Arc::new(claims),
            web_session: None,
        }
    }

    #[actix_web::test]
    async fn a_service_is_never_a_cognito_user() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        req.extensions_mut()
            .insert(Caller::Service(ServiceClient::from_claims(
                &serde_json::from_value(serde_json::json!({
                    "sub": "client", "iss": "i", "exp": 1, "token_use": "access",
                    "client_id": "client", "scope": "a/read  b/write",
                }))
                .unwrap(),
            )));
        let err = CognitoUser::extract(&req).await.err().unwrap();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (403, "user_required")
        );
        let caller = Caller::extract(&req).await.ok().unwrap();
        assert!(caller.require_read_scope("a/read").is_ok());
        let err = caller.require_read_scope("a").unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (403, "insufficient_scope")
        );
        let person = Caller::Person(self::caller(None, None));
        assert!(person.require_read_scope("a/read").is_ok());
    }

    #[test]
    fn group_guard() {
        let editor = caller(Some(vec!["editors"]), None);
        assert!(editor.require_group("editors").is_ok());
        let err = editor.require_group("admins").unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (403, "forbidden_group")
        );
        let nobody = caller(None, None);
        assert_eq!(
            nobody.require_group("editors").unwrap_err().code,
            "forbidden_group"
        );
    }

    #[test]
    fn scope_guard_answers_rfc_6750_insufficient_scope() {
        let caller = caller(None, Some("openid profile articles/write"));
        assert!(caller.require_scope("articles/write").is_ok());
        assert!(
            caller.require_scope("articles").is_err(),
            "whole scopes only"
        );
        let err = caller.require_scope("articles/admin").unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (403, "insufficient_scope")
        );
        let response = err.error_response();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(
            challenge.contains(r#"scope="articles/admin""#),
            "{challenge}"
        );
    }
}
