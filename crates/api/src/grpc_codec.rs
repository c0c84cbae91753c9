//! [`GridledgerCodec`]: the gRPC codec of every gridledger service and of the typed client
//! (the generated code names it through `codec_path` in `build.rs`). It encodes with prost,
//! like `tonic_prost::ProstCodec`, and decodes with the contract's rules for what arrives:
//!
//! - a request that does not decode is the client's mistake: INVALID_ARGUMENT naming the
//!   message and the problem (`invalid wire type value: 7`, `recursion limit reached`,
//!   `invalid string value: data is not UTF-8 encoded`), never INTERNAL; a response that
//!   does not decode is the server's failure: INTERNAL;
//! - a command request is at most [`MAX_COMMAND_REQUEST_BYTES`] as received (its encoded
//!   size, unknown fields included), else RESOURCE_EXHAUSTED naming the size and the limit,
//!   refused before it is decoded;
//! - every request of the contract is unary except the streams of `SubmitCommands` (each
//!   command limited like a unary one) and `UploadEvidence` (chunks of at most
//!   [`MAX_EVIDENCE_CHUNK_DATA_BYTES`] of data): a unary call that carries a second request
//!   message is INVALID_ARGUMENT. (tonic reads a unary
//!   call's body to its end before calling the service, decoding any further message with
//!   the same decoder, so the call is refused before the service sees it.)
//!
//! Each message of the contract says which it is through [`WireMessage`]; a message used by
//! a new RPC does not compile until it does.

use std::marker::PhantomData;

use prost::bytes::Buf;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use crate::proto;

/// Most bytes a command request (the twelve lifecycle commands) may have as received: its
/// encoded size, unknown fields included.
pub const MAX_COMMAND_REQUEST_BYTES: usize = 64 * 1024;

/// Most data bytes one `EvidenceChunk` may carry.
pub const MAX_EVIDENCE_CHUNK_DATA_BYTES: usize = 1024 * 1024;

/// Most bytes an `EvidenceChunk` may have as received: its data and room for its other
/// fields.
pub const MAX_EVIDENCE_CHUNK_MESSAGE_BYTES: usize = MAX_EVIDENCE_CHUNK_DATA_BYTES + 4 * 1024;

/// What a message of the contract is, which decides how much of it is accepted and what a
/// message that does not decode means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireRole {
    /// A lifecycle command's request: at most [`MAX_COMMAND_REQUEST_BYTES`] encoded, one per
    /// call.
    Command,
    /// Any other request: bounded by the transport's limit (4 MiB), one per call.
    Request,
    /// One command of a `SubmitCommands` stream: at most [`MAX_COMMAND_REQUEST_BYTES`]
    /// encoded, like a unary command, and any number per call.
    StreamedCommand,
    /// A piece of an evidence blob (`UploadEvidence`, `GetEvidence`): at most
    /// [`MAX_EVIDENCE_CHUNK_MESSAGE_BYTES`] encoded, any number per call.
    Chunk,
    /// A response (or a message of a response stream): sent by the server.
    Response,
}

/// A message of the gRPC contract, as the codec needs to know it.
pub trait WireMessage: prost::Message + Default + Send + 'static {
    /// The message's name in `gridledger.proto`, for errors.
    const NAME: &'static str;
    /// What it is.
    const ROLE: WireRole;
}

/// The codec of every service and client of the contract (see the module documentation).
#[derive(Debug)]
pub struct GridledgerCodec<T, U> {
    _messages: PhantomData<fn() -> (T, U)>,
}

impl<T, U> Default for GridledgerCodec<T, U> {
    fn default() -> Self {
        Self { _messages: PhantomData }
    }
}

impl<T, U> Clone for GridledgerCodec<T, U> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T, U> Codec for GridledgerCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: WireMessage,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = GridledgerDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        GridledgerDecoder {
            decoded: 0,
            _message: PhantomData,
        }
    }
}

/// Decodes the messages of one call (one request body, or one response body).
#[derive(Debug)]
pub struct GridledgerDecoder<U> {
    /// Messages of this call decoded so far.
    decoded: u64,
    _message: PhantomData<fn() -> U>,
}

