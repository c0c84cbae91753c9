//! Who is calling over HTTP, and sign-in sessions: a bearer token (`Authorization: Bearer glt_…`), a session cookie from `POST /session`, or a verified client certificate, each checked against the principals in force; and the role an endpoint needs, from the access table the gRPC layer applies (docs/security.md#http).
//!
//! A session is a random id (32 bytes from the operating system, in the cookie
//! `gridledger_session`: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` over TLS) that
//! the server maps, in memory, to the token it was opened with and an expiry
//! ([`SESSION_LIFETIME`]). The cookie is never the token, and no token ever travels in a
//! URL. Every request made with the cookie authenticates that token again against the
//! principals in force, so a revoked or replaced token ends its sessions at the next
//! reload of the principals file, exactly as it stops working over gRPC. Sessions do not
//! survive a restart of the server.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::Code;

use super::HttpContext;
use super::render::{json_response, with_api_headers};
use crate::auth::{AuthError, Principal, access_rule};
use crate::error::{HttpError, ServiceError};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "gridledger_session";
/// How long a session lasts after sign-in, however it is used.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions held at once; beyond it the one closest to its expiry is dropped.
const MAX_SESSIONS: usize = 10_000;
/// Random bytes in a session id.
const SESSION_ID_BYTES: usize = 32;

const NO_CREDENTIALS: &str =
    "no credentials: send `Authorization: Bearer glt_<id>_<secret>`, or sign in (POST /session) for a session cookie";
const MALFORMED_AUTHORIZATION: &str = "malformed token: expected `Authorization: Bearer glt_<id>_<secret>`";
const SESSION_ENDED: &str = "the session has expired or was signed out: sign in again";
const SESSION_TOKEN_REVOKED: &str =
    "the session's token was revoked or replaced (invalid or revoked token): sign in again";
const UNKNOWN_CERTIFICATE: &str = "the client certificate's subject CN names no principal in force";
const CERTIFICATE_WITHOUT_CN: &str = "the client certificate has no subject CN naming a principal";

/// The verified client certificate of the connection a request came on (mutual TLS): its
/// subject CN, if it has one. The listener puts it into each request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ClientCertificate {
    pub(crate) common_name: Option<String>,
}

struct Session {
    token: String,
    expires: Instant,
    expires_at: SystemTime,
}

/// The signed-in sessions, by the SHA-256 of their id.
#[derive(Default)]
pub(crate) struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner).len();
        formatter.debug_struct("Sessions").field("open", &count).finish()
    }
}

fn session_key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session for `token` (already authenticated); its id, for the cookie, and
    /// when it expires.
    fn open(&self, token: &str) -> Result<(String, SystemTime), HttpError> {
        let mut bytes = [0_u8; SESSION_ID_BYTES];
        rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|error| {
            HttpError::new(
                Code::Unavailable,
                format!("cannot draw a session id from the operating system: {error}"),
                None,
            )
        })?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let expires_at = SystemTime::now() + SESSION_LIFETIME;
        let mut sessions = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|_, session| session.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(key, _)| *key)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            session_key(&id),
            Session {
                token: token.to_owned(),
                expires: now + SESSION_LIFETIME,
                expires_at,
            },
        );
        Ok((id, expires_at))
    }

    /// The token of a live session, and when the session expires; an expired one is dropped.
    fn token(&self, id: &str) -> Option<(String, SystemTime)> {
        let key = session_key(id);
        let mut sessions = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        match sessions.get(&key) {
            Some(session) if session.expires > Instant::now() => Some((session.token.clone(), session.expires_at)),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    fn close(&self, id: &str) {
        self.by_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&session_key(id));
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Via {
    Token,
    Session,
    Certificate,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
struct Caller {
    principal: Arc<Principal>,
    via: Via,
    session_expires_at: Option<SystemTime>,
}

fn unauthenticated(reason: &'static str) -> HttpError {
    HttpError::from(ServiceError::Auth(AuthError::Unauthenticated { reason }))
}

/// The values of the cookie `name` in the request's `Cookie` headers.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then_some(value.trim())
        })
}

