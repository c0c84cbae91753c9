//! [`AuthLayer`]: the one tower layer in front of every service. It sees the method path,
//! which an interceptor does not, so role x method is decided here, from
//! [`ACCESS_TABLE`](super::ACCESS_TABLE), before any service runs.
//!
//! For each call to a method that is not open (health and reflection are):
//! 1. authenticate: `authorization: Bearer glt_<id>_<secret>`, or else the subject CN of a
//!    client certificate verified by mutual TLS; otherwise UNAUTHENTICATED;
//! 2. the method's row must admit the principal's role; otherwise PERMISSION_DENIED (and
//!    each command of a `SubmitCommands` stream again, by the row of its unary RPC:
//!    [`authorize_streamed_command`]);
//! 3. a whole-log method needs scopes covering every district of the registry;
//! 4. the actor is the principal: an `x-gridledger-actor` header naming someone else is
//!    PERMISSION_DENIED, and the header is set to the principal's id;
//! 5. the [`Principal`] goes into the request's extensions for the services' scope checks.
//!
//! A refusal's response carries an [`AuthFailure`] in its extensions, saying why in a few
//! fixed words, for the metrics layer in front of this one (the client is told no more
//! than before: an invalid token is `invalid or revoked token` whether its id is known or
//! not).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gridledger_api::ACTOR_METADATA_KEY;
use gridledger_domain::CommandKind;
use tonic::codegen::Service;
use tonic::codegen::http::{self, HeaderValue, header::AUTHORIZATION};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower_layer::Layer;

use super::AuthError;
use super::principals::{MALFORMED_TOKEN, Principal, PrincipalSet};
use super::reload::AuthState;
use super::scope::Authenticated;
use super::table::{Access, ISSUE_SERVICE, PathAccess, ScopeRule, access_rule, path_access};
use super::token::parse_token;

const NO_CREDENTIALS: &str =
    "no credentials: send `authorization: Bearer glt_<id>_<secret>`, or a client certificate over mutual TLS";
const UNKNOWN_CERTIFICATE: &str = "the client certificate's subject CN names no principal in force";
const CERTIFICATE_WITHOUT_CN: &str = "the client certificate has no subject CN naming a principal";

/// Why a call was refused by access control, in a few fixed words (the label of
/// `gridledger_auth_failures_total`, docs/operations.md#metrics). The layer puts one into
/// the extensions of each refusal's response; PERMISSION_DENIED answered by a service (a
/// scope checked once the issue or the filter is known) carries none and is
/// [`AuthFailure::ScopeDenied`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AuthFailure {
    /// Neither a bearer token nor a client certificate.
    NoCredentials,
    /// An `authorization` header that is not `Bearer glt_<id>_<secret>` (or several), or a
    /// client certificate without a subject CN.
    Malformed,
    /// A well-formed token, or a certificate's CN, naming no principal in force.
    UnknownPrincipal,
    /// A token naming a principal in force, with the wrong secret.
    WrongSecret,
    /// The principal's role may not call the method (or no role may).
    RoleDenied,
    /// Outside the principal's scopes (a whole-log method, or a service's scope check).
    ScopeDenied,
    /// `x-gridledger-actor` names someone other than the principal.
    ActorMismatch,
}

impl AuthFailure {
    /// Every reason, in the order of docs/operations.md.
    pub(crate) const ALL: [AuthFailure; 7] = [
        AuthFailure::NoCredentials,
        AuthFailure::Malformed,
        AuthFailure::UnknownPrincipal,
        AuthFailure::WrongSecret,
        AuthFailure::RoleDenied,
        AuthFailure::ScopeDenied,
        AuthFailure::ActorMismatch,
    ];

    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            AuthFailure::NoCredentials => "no_credentials",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownPrincipal => "unknown_principal",
            AuthFailure::WrongSecret => "wrong_secret",
            AuthFailure::RoleDenied => "role_denied",
            AuthFailure::ScopeDenied => "scope_denied",
            AuthFailure::ActorMismatch => "actor_mismatch",
        }
    }
}

/// A refusal and why, in the words of [`AuthFailure`].
type Refusal = (AuthError, AuthFailure);

/// The access-control layer; without `--auth` it lets everything through unchanged.
#[derive(Debug, Clone, Default)]
pub struct AuthLayer {
    state: Option<Arc<AuthState>>,
}

impl AuthLayer {
    /// A layer that checks nothing (a server without `--auth`).
    pub fn disabled() -> Self {
        AuthLayer { state: None }
    }

    pub(crate) fn enabled(state: Arc<AuthState>) -> Self {
        AuthLayer { state: Some(state) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Option<Arc<AuthState>>,
}

type BoxedFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for AuthService<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResponseBody: Default + Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxedFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        if let Some(state) = &self.state
            && let Err((refusal, failure)) = state.authorize(&mut request)
        {
            let mut response = tonic::Status::from(refusal).into_http::<ResponseBody>();
            response.extensions_mut().insert(failure);
            return Box::pin(std::future::ready(Ok(response)));
        }
        Box::pin(self.inner.call(request))
    }
}

