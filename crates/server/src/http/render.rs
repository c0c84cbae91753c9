//! The HTTP API's answers as JSON and CSV, and its error bodies.
//!
//! JSON is the protobuf JSON mapping of the gRPC answer, read through the contract's own
//! descriptors ([`gridledger_api::proto::FILE_DESCRIPTOR_SET`]): the proto field names
//! (snake_case), every field written (zeros and empty strings included; an unset message
//! is left out), enums by name, timestamps in RFC 3339, and 64-bit integers as JSON
//! numbers. CSV is a header row of the same names (a nested message's fields as
//! `message.field`, in field-number order), then one row per record, the cells as the
//! JSON has them.

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gridledger_api::proto;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, SerializeOptions};
use serde::{Serialize, Serializer};
use serde_json::Value;
use tonic::Code;

use crate::error::HttpError;

/// How every message is written: proto names, defaults included, 64-bit integers as numbers.
const OPTIONS: SerializeOptions = SerializeOptions::new()
    .use_proto_field_name(true)
    .skip_default_fields(false)
    .stringify_64_bit_integers(false);

/// The contract's descriptors (its imports included).
static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).map_err(|error| error.to_string()));

fn internal(message: String) -> HttpError {
    HttpError::new(Code::Internal, message, None)
}

/// The descriptor of the contract's message `full_name` (`gridledger.v1.Issue`).
pub(crate) fn descriptor(full_name: &str) -> Result<MessageDescriptor, HttpError> {
    let pool = POOL
        .as_ref()
        .map_err(|error| internal(format!("the contract's descriptors do not decode: {error}")))?;
    pool.get_message_by_name(full_name)
        .ok_or_else(|| internal(format!("the contract has no message {full_name}")))
}

/// A contract message, ready to be written as JSON (it serializes as the mapping above).
#[derive(Debug, Clone)]
pub(crate) struct Proto(DynamicMessage);

impl Proto {
    /// `message`, which is the contract's `full_name`.
    pub(crate) fn of<M: Message>(full_name: &str, message: &M) -> Result<Self, HttpError> {
        let dynamic = DynamicMessage::decode(descriptor(full_name)?, message.encode_to_vec().as_slice())
            .map_err(|error| internal(format!("{full_name} does not re-decode: {error}")))?;
        Ok(Proto(dynamic))
    }

    /// The message as a JSON value.
    pub(crate) fn to_value(&self) -> Result<Value, HttpError> {
        serde_json::to_value(self).map_err(|error| internal(format!("cannot write JSON: {error}")))
    }
}

impl Serialize for Proto {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_with_options(serializer, &OPTIONS)
    }
}

/// The CSV columns of a message: its fields in field-number order, a nested message's
/// fields as `field.subfield` (a timestamp is one column).
pub(crate) fn columns(message: &MessageDescriptor) -> Vec<String> {
    let mut names = Vec::new();
    add_columns(message, "", &mut names);
    names
}

fn add_columns(message: &MessageDescriptor, prefix: &str, names: &mut Vec<String>) {
    for field in message.fields() {
        let name = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::Message(nested) if !field.is_list() && !nested.full_name().starts_with("google.protobuf.") => {
                add_columns(&nested, &format!("{name}."), names);
            }
            _ => names.push(name),
        }
    }
}

/// The cell of `column` (a dotted path) in `value`, as CSV text (empty when absent).
pub(crate) fn cell(value: &Value, column: &str) -> String {
    let found = column
        .split('.')
        .try_fold(value, |value, key| value.as_object().and_then(|object| object.get(key)));
    let text = match found {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    csv_field(&text)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// CSV text: `header`, then `rows`, each line ended with CRLF (RFC 4180).
pub(crate) fn csv_text(header: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut text = header.iter().map(|name| csv_field(name)).collect::<Vec<_>>().join(",");
    text.push_str("\r\n");
    for row in rows {
        text.push_str(&row.join(","));
        text.push_str("\r\n");
    }
    text
}

/// Headers every answer of the API carries: not cached, not sniffed.
pub(crate) fn with_api_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `body` as a JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_api_headers(
            (
                status,
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                bytes,
            )
                .into_response(),
        ),
        Err(error) => internal(format!("cannot write JSON: {error}")).into_response(),
    }
}

/// `text` as a CSV answer, offered as the file `filename`.
pub(crate) fn csv_response(text: String, filename: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    with_api_headers(
        (
            StatusCode::OK,
            [
                (CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
                (CONTENT_DISPOSITION, disposition),
            ],
            text,
        )
            .into_response(),
    )
}

/// The error body: `{"error": {"code": "INVALID_ARGUMENT", "message": "...", "field": "period_start"}}`.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = json_response(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gridledger\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_written_with_their_proto_names_and_every_figure() {
        let stats = proto::GovernanceStats {
            accepted: 3,
            closed: 2,
            closure_rate: 2.0 / 3.0,
            ..Default::default()
        };
        let value = Proto::of("gridledger.v1.GovernanceStats", &stats)
            .and_then(|proto| proto.to_value())
            .expect("GovernanceStats is written");
        assert_eq!(value["accepted"], 3);
        assert_eq!(value["closure_rate"], 2.0 / 3.0);
        assert_eq!(value["overdue_open"], 0);
        let header = columns(&descriptor("gridledger.v1.GovernanceStats").expect("a message"));
        assert_eq!(header.first().map(String::as_str), Some("accepted"));
        assert_eq!(header.last().map(String::as_str), Some("as_of_position"));
        assert_eq!(header.len(), value.as_object().map_or(0, |object| object.len()));
        assert_eq!(cell(&value, "closed"), "2");
    }

    #[test]
    fn nested_messages_are_flattened_and_timestamps_are_one_column() {
        let header = columns(&descriptor("gridledger.v1.Issue").expect("a message"));
        for column in [
            "issue_id",
            "assignment.assignee_id",
            "last_evaluation.satisfaction",
            "due_at",
        ] {
            assert!(header.iter().any(|name| name == column), "{column} in {header:?}");
        }
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