/// The caller, with `--auth`: its bearer token, else its session cookie, else its client
/// certificate; `Ok(None)` without `--auth` (everything is open, on loopback only).
fn caller(context: &HttpContext, headers: &HeaderMap, extensions: &Extensions) -> Result<Option<Caller>, HttpError> {
    let Some(auth) = &context.auth else {
        return Ok(None);
    };
    let principals = auth.principals();
    let mut authorizations = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() {
            return Err(unauthenticated(MALFORMED_AUTHORIZATION));
        }
        let token = value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthenticated(MALFORMED_AUTHORIZATION))?;
        let principal = principals
            .authenticate_token(token)
            .map_err(|error| HttpError::from(ServiceError::Auth(error)))?;
        return Ok(Some(Caller {
            principal,
            via: Via::Token,
            session_expires_at: None,
        }));
    }
    if let Some(id) = cookies(headers, SESSION_COOKIE).next() {
        let (token, expires_at) = context
            .sessions
            .token(id)
            .ok_or_else(|| unauthenticated(SESSION_ENDED))?;
        let principal = principals.authenticate_token(&token).map_err(|_| {
            context.sessions.close(id);
            unauthenticated(SESSION_TOKEN_REVOKED)
        })?;
        return Ok(Some(Caller {
            principal,
            via: Via::Session,
            session_expires_at: Some(expires_at),
        }));
    }
    if let Some(certificate) = extensions.get::<ClientCertificate>() {
        let common_name = certificate
            .common_name
            .as_deref()
            .ok_or_else(|| unauthenticated(CERTIFICATE_WITHOUT_CN))?;
        let principal = principals
            .by_id(common_name)
            .ok_or_else(|| unauthenticated(UNKNOWN_CERTIFICATE))?;
        return Ok(Some(Caller {
            principal,
            via: Via::Certificate,
            session_expires_at: None,
        }));
    }
    Err(unauthenticated(NO_CREDENTIALS))
}

/// An endpoint of the read API and the RPCs whose rows of the access table admit callers
/// to it: a principal whose role may call any one of them may call the endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint {
    /// `GET /api/v1/stats`, for messages.
    pub(crate) name: &'static str,
    /// `(service, method)` of each RPC.
    pub(crate) rpcs: &'static [(&'static str, &'static str)],
}

/// The authenticated principal of a request to `endpoint`, admitted by its role; `None`
/// without `--auth`. Scopes are checked afterwards, by the shared read functions, exactly
/// as for gRPC.
pub(crate) fn admit(
    context: &HttpContext,
    headers: &HeaderMap,
    extensions: &Extensions,
    endpoint: &Endpoint,
) -> Result<Option<Arc<Principal>>, HttpError> {
    let Some(caller) = caller(context, headers, extensions)? else {
        return Ok(None);
    };
    let principal = caller.principal;
    // No RPC named: any principal in force may call it.
    if endpoint.rpcs.is_empty() {
        return Ok(Some(principal));
    }
    let rows: Vec<_> = endpoint
        .rpcs
        .iter()
        .filter_map(|(service, method)| access_rule(service, method))
        .collect();
    if rows.iter().any(|access| access.allows(principal.role)) {
        return Ok(Some(principal));
    }
    let mut roles: Vec<&str> = Vec::new();
    for access in &rows {
        for role in access.roles {
            if !roles.contains(&role.as_str()) {
                roles.push(role.as_str());
            }
        }
    }
    let rpcs: Vec<String> = endpoint
        .rpcs
        .iter()
        .map(|(service, method)| format!("{service}/{method}"))
        .collect();
    Err(HttpError::from(ServiceError::Auth(AuthError::denied(format!(
        "principal {principal} may not call {} ({}): it is for {}",
        endpoint.name,
        rpcs.join(" or "),
        roles.join(", ")
    )))))
}

/// A principal as `/session` shows it.
#[derive(Debug, Serialize)]
struct PrincipalView {
    id: String,
    role: &'static str,
    scopes: Vec<String>,
}

/// The answer of `/session`: whether the server authenticates at all, and who the
/// caller is.
#[derive(Debug, Serialize)]
struct SessionView {
    auth: bool,
    principal: Option<PrincipalView>,
    /// How the caller was authenticated: `token`, `session` or `certificate`.
    via: Option<Via>,
    /// When the session ends (RFC 3339), for a session.
    expires_at: Option<String>,
    /// Why there is no principal, when credentials were sent but refused.
    reason: Option<String>,
}

fn rfc3339(time: SystemTime) -> String {
    let micros = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    gridledger_domain::Timestamp::from_unix_micros(micros).to_string()
}

fn view_of(caller: Option<Caller>, auth: bool, reason: Option<String>) -> SessionView {
    SessionView {
        auth,
        principal: caller.as_ref().map(|caller| PrincipalView {
            id: caller.principal.id.clone(),
            role: caller.principal.role.as_str(),
            scopes: caller
                .principal
                .scopes
                .iter()
                .map(|scope| scope.as_str().to_owned())
                .collect(),
        }),
        via: caller.as_ref().map(|caller| caller.via),
        expires_at: caller.and_then(|caller| caller.session_expires_at).map(rfc3339),
        reason,
    }
}

