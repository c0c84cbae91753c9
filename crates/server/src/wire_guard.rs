//! [`WireGuardLayer`]: a client's malformed gRPC framing is answered as the client's
//! mistake (INVALID_ARGUMENT), never as the server's failure (INTERNAL).
//!
//! tonic itself refuses a request whose gRPC framing is wrong before any codec or service
//! sees it, and answers INTERNAL: a unary call with no message (`Missing request
//! message.`), a body that ends inside a message (`Unexpected EOF decoding stream.`), a
//! message whose compression flag is not 0 or 1, or that is flagged compressed in a call
//! without `grpc-encoding`. So does `tonic_prost::ProstCodec`, the codec of the health and
//! reflection services, for a request that is not valid protobuf (`failed to decode
//! Protobuf message: …`). Each of these is a trailers-only response (`grpc-status` in the
//! headers, no body); this layer rewrites exactly those, recognised by status 13 and the
//! start of tonic's message, to status 3 with a message that says what the request got
//! wrong. Every other response passes through untouched, so a real server-side failure
//! stays INTERNAL.
//!
//! The gridledger services decode with `gridledger_api::GridledgerCodec`, which itself
//! refuses a message that does not decode, an oversized command and a second message in a
//! unary call, with INVALID_ARGUMENT or RESOURCE_EXHAUSTED.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::Service;
use tonic::codegen::http::{self, HeaderMap};
use tonic::{Code, Status};
use tower_layer::Layer;

/// What prost's decode errors start with, as `tonic_prost::ProstCodec` reports them; the
/// client is told `invalid request: ` and the whole message.
const PROST_DECODE_ERROR: &str = "failed to decode Protobuf message: ";

/// tonic's INTERNAL messages for framing a client got wrong (matched as the start of the
/// message), and what the client is told instead.
const CLIENT_FRAMING_ERRORS: [(&str, &str); 4] = [
    (
        "Missing request message.",
        "invalid request: the call carried no request message (a unary call carries exactly one)",
    ),
    (
        "Unexpected EOF decoding stream.",
        "invalid request: the request body ended inside a message (a gRPC frame shorter than its length prefix)",
    ),
    (
        "protocol error: received message with invalid compression flag",
        "invalid request: a message's compression flag is neither 0 nor 1",
    ),
    (
        "protocol error: received message with compressed-flag but no grpc-encoding was specified",
        "invalid request: a message is flagged compressed but the call names no grpc-encoding",
    ),
];

/// The layer: wraps a service (the whole router) in a [`WireGuard`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WireGuardLayer;

impl<S> Layer<S> for WireGuardLayer {
    type Service = WireGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WireGuard { inner }
    }
}

/// A service whose responses to malformed framing are rewritten (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct WireGuard<S> {
    inner: S,
}

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for WireGuard<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = WireGuardFuture<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        WireGuardFuture {
            inner: Box::pin(self.inner.call(request)),
        }
    }
}

/// The response of a [`WireGuard`]: the inner service's, rewritten if it is a framing error.
#[derive(Debug)]
pub struct WireGuardFuture<F> {
    inner: Pin<Box<F>>,
}

impl<F, ResponseBody, Error> Future for WireGuardFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, Error>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(context).map(|result| {
            result.map(|mut response| {
                rewrite_client_framing_error(response.headers_mut());
                response
            })
        })
    }
}

/// If `headers` are those of a trailers-only INTERNAL response for one of
/// [`CLIENT_FRAMING_ERRORS`] or a [`PROST_DECODE_ERROR`], makes them INVALID_ARGUMENT with
/// the client's message.
fn rewrite_client_framing_error(headers: &mut HeaderMap) {
    if headers.get(Status::GRPC_STATUS).map(|status| status.as_bytes()) != Some(b"13") {
        return;
    }
    let Some(message) = headers.get(Status::GRPC_MESSAGE).cloned() else {
        return;
    };
    let clients_message = if let Some((_, clients_message)) = CLIENT_FRAMING_ERRORS
        .iter()
        .find(|(tonics_message, _)| message.as_bytes().starts_with(&grpc_message_header(tonics_message)))
    {
        (*clients_message).to_owned()
    } else if message.as_bytes().starts_with(&grpc_message_header(PROST_DECODE_ERROR)) {
        // The message decoded from its header alone (not with the status details).
        let mut message_only = HeaderMap::new();
        message_only.insert(Status::GRPC_STATUS, http::HeaderValue::from_static("13"));
        message_only.insert(Status::GRPC_MESSAGE, message);
        let decoded = Status::from_header_map(&message_only).map(|status| status.message().to_owned());
        format!("invalid request: {}", decoded.unwrap_or_default())
    } else {
        return;
    };
    if let Err(error) = Status::invalid_argument(clients_message.as_str()).add_header(headers) {
        tracing::error!(%error, "could not rewrite a framing error's status");
        return;
    }
    tracing::debug!(
        message = clients_message,
        "request refused: malformed gRPC framing or protobuf"
    );
}

/// `message` as tonic writes it in `grpc-message` (percent-encoded).
fn grpc_message_header(message: &str) -> Vec<u8> {
    let mut headers = HeaderMap::new();
    match Status::new(Code::Internal, message).add_header(&mut headers) {
        Ok(()) => headers
            .get(Status::GRPC_MESSAGE)
            .map(|value| value.as_bytes().to_vec())
            .unwrap_or_default(),
        Err(_) => message.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: &Status) -> HeaderMap {
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).expect("valid header values");
        headers
    }

    #[test]
    fn only_tonics_framing_errors_become_invalid_argument() {
        for (tonics_message, clients_message) in CLIENT_FRAMING_ERRORS {
            let mut headers = headers_of(&Status::internal(format!("{tonics_message} (and more)")));
            rewrite_client_framing_error(&mut headers);
            let status = Status::from_header_map(&headers).expect("a status");
            assert_eq!(
                (status.code(), status.message()),
                (Code::InvalidArgument, clients_message)
            );
        }
        let prost_error = "failed to decode Protobuf message: HealthCheckRequest.service: invalid wire type value: 7";
        let mut headers = headers_of(&Status::internal(prost_error));
        rewrite_client_framing_error(&mut headers);
        let status = Status::from_header_map(&headers).expect("a status");
        assert_eq!(
            (status.code(), status.message()),
            (
                Code::InvalidArgument,
                format!("invalid request: {prost_error}").as_str()
            )
        );
        for untouched in [
            Status::internal("log corrupt at position 7: record does not decode"),
            Status::unavailable("Missing request message."),
            Status::internal("the server said: Missing request message."),
            Status::internal("stored event at position 3 does not decode: failed to decode Protobuf message: …"),
        ] {
            let mut headers = headers_of(&untouched);
            rewrite_client_framing_error(&mut headers);
            assert_eq!(headers, headers_of(&untouched));
        }
        let mut no_status = HeaderMap::new();
        rewrite_client_framing_error(&mut no_status);
        assert!(no_status.is_empty());
    }
}
