//! The listening socket's defences against clients that hold connections without using
//! them: a cap on open connections kept clear of the process's descriptor limit, a deadline
//! for a new connection's first bytes (the HTTP/2 preface or the TLS hello), and an idle
//! timeout. What each limit is and why: docs/security.md#limits.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Descriptors kept for everything but client sockets: the log's files, the runtime, the
/// blocking pool, logging.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// How many bytes of a new connection must arrive before [`TransportLimits::handshake_timeout`]:
/// the length of the HTTP/2 client preface.
const HANDSHAKE_BYTES: usize = 24;

/// How long the accept loop pauses after the operating system refuses a connection (for
/// example for lack of descriptors), so that it never spins.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Limits on what clients may hold open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    /// Most connections open at once; more wait in the listen backlog. Lowered at start to
    /// stay [`RESERVED_DESCRIPTORS`] below the process's descriptor limit.
    pub max_connections: usize,
    /// Most concurrent streams (calls) a client may open on one connection.
    pub max_concurrent_streams_per_connection: u32,
    /// A new connection whose first bytes do not arrive in time is closed.
    pub handshake_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed (keepalive
    /// pings count, so a live client is never idle for long).
    pub idle_timeout: Duration,
    /// How often the server pings a quiet connection, and how long it waits for the answer.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// After shutdown begins, how long in-flight calls may take before their connections
    /// are closed.
    pub shutdown_grace: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_connections: 4_096,
            max_concurrent_streams_per_connection: 128,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl TransportLimits {
    /// The connection cap for a process allowed `descriptor_limit` open descriptors.
    pub fn connection_cap(&self, descriptor_limit: u64) -> usize {
        let available = descriptor_limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
        self.max_connections
            .min(usize::try_from(available).unwrap_or(usize::MAX))
            .max(1)
    }
}

/// The process's soft limit on open descriptors (`ulimit -n`).
pub fn descriptor_limit() -> io::Result<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _hard)| soft)
}

/// How many client connections are open now: counted from accept to close (handshake
/// included) by every [`LimitedConnection`] made with it; read by the metrics.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenConnections(Arc<AtomicUsize>);

impl OpenConnections {
    /// Connections open now.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn opened(&self) -> OpenConnection {
        self.0.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.0.clone())
    }
}

/// One connection counted in [`OpenConnections`] until it is dropped.
#[derive(Debug)]
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections from `listener`, at most `cap` open at once (the rest wait in the
/// kernel's backlog, holding no descriptor of ours), each with the handshake and idle
/// deadlines of `limits`. The accept loop ends when the returned stream is dropped.
pub fn limited_incoming(
    listener: TcpListener,
    cap: usize,
    limits: TransportLimits,
) -> ReceiverStream<io::Result<LimitedConnection>> {
    limited_incoming_counted(listener, cap, limits, OpenConnections::default())
}

/// [`limited_incoming`], each connection counted in `open` while it is open.
pub(crate) fn limited_incoming_counted(
    listener: TcpListener,
    cap: usize,
    limits: TransportLimits,
    open: OpenConnections,
) -> ReceiverStream<io::Result<LimitedConnection>> {
    let (sender, receiver) = mpsc::channel(1);
    let permits = Arc::new(Semaphore::new(cap));
    tokio::spawn(async move {
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_closed) => return,
                },
                () = sender.closed() => return,
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = sender.closed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed; pausing before the next");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
            }
            let connection = LimitedConnection::new(stream, permit, open.opened(), limits);
            if sender.send(Ok(connection)).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// An accepted connection that holds one of the cap's permits until it closes, and fails
/// its next read once its handshake or idle deadline passes.
#[derive(Debug)]
pub struct LimitedConnection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _counted: OpenConnection,
    handshake_bytes_missing: usize,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl LimitedConnection {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, counted: OpenConnection, limits: TransportLimits) -> Self {
        LimitedConnection {
            stream,
            _permit: permit,
            _counted: counted,
            handshake_bytes_missing: HANDSHAKE_BYTES,
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
            deadline: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
        }
    }

    /// Something moved: the idle deadline starts again (once the handshake is done).
    fn touch(&mut self) {
        if self.handshake_bytes_missing == 0 {
            self.deadline.as_mut().reset(Instant::now() + self.idle_timeout);
        }
    }

    fn check_deadline(&mut self, context: &mut Context<'_>) -> io::Result<()> {
        if self.deadline.as_mut().poll(context).is_ready() {
            let what = if self.handshake_bytes_missing > 0 {
                format!("no handshake within {:?}", self.handshake_timeout)
            } else {
                format!("idle for {:?}", self.idle_timeout)
            };
            return Err(io::Error::new(io::ErrorKind::TimedOut, what));
        }
        Ok(())
    }
}

impl Connected for LimitedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedConnection {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        match Pin::new(&mut this.stream).poll_read(context, buffer) {
            Poll::Ready(Ok(())) => {
                let read = buffer.filled().len() - before;
                if read > 0 {
                    let was_handshaking = this.handshake_bytes_missing > 0;
                    this.handshake_bytes_missing = this.handshake_bytes_missing.saturating_sub(read);
                    if was_handshaking && this.handshake_bytes_missing == 0 {
                        let idle_deadline = Instant::now() + this.idle_timeout;
                        this.deadline.as_mut().reset(idle_deadline);
                    }
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.check_deadline(context) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
        }
    }
}

impl AsyncWrite for LimitedConnection {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(context, bytes);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            this.touch();
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(context)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(context, buffers);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            this.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_clear_of_the_descriptor_limit() {
        let limits = TransportLimits::default();
        for (descriptor_limit, expected) in [(1_048_576, 4_096), (1_024, 960), (128, 64), (64, 1), (10, 1)] {
            assert_eq!(limits.connection_cap(descriptor_limit), expected, "{descriptor_limit}");
        }
    }
}