impl<U: WireMessage> Decoder for GridledgerDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.decoded += 1;
        decode_message(self.decoded, buffer).map(Some)
    }
}

/// Decodes the `ordinal`-th message (from 1) of a call from `bytes`, which hold exactly
/// that message as received, with the rules of the module documentation.
pub fn decode_message<U: WireMessage>(ordinal: u64, bytes: impl Buf) -> Result<U, Status> {
    let size = bytes.remaining();
    match U::ROLE {
        WireRole::Response => {
            return U::decode(bytes).map_err(|error| {
                Status::internal(format!("the server sent a {} that does not decode: {error}", U::NAME))
            });
        }
        WireRole::Command | WireRole::StreamedCommand if size > MAX_COMMAND_REQUEST_BYTES => {
            return Err(Status::resource_exhausted(format!(
                "request of {size} bytes is over the limit of {MAX_COMMAND_REQUEST_BYTES} bytes for a command (its encoded size, unknown fields included)"
            )));
        }
        WireRole::Chunk if size > MAX_EVIDENCE_CHUNK_MESSAGE_BYTES => {
            return Err(Status::resource_exhausted(format!(
                "evidence chunk of {size} bytes is over the limit of {MAX_EVIDENCE_CHUNK_MESSAGE_BYTES} bytes (at most {MAX_EVIDENCE_CHUNK_DATA_BYTES} bytes of data a chunk)"
            )));
        }
        WireRole::Command | WireRole::Request | WireRole::StreamedCommand | WireRole::Chunk => {}
    }
    if ordinal > 1 && matches!(U::ROLE, WireRole::Command | WireRole::Request) {
        return Err(Status::invalid_argument(format!(
            "invalid request: a call carries exactly one {} message, and a second one arrived",
            U::NAME
        )));
    }
    U::decode(bytes)
        .map_err(|error| Status::invalid_argument(format!("invalid request: not a valid {} message: {error}", U::NAME)))
}

/// Implements [`WireMessage`] for messages of [`proto`] with one role.
macro_rules! wire_messages {
    ($role:ident: $($message:ident),+ $(,)?) => {
        $(
            impl WireMessage for proto::$message {
                const NAME: &'static str = stringify!($message);
                const ROLE: WireRole = WireRole::$role;
            }
        )+
    };
}

wire_messages!(
    Command: ReportIssueRequest,
    HandleInGridRequest,
    DispatchIssueRequest,
    AcceptAssignmentRequest,
    ConveneDeliberationRequest,
    ConcludeDeliberationRequest,
    EscalateIssueRequest,
    RecordCommitteeDecisionRequest,
    ResolveIssueRequest,
    EvaluateResolutionRequest,
    ReopenIssueRequest,
    WithdrawIssueRequest,
);

wire_messages!(
    Request: GetIssueRequest,
    ListIssuesRequest,
    GetGovernanceStatsRequest,
    BreakdownGovernanceStatsRequest,
    ReadIssueHistoryRequest,
    ReplayIssueRequest,
    ReadAllRequest,
    VerifyLogRequest,
    GetCheckpointRequest,
    GetInclusionProofRequest,
    GetConsistencyProofRequest,
    GetNodeStatusRequest,
    GetEvidenceRequest,
);

wire_messages!(StreamedCommand: SubmitCommandsRequest);

wire_messages!(Chunk: EvidenceChunk);

wire_messages!(
    Response: CommandAck,
    Issue,
    ListIssuesResponse,
    GovernanceStats,
    BreakdownGovernanceStatsResponse,
    RecordedEvent,
    ReplayStep,
    VerifyLogResponse,
    Checkpoint,
    InclusionProof,
    ConsistencyProof,
    NodeStatus,
    SubmitCommandsResponse,
    EvidenceRef,
);

#[cfg(test)]
mod tests {
    use prost::Message;
    use tonic::Code;

    use super::*;

    fn refusal<U: WireMessage + std::fmt::Debug>(ordinal: u64, bytes: &[u8]) -> (Code, String) {
        let status = decode_message::<U>(ordinal, bytes).expect_err("refused");
        (status.code(), status.message().to_owned())
    }