/// `GET /session`: who the caller is (200 in every case, `principal: null` when nobody
/// is signed in).
pub(crate) async fn current(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    let auth = context.auth.is_some();
    let view = match caller(&context, request.headers(), request.extensions()) {
        Ok(caller) => view_of(caller, auth, None),
        Err(error) if error.code == "UNAUTHENTICATED" => view_of(None, auth, Some(error.message)),
        Err(error) => return error.into_response(),
    };
    json_response(StatusCode::OK, &view)
}

/// The body of `POST /session`, as a form or as JSON.
#[derive(Debug, Deserialize)]
struct SignIn {
    token: String,
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// Refuses a sign-in or sign-out sent by a page of another origin (a browser says where a
/// form or a script comes from in `Origin`; tools such as curl send none).
fn require_same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), HttpError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()));
    let origin_authority = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority);
    match (origin_authority, host) {
        (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(HttpError::from(ServiceError::Auth(AuthError::denied(
            "a session is opened and closed only by pages of this server's own origin",
        )))),
    }
}

fn session_cookie(id: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

fn cleared_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

fn set_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// `POST /session` with `token` (a form field or a JSON member): opens a session and sets
/// its cookie. A form is answered with a redirect to the dashboard, JSON with who signed in.
pub(crate) async fn sign_in(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    match open_session(&context, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn open_session(context: &HttpContext, request: Request) -> Result<Response, HttpError> {
    require_same_origin(request.headers(), request.uri())?;
    let Some(auth) = &context.auth else {
        return Ok(json_response(StatusCode::OK, &view_of(None, false, None)));
    };
    let form = is_form(request.headers());
    let bad_body =
        |reason: String| HttpError::new(Code::InvalidArgument, format!("invalid token: {reason}"), Some("token"));
    let sign_in = if form {
        axum::Form::<SignIn>::from_request(request, &())
            .await
            .map(|axum::Form(sign_in)| sign_in)
            .map_err(|rejection| bad_body(rejection.body_text()))?
    } else {
        Json::<SignIn>::from_request(request, &())
            .await
            .map(|Json(sign_in)| sign_in)
            .map_err(|rejection| bad_body(rejection.body_text()))?
    };
    let token = sign_in.token.trim();
    let principal = auth
        .principals()
        .authenticate_token(token)
        .map_err(|error| HttpError::from(ServiceError::Auth(error)))?;
    let (id, expires_at) = context.sessions.open(token)?;
    tracing::info!(principal = %principal.id, "signed in over HTTP");
    let response = if form {
        with_api_headers(Redirect::to("/").into_response())
    } else {
        let caller = Caller {
            principal,
            via: Via::Session,
            session_expires_at: Some(expires_at),
        };
        json_response(StatusCode::OK, &view_of(Some(caller), true, None))
    };
    Ok(set_cookie(response, &session_cookie(&id, context.tls)))
}

/// `POST /session/logout` or `DELETE /session`: closes the session and clears its cookie
/// (a form is answered with a redirect to the dashboard, anything else with 204).
pub(crate) async fn sign_out(State(context): State<Arc<HttpContext>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(error) = require_same_origin(&headers, &uri) {
        return error.into_response();
    }
    for id in cookies(&headers, SESSION_COOKIE) {
        context.sessions.close(id);
    }
    let response = if is_form(&headers) {
        Redirect::to("/").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    set_cookie(with_api_headers(response), &cleared_cookie(context.tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_map_a_random_id_to_the_token_until_closed() {
        let sessions = Sessions::default();
        let (first, _) = sessions.open("glt_a_token").expect("a session");
        let (second, _) = sessions.open("glt_a_token").expect("a session");
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        assert!(!first.contains("glt_"));
        assert_eq!(
            sessions.token(&first).map(|(token, _)| token).as_deref(),
            Some("glt_a_token")
        );
        sessions.close(&first);
        assert!(sessions.token(&first).is_none());
        assert!(sessions.token(&second).is_some());
        assert!(sessions.token("not-a-session").is_none());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("theme=dark; gridledger_session=abc"));
        headers.append(COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(cookies(&headers, SESSION_COOKIE).collect::<Vec<_>>(), ["abc"]);
        assert!(session_cookie("abc", true).ends_with("; Secure"));
        assert!(session_cookie("abc", false).contains("HttpOnly; SameSite=Strict"));
    }
}
