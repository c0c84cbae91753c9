//! The HTTP endpoint's accept loop: connections under the same transport limits as gRPC (a cap on open connections, a handshake deadline, an idle timeout), plaintext or TLS with the same certificate, key and client CA as gRPC (rustls, ring), HTTP/1.1 and HTTP/2; and its graceful shutdown with the gRPC server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_stream::StreamExt;
use tonic::codegen::Service;

use super::session::ClientCertificate;
use crate::auth::TlsConfig;
use crate::transport::{LimitedConnection, TransportLimits, limited_incoming};

/// The HTTP endpoint, bound and ready to serve.
pub(crate) struct HttpListener {
    pub(crate) listener: TcpListener,
    pub(crate) local_addr: SocketAddr,
    pub(crate) router: Router,
    /// TLS when the server has a certificate, as gRPC does.
    pub(crate) tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for HttpListener {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HttpListener")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A rustls acceptor for the server's TLS material: TLS 1.2 and 1.3, ALPN `h2` and
/// `http/1.1`, and with a client CA, client certificates verified against it (optional when
/// `client_certificate_optional`, with `--auth`: tokens and sessions work too; required
/// otherwise), as the gRPC side does.
pub(crate) fn tls_acceptor(tls: &TlsConfig, client_certificate_optional: bool) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificates = CertificateDer::pem_slice_iter(&tls.certificate_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("the TLS certificate does not read: {error}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(&tls.key_pem).map_err(|error| format!("the TLS key does not read: {error}"))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("no TLS version available: {error}"))?;
    let builder = match &tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(client_ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(client_ca) {
                let certificate = certificate.map_err(|error| format!("the client CA does not read: {error}"))?;
                roots
                    .add(certificate)
                    .map_err(|error| format!("the client CA is not usable: {error}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if client_certificate_optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|error| format!("the client CA is not usable: {error}"))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certificates, key)
        .map_err(|error| format!("the TLS certificate and key do not go together: {error}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The routes, with the connection's verified client certificate put into every request.
#[derive(Debug, Clone)]
struct WithCertificate {
    router: Router,
    certificate: Option<ClientCertificate>,
}

impl Service<Request<Incoming>> for WithCertificate {
    type Response = Response;
    type Error = Infallible;
    type Future = <Router as Service<Request<Incoming>>>::Future;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request<Incoming>>::poll_ready(&mut self.router, context)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Self::Future {
        if let Some(certificate) = &self.certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        self.router.call(request)
    }
}

/// Completes when shutdown begins (never, if the server is dropped without one).
async fn shutdown_begins(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|shutting_down| *shutting_down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves the endpoint until shutdown begins: then it stops accepting, lets every
/// connection finish the requests it has in flight (HTTP/2 connections get a GOAWAY, idle
/// HTTP/1.1 ones are closed) and returns once the last has closed. The caller bounds that
/// by the grace period: dropping this future closes whatever is still open.
pub(crate) async fn serve_http(
    http: HttpListener,
    connection_cap: usize,
    limits: TransportLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let HttpListener {
        listener,
        local_addr,
        router,
        tls,
    } = http;
    let mut incoming = limited_incoming(listener, connection_cap, limits);
    let graceful = GracefulShutdown::new();
    // Dropped with this future: aborts every connection still open.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            next = incoming.next() => match next {
                Some(Ok(connection)) => {
                    connections.spawn(serve_connection(
                        connection,
                        router.clone(),
                        tls.clone(),
                        limits,
                        graceful.watcher(),
                    ));
                }
                Some(Err(error)) => tracing::debug!(%error, "accepting an HTTP connection failed"),
                None => break,
            },
            () = shutdown_begins(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(incoming);
    tracing::info!(%local_addr, "HTTP endpoint: no new connections, finishing in-flight requests");
    graceful.shutdown().await;
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    connection: LimitedConnection,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: TransportLimits,
    watcher: Watcher,
) {
    match tls {
        None => {
            let service = WithCertificate {
                router,
                certificate: None,
            };
            serve_io(TokioIo::new(connection), service, limits, watcher).await;
        }
        Some(acceptor) => match acceptor.accept(connection).await {
            Ok(stream) => {
                let certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|leaf| ClientCertificate {
                        common_name: common_name(leaf.as_ref()),
                    });
                let service = WithCertificate { router, certificate };
                serve_io(TokioIo::new(stream), service, limits, watcher).await;
            }
            Err(error) => tracing::debug!(%error, "HTTP endpoint: TLS handshake failed"),
        },
    }
}

async fn serve_io<I>(io: TokioIo<I>, service: WithCertificate, limits: TransportLimits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams_per_connection)
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%error, "HTTP connection ended with an error");
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