    #[test]
    fn requests_that_do_not_decode_are_the_clients_mistake_and_responses_the_servers() {
        // Field 1 with wire type 7, which does not exist.
        let bad_wire_type = [0x0f];
        // Field 4 (title), length 2, not UTF-8.
        let not_utf8 = [0x22, 0x02, 0xff, 0xfe];
        // 101 nested groups of unknown field 15: deeper than prost's recursion limit.
        let nested: Vec<u8> = std::iter::repeat_n(0x7b, 101)
            .chain(std::iter::repeat_n(0x7c, 101))
            .collect();
        // A length-delimited field claiming more bytes than follow.
        let truncated = [0x22, 0x10, b'a'];
        for (bytes, problem) in [
            (&bad_wire_type[..], "invalid wire type value: 7"),
            (&not_utf8[..], "invalid string value: data is not UTF-8 encoded"),
            (&nested[..], "recursion limit reached"),
            (&truncated[..], "buffer underflow"),
        ] {
            let (code, message) = refusal::<proto::ReportIssueRequest>(1, bytes);
            assert_eq!(code, Code::InvalidArgument, "{message}");
            assert!(
                message.contains("ReportIssueRequest") && message.contains(problem),
                "{message}"
            );
            if problem.contains("UTF-8") {
                // Field 4 is a string only in some messages.
                continue;
            }
            let (code, message) = refusal::<proto::GetIssueRequest>(1, bytes);
            assert_eq!(code, Code::InvalidArgument, "{message}");
            let (code, message) = refusal::<proto::CommandAck>(1, bytes);
            assert_eq!(code, Code::Internal, "{message}");
            assert!(message.contains("CommandAck"), "{message}");
        }
    }

    #[test]
    fn a_command_is_limited_by_its_encoded_size_unknown_fields_included() {
        let request = proto::HandleInGridRequest {
            issue_id: "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506".to_owned(),
            ..Default::default()
        };
        let mut bytes = request.encode_to_vec();
        // Unknown field 99, length-delimited, padding the request past the limit.
        let padding = vec![b'x'; MAX_COMMAND_REQUEST_BYTES];
        prost::encoding::bytes::encode(99, &padding, &mut bytes);
        let decoded = proto::HandleInGridRequest::decode(bytes.as_slice()).expect("valid protobuf");
        assert_eq!(decoded, request, "the padding is invisible once decoded");
        let (code, message) = refusal::<proto::HandleInGridRequest>(1, &bytes);
        assert_eq!(code, Code::ResourceExhausted);
        assert_eq!(
            message,
            format!(
                "request of {} bytes is over the limit of 65536 bytes for a command (its encoded size, unknown fields included)",
                bytes.len()
            )
        );
        // Other requests are bounded by the transport alone.
        assert!(decode_message::<proto::GetIssueRequest>(1, bytes.as_slice()).is_ok());
        // Exactly the limit is accepted, one byte more is not. (Field 99's key takes 2 bytes
        // and a length of this size 3.)
        let padded_to = |total: usize| {
            let mut bytes = request.encode_to_vec();
            let padding = vec![b'x'; total - bytes.len() - 5];
            prost::encoding::bytes::encode(99, &padding, &mut bytes);
            assert_eq!(bytes.len(), total);
            bytes
        };
        let at_the_limit = padded_to(MAX_COMMAND_REQUEST_BYTES);
        assert!(decode_message::<proto::HandleInGridRequest>(1, at_the_limit.as_slice()).is_ok());
        let over_the_limit = padded_to(MAX_COMMAND_REQUEST_BYTES + 1);
        assert_eq!(
            refusal::<proto::HandleInGridRequest>(1, &over_the_limit).0,
            Code::ResourceExhausted
        );
    }

    #[test]
    fn a_call_carries_one_request_message() {
        let bytes = proto::GetIssueRequest::default().encode_to_vec();
        assert!(decode_message::<proto::GetIssueRequest>(1, bytes.as_slice()).is_ok());
        let (code, message) = refusal::<proto::GetIssueRequest>(2, &bytes);
        assert_eq!(code, Code::InvalidArgument);
        assert!(message.contains("exactly one GetIssueRequest"), "{message}");
        // A response stream carries many.
        assert!(decode_message::<proto::RecordedEvent>(1000, bytes.as_slice()).is_ok());
    }
}
