//! The serving policy, enforced for every program that embeds the server:
//!
//! - without authentication the server listens on loopback addresses only;
//! - on any other address it needs authentication and TLS (bearer tokens must not cross a
//!   network in clear text);
//! - `insecure_allow_non_loopback` (`--insecure`) lifts both, and the policy line says so.
//!
//! And the TLS set-up: the server's certificate and key, and for mutual TLS the CA whose
//! client certificates are accepted (their subject CN names the principal).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tonic::transport::server::ServerTlsConfig;
use tonic::transport::{Certificate, Identity, Server};
use tower_layer::{Identity as NoLayer, Stack};

use super::layer::AuthLayer;
use super::principals::PrincipalsFileError;
use super::reload::{AuthState, load_and_watch};
use crate::run::{ServerConfig, ServerError};

/// Why the server's security set-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// Authentication on a non-loopback address, without TLS.
    #[error(
        "refusing to serve on {address} without TLS: bearer tokens would cross the network in clear text; give a certificate and key (--tls-cert, --tls-key), or --insecure"
    )]
    NoTls { address: SocketAddr },
    #[error("cannot read the principals file {path}")]
    ReadPrincipals {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the principals file {path} does not load")]
    Principals {
        path: PathBuf,
        #[source]
        source: PrincipalsFileError,
    },
    #[error("cannot read the TLS file {path}")]
    ReadTls {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the TLS certificate, key or client CA is not usable")]
    Tls(#[source] tonic::transport::Error),
}

/// The server's TLS material, PEM-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server's certificate chain.
    pub certificate_pem: Vec<u8>,
    /// The certificate's private key.
    pub key_pem: Vec<u8>,
    /// For mutual TLS: the CA whose client certificates are accepted. With authentication,
    /// a client certificate is optional (bearer tokens keep working on the same port) and
    /// its subject CN names the principal; without, every client must present one.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TlsConfig")
            .field("certificate_pem", &format_args!("{} bytes", self.certificate_pem.len()))
            .field("key_pem", &"<redacted>")
            .field("client_ca_pem", &self.client_ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

impl TlsConfig {
    /// Reads the PEM files of `--tls-cert`, `--tls-key` and `--tls-client-ca`.
    pub fn from_files(certificate: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, SecurityError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| SecurityError::ReadTls {
                path: path.to_path_buf(),
                source,
            })
        };
        Ok(TlsConfig {
            certificate_pem: read(certificate)?,
            key_pem: read(key)?,
            client_ca_pem: client_ca.map(read).transpose()?,
        })
    }

    fn server_config(&self, client_certificate_optional: bool) -> ServerTlsConfig {
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(&self.certificate_pem, &self.key_pem));
        if let Some(client_ca) = &self.client_ca_pem {
            config = config
                .client_ca_root(Certificate::from_pem(client_ca))
                .client_auth_optional(client_certificate_optional);
        }
        config
    }
}

impl ServerConfig {
    /// The serving policy in one line, as the server logs it at start.
    pub fn serving_policy(&self) -> String {
        // The gRPC address and, with `--http`, the HTTP one: loopback only if both are.
        let exposed = self.addresses().find(|address| !address.ip().is_loopback());
        let loopback = exposed.is_none();
        let transport = match &self.tls {
            None => "plaintext",
            Some(TlsConfig {
                client_ca_pem: Some(_), ..
            }) => "TLS with client certificates (mutual TLS)",
            Some(_) => "TLS",
        };
        match (&self.auth, loopback) {
            (None, true) => format!("loopback only, no authentication, {transport}"),
            (None, false) => format!(
                "INSECURE (--insecure): no authentication on the non-loopback address {}, {transport}",
                exposed.unwrap_or(self.listen)
            ),
            (Some(auth), _) => {
                let warning = if !loopback && self.tls.is_none() {
                    " INSECURE (--insecure): tokens cross the network in clear text"
                } else {
                    ""
                };
                format!(
                    "authentication required (principals from {}), {transport}{warning}",
                    auth.principals_file.display()
                )
            }
        }
    }
}

impl ServerConfig {
    /// Every address the node listens on: gRPC, then HTTP (`--http`) if given. The serving
    /// policy applies to each.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.listen).chain(self.http)
    }
}

/// The server builder of [`Security::server_builder_with`]: `L`, then access control.
pub(crate) type ServerWithOuterLayer<L> = Server<Stack<AuthLayer, Stack<L, NoLayer>>>;

/// What [`prepare`] set up: a server builder with TLS and the access-control layer.
#[derive(Debug)]
pub(crate) struct Security {
    tls: Option<ServerTlsConfig>,
    layer: AuthLayer,
    /// The principals in force (with `--auth`), shared with the HTTP endpoint.
    auth: Option<std::sync::Arc<AuthState>>,
}

impl Security {
    /// The principals in force and the registry they were checked against; `None` without
    /// `--auth`. The HTTP endpoint authenticates against the same state as the gRPC layer.
    pub(crate) fn auth_state(&self) -> Option<std::sync::Arc<AuthState>> {
        self.auth.clone()
    }

    /// The tonic server builder every service is added to: TLS when configured, the
    /// access-control layer in front of every route, and `outer` in front of that, so that
    /// `outer` sees every call, those access control refuses included (the metrics layer,
    /// `crate::metrics::MetricsLayer`).
    pub(crate) fn server_builder_with<L>(&self, outer: L) -> Result<ServerWithOuterLayer<L>, ServerError> {
        Ok(self.tls_builder()?.layer(outer).layer(self.layer.clone()))
    }

    fn tls_builder(&self) -> Result<Server, ServerError> {
        let mut builder = Server::builder();
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.clone()).map_err(SecurityError::Tls)?;
        }
        Ok(builder)
    }
}

/// Checks the serving policy, loads the principals (and starts reloading them) and checks
/// the TLS material, before anything is opened or bound. Logs the policy line.
pub(crate) fn prepare(config: &ServerConfig) -> Result<Security, ServerError> {
    for address in config.addresses() {
        if !address.ip().is_loopback() && !config.insecure_allow_non_loopback {
            if config.auth.is_none() {
                return Err(ServerError::NotLoopback { address });
            }
            if config.tls.is_none() {
                return Err(SecurityError::NoTls { address }.into());
            }
        }
    }
    let tls = config.tls.as_ref().map(|tls| tls.server_config(config.auth.is_some()));
    if let Some(tls) = &tls {
        // Refuse unusable material now rather than after the log is open.
        Server::builder().tls_config(tls.clone()).map_err(SecurityError::Tls)?;
    }
    let auth = match &config.auth {
        None => None,
        Some(auth) => Some(load_and_watch(auth, config.registry.clone())?),
    };
    let layer = auth.clone().map_or_else(AuthLayer::disabled, AuthLayer::enabled);
    tracing::info!(policy = %config.serving_policy(), "serving policy");
    Ok(Security { tls, layer, auth })
}
