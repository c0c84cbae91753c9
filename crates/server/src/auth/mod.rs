//! Access control: who may call what, where (docs/security.md).
//!
//! - [`Role`] and [`ACCESS_TABLE`]: the one decision table, RPC -> the roles that may call
//!   it and how its scope is checked ([`ScopeRule`]);
//! - [`PrincipalsFile`]: the `--auth` file (principals, their role, their jurisdiction
//!   scopes and the SHA-256 of their token's secret), checked against the registry;
//! - `token`: the token format `glt_<id>_<secret>` and its hash, compared in constant time;
//! - [`AuthLayer`]: the one tower layer in front of every service. It knows the method path
//!   (an interceptor does not), authenticates the caller (a bearer token, or a client
//!   certificate's subject CN under mutual TLS), checks role x method, records the
//!   principal as the actor, and puts the [`Principal`] into the request's extensions;
//! - the scope checks that need data (the issue's grid, the request's scope filter), called
//!   by the services: [`require_scope`], `authorize_command`, `require_issue_scope`,
//!   `read_scope`;
//! - reloading the file on SIGHUP and when it changes (`reload`);
//! - the serving policy (loopback, `--insecure`, TLS) and the TLS set-up (`policy`).

mod layer;
mod policy;
mod principals;
mod reload;
mod scope;
mod table;
mod token;

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use layer::{AuthFailure, authorize_streamed_command};
pub use layer::{AuthLayer, AuthService};
pub(crate) use policy::{Security, prepare};
pub use policy::{SecurityError, TlsConfig};
pub use principals::{Principal, PrincipalEntry, PrincipalSet, PrincipalsFile, PrincipalsFileError};
pub(crate) use reload::AuthState;
pub(crate) use scope::{authorize_command, read_scope, require_issue_scope};
pub use scope::{principal_of, require_scope};
pub use table::{ACCESS_TABLE, Access, OPEN_SERVICES, Role, ScopeRule, UnknownRole, access_rule, roles_markdown};
pub use token::{
    SECRET_BYTES, SECRET_CHARS, TOKEN_PREFIX, hash_secret, hash_secret_hex, parse_token, token_for,
    validate_principal_id,
};

/// How often the principals file is checked for changes unless told otherwise.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Authentication and authorisation: where the principals are, and how they are reloaded.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The principals file (JSON, [`PrincipalsFile`]). Read at start (a file that does not
    /// load stops the start), then again on SIGHUP and whenever its contents change.
    pub principals_file: PathBuf,
    /// How often the file is checked for changes; `None` checks only on SIGHUP.
    pub reload_interval: Option<Duration>,
    /// Whether SIGHUP reloads the file. Off for servers embedded in other programs that
    /// keep SIGHUP for themselves.
    pub reload_on_sighup: bool,
    /// Told of every reload, accepted or refused (tests and embedding programs wait on it).
    pub reload_events: Option<tokio::sync::mpsc::UnboundedSender<ReloadEvent>>,
}

impl AuthConfig {
    /// The principals in `principals_file`, checked every [`DEFAULT_RELOAD_INTERVAL`] and on
    /// SIGHUP.
    pub fn new(principals_file: impl Into<PathBuf>) -> Self {
        AuthConfig {
            principals_file: principals_file.into(),
            reload_interval: Some(DEFAULT_RELOAD_INTERVAL),
            reload_on_sighup: true,
            reload_events: None,
        }
    }
}

/// What a reload of the principals file came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadEvent {
    /// The file loaded; these principals are in force from now on.
    Reloaded { principals: usize },
    /// The file did not load (the message names the line or the field at fault); the
    /// principals loaded before stay in force.
    Refused { error: String },
}

/// Why a call was refused by access control. Becomes a `tonic::Status` in `error.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or credentials that do not name a principal in force.
    #[error("{reason}")]
    Unauthenticated { reason: &'static str },
    /// An authenticated principal asked for something outside its role or its scope.
    #[error("{message}")]
    PermissionDenied { message: String },
}

impl AuthError {
    pub(crate) fn denied(message: impl Into<String>) -> Self {
        AuthError::PermissionDenied {
            message: message.into(),
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        crate::error::ServiceError::from(error).into()
    }
}