impl AuthState {
    /// Steps 1-5 of the module's documentation; the request is changed only when admitted.
    fn authorize<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal> {
        let access = match path_access(request.uri().path()) {
            PathAccess::Open => return Ok(()),
            PathAccess::Rule(access) => Some(access),
            PathAccess::Unlisted => None,
        };
        let principal = self.authenticate(request)?;
        let Some(access) = access else {
            return Err((unlisted(request.uri().path()), AuthFailure::RoleDenied));
        };
        require_role(&principal, access).map_err(|error| (error, AuthFailure::RoleDenied))?;
        if access.scope == ScopeRule::WholeLog {
            self.require_whole_log(&principal, access)
                .map_err(|error| (error, AuthFailure::ScopeDenied))?;
        }
        let actor = HeaderValue::from_str(&principal.id).map_err(|_| {
            (
                AuthError::denied("the principal's id cannot travel in a header"),
                AuthFailure::ActorMismatch,
            )
        })?;
        if let Some(named) = request.headers().get(ACTOR_METADATA_KEY)
            && named != actor
        {
            return Err((
                AuthError::denied(format!(
                    "{ACTOR_METADATA_KEY} names {:?}, but the caller is principal {}: with authentication the actor is the principal",
                    String::from_utf8_lossy(named.as_bytes()),
                    principal.id
                )),
                AuthFailure::ActorMismatch,
            ));
        }
        request.headers_mut().insert(ACTOR_METADATA_KEY, actor);
        request.extensions_mut().insert(Authenticated(principal));
        Ok(())
    }

    /// The principal a request's credentials name: its bearer token, or else its verified
    /// client certificate.
    fn authenticate<B>(&self, request: &http::Request<B>) -> Result<Arc<Principal>, Refusal> {
        let principals = self.principals();
        let mut values = request.headers().get_all(AUTHORIZATION).iter();
        if let Some(value) = values.next() {
            let malformed = (
                AuthError::Unauthenticated {
                    reason: MALFORMED_TOKEN,
                },
                AuthFailure::Malformed,
            );
            if values.next().is_some() {
                return Err(malformed);
            }
            let token = value
                .to_str()
                .ok()
                .and_then(|text| text.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or(malformed)?;
            return principals
                .authenticate_token(token)
                .map_err(|error| (error, token_failure(&principals, token)));
        }
        let certificates = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        if let Some(leaf) = certificates.as_deref().and_then(|chain| chain.first()) {
            let common_name = common_name(leaf.as_ref()).ok_or((
                AuthError::Unauthenticated {
                    reason: CERTIFICATE_WITHOUT_CN,
                },
                AuthFailure::Malformed,
            ))?;
            return principals.by_id(&common_name).ok_or((
                AuthError::Unauthenticated {
                    reason: UNKNOWN_CERTIFICATE,
                },
                AuthFailure::UnknownPrincipal,
            ));
        }
        Err((
            AuthError::Unauthenticated { reason: NO_CREDENTIALS },
            AuthFailure::NoCredentials,
        ))
    }

    /// A whole-log method reads every district's events: the principal's scopes must
    /// include every district of the registry.
    fn require_whole_log(&self, principal: &Principal, access: &Access) -> Result<(), AuthError> {
        let uncovered: Vec<&str> = self
            .registry
            .districts()
            .iter()
            .map(|district| district.code.as_jurisdiction_code())
            .filter(|district| !principal.scopes.contains(district))
            .map(|district| district.as_str())
            .collect();
        if uncovered.is_empty() {
            return Ok(());
        }
        Err(AuthError::denied(format!(
            "{} covers the whole log, which includes {}: principal {principal} needs a district-wide scope for each district",
            access.method,
            uncovered.join(", ")
        )))
    }
}

/// Step 2: refuses a principal whose role `access` does not admit, naming the method and
/// the roles it is for.
fn require_role(principal: &Principal, access: &Access) -> Result<(), AuthError> {
    if access.allows(principal.role) {
        return Ok(());
    }
    let roles: Vec<&str> = access.roles.iter().map(|role| role.as_str()).collect();
    Err(AuthError::denied(format!(
        "principal {principal} may not call {}/{}: it is for {}",
        access.service,
        access.method,
        roles.join(", ")
    )))
}

/// The refusal of a method the table does not list (`path` is `/package.Service/Method`).
fn unlisted(path: &str) -> AuthError {
    AuthError::denied(format!("{path} is not in the access table: no principal may call it"))
}

/// Step 2 for one command of a `SubmitCommands` stream (the stream itself has passed the
/// layer): the principal's role must be one the unary RPC of the same name admits, so a
/// command is refused in a stream exactly as its unary call would be (the same message).
/// The scope is checked later, as for the unary call, on the issue (`authorize_command`).
pub(crate) fn authorize_streamed_command(principal: &Principal, kind: CommandKind) -> Result<(), AuthError> {
    match access_rule(ISSUE_SERVICE, kind.as_str()) {
        Some(access) => require_role(principal, access),
        None => Err(unlisted(&format!("/{ISSUE_SERVICE}/{kind}"))),
    }
}

/// Why a token that did not authenticate failed: not a token at all, a token whose id
/// names no principal in force, or one whose secret is wrong. (The caller is told the same
/// in the last two cases; only the metrics tell them apart.)
fn token_failure(principals: &PrincipalSet, token: &str) -> AuthFailure {
    match parse_token(token) {
        None => AuthFailure::Malformed,
        Some((id, _)) if principals.by_id(id).is_some() => AuthFailure::WrongSecret,
        Some(_) => AuthFailure::UnknownPrincipal,
    }
}

/// The first subject CN of a DER certificate.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = certificate
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(name)
}
