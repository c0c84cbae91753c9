//! Tests of the metrics: the text parses as OpenMetrics 1.0.0 and as Prometheus text 0.0.4
//! (checked by the strict parser below, not by string matching), and its counters move
//! with the calls sent, exactly: a real tonic server on 127.0.0.1:0 over a real sled log,
//! with access control, is sent commands that succeed and commands refused for every
//! reason; and the layer alone, around a tiny service, for the ways a status arrives.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use gridledger_api::proto;
use gridledger_domain::{CommandKind, Registry};
use gridledger_eventlog::{EventLog, EventLogConfig};
use http_body::{Body, Frame};
use tokio::sync::{oneshot, watch};
use tonic::Code;
use tonic::codegen::http::{self, HeaderMap, HeaderValue};
use tonic::codegen::{Bytes, Service};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tower_layer::Layer;

use super::*;
use crate::audit_service::AuditServiceImpl;
use crate::auth::{AuthConfig, Role, hash_secret, hash_secret_hex, parse_token, token_for};
use crate::governance::STATS_SERVICE_NAME;
use crate::issue_service::IssueServiceImpl;
use crate::issues::IssueStore;
use crate::run::ServerConfig;
use crate::transport::{TransportLimits, limited_incoming_counted};

// ---------------------------------------------------------------------------------------
// A strict parser of the two text formats, for the subset a registry writes (no
// timestamps, no exemplars): every line must be metadata, a sample of the family declared
// last, or (OpenMetrics) the final `# EOF`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenMetrics,
    PrometheusText,
}

/// A parsed exposition: each family's type, and each sample's value by its key
/// (`name{label="value",...}`, labels sorted).
#[derive(Debug, Default, Clone)]
struct Scrape {
    types: BTreeMap<String, String>,
    samples: BTreeMap<String, f64>,
}

fn sample_key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<(&str, &str)> = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_owned();
    }
    let labels: Vec<String> = labels.iter().map(|(key, value)| format!("{key}=\"{value}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn is_metric_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_' || character == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text
            .chars()
            .all(|character| character.is_ascii_digit() || matches!(character, '.' | 'e' | 'E' | '+' | '-')) =>
        {
            text.parse::<f64>().map_err(|error| format!("value {text:?}: {error}"))
        }
        _ => Err(format!("value {text:?} is not a number")),
    }
}

/// A sample's labels, unescaped, in their order.
type Labels = Vec<(String, String)>;

/// A histogram's buckets `(le, count)`, `_sum` and `_count`, by family and labels less `le`.
type Histograms = BTreeMap<(String, Labels), (Vec<(f64, f64)>, Option<f64>, Option<f64>)>;

/// `{name="value",...}` at the start of `text`: the labels (unescaped) and the rest.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut rest = text.strip_prefix('{').ok_or("labels must start with {")?;
    let mut labels: Labels = Vec::new();
    if let Some(after) = rest.strip_prefix('}') {
        return Err(format!("empty label set before {after:?}"));
    }
    loop {
        let (name, after_name) = rest.split_once("=\"").ok_or("a label needs =\"")?;
        if !is_label_name(name) {
            return Err(format!("label name {name:?}"));
        }
        if labels.iter().any(|(seen, _)| seen == name) {
            return Err(format!("label {name} twice"));
        }
        let mut value = String::new();
        let mut characters = after_name.char_indices();
        let end = loop {
            match characters.next() {
                Some((_, '\\')) => match characters.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {name}")),
                },
                Some((index, '"')) => break index,
                Some((_, '\n')) => return Err(format!("raw newline in label {name}")),
                Some((_, character)) => value.push(character),
                None => return Err(format!("label {name} is not closed")),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &after_name[end + 1..];
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected , or }} after label {name}"))?;
    }
}

/// The family a sample named `name` may belong to, given the family declared last.
fn sample_fits(format: Format, family: &str, kind: &str, name: &str) -> bool {
    let suffixes: &[&str] = match (format, kind) {
        (Format::OpenMetrics, "counter") => &["_total", "_created"],
        (Format::PrometheusText, "counter") => &[""],
        (_, "histogram") => &["_bucket", "_sum", "_count", "_created"],
        (_, "gauge" | "unknown" | "untyped") => &[""],
        _ => &[],
    };
    suffixes.iter().any(|suffix| name.strip_suffix(suffix) == Some(family))
}

fn parse(text: &str, format: Format) -> Result<Scrape, String> {
    let mut scrape = Scrape::default();
    let body = match format {
        Format::OpenMetrics => text.strip_suffix("# EOF\n").ok_or("OpenMetrics must end with # EOF")?,
        Format::PrometheusText => text,
    };
    // The family declared last (its name and type), whose samples may follow.
    let mut current: Option<(String, String)> = None;
    let mut helped: Vec<String> = Vec::new();
    // Histograms' samples by family and labels (less `le`), checked at the end.
    let mut histograms: Histograms = BTreeMap::new();
    for (number, line) in body.lines().enumerate() {
        let at = |problem: String| format!("line {}: {problem}: {line:?}", number + 1);
        if line.is_empty() {
            return Err(at("empty line".to_owned()));
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (keyword, name, rest) = (words.next(), words.next(), words.next());
            let name = name
                .filter(|name| is_metric_name(name))
                .ok_or_else(|| at("metric name".to_owned()));
            match keyword {
                Some("HELP") => {
                    let name = name?;
                    if helped.contains(&name.to_owned()) {
                        return Err(at("HELP twice".to_owned()));
                    }
                    helped.push(name.to_owned());
                    if current.as_ref().is_some_and(|(family, _)| family != name) {
                        current = None;
                    }
                }
                Some("TYPE") => {
                    let name = name?;
                    let kind = rest.ok_or_else(|| at("TYPE without a type".to_owned()))?;
                    let known: &[&str] = match format {
                        Format::OpenMetrics => &[
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "summary",
                            "info",
                            "stateset",
                            "unknown",
                        ],
                        Format::PrometheusText => &["counter", "gauge", "histogram", "summary", "untyped"],
                    };
                    if !known.contains(&kind) {
                        return Err(at(format!("type {kind}")));
                    }
                    if scrape.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at("TYPE twice".to_owned()));
                    }
                    current = Some((name.to_owned(), kind.to_owned()));
                }
                Some("UNIT") if format == Format::OpenMetrics => {
                    let name = name?;
                    let unit = rest.ok_or_else(|| at("UNIT without a unit".to_owned()))?;
                    if !name.ends_with(&format!("_{unit}")) {
                        return Err(at(format!("a family with unit {unit} must end in _{unit}")));
                    }
                }
                _ if format == Format::PrometheusText => {}
                _ => return Err(at("unknown metadata".to_owned())),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("a comment must be \"# \" and a keyword".to_owned()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".to_owned()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at("metric name".to_owned()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let value_text = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("one space before the value".to_owned()))?;
        if value_text.contains(' ') {
            return Err(at("no timestamps or exemplars expected".to_owned()));
        }
        let value = parse_value(value_text).map_err(at)?;
        let (family, kind) = current
            .clone()
            .ok_or_else(|| at("a sample outside any declared family".to_owned()))?;
        if !sample_fits(format, &family, &kind, name) {
            return Err(at(format!("sample {name} in family {family} ({kind})")));
        }
        let label_refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if scrape.samples.insert(sample_key(name, &label_refs), value).is_some() {
            return Err(at("the same sample twice".to_owned()));
        }
        match kind.as_str() {
            "counter" if !(value >= 0.0 && value.is_finite()) => return Err(at("a counter below 0".to_owned())),
            "histogram" => {
                let mut series = labels.clone();
                let le = series
                    .iter()
                    .position(|(key, _)| key == "le")
                    .map(|index| series.remove(index));
                let entry = histograms.entry((family.clone(), series)).or_default();
                match (name.strip_prefix(family.as_str()), le) {
                    (Some("_bucket"), Some((_, le))) => entry.0.push((parse_value(&le).map_err(at)?, value)),
                    (Some("_bucket"), None) => return Err(at("a bucket without le".to_owned())),
                    (Some("_sum"), None) => entry.1 = Some(value),
                    (Some("_count"), None) => entry.2 = Some(value),
                    _ => return Err(at("a histogram sample".to_owned())),
                }
            }
            _ => {}
        }
    }
    for ((family, series), (buckets, sum, count)) in &histograms {
        let what = format!("histogram {family} {series:?}");
        let count = count.ok_or_else(|| format!("{what}: no _count"))?;
        sum.ok_or_else(|| format!("{what}: no _sum"))?;
        if !buckets
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1)
        {
            return Err(format!("{what}: buckets not ascending and cumulative: {buckets:?}"));
        }
        match buckets.last() {
            Some((le, last)) if *le == f64::INFINITY && *last == count => {}
            _ => {
                return Err(format!(
                    "{what}: the +Inf bucket must hold _count ({count}): {buckets:?}"
                ));
            }
        }
    }
    Ok(scrape)
}

impl Scrape {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&sample_key(name, labels)).copied()
    }

    /// What moved between `before` and `self` among the counters and the histograms'
    /// counts (absent samples are 0).
    fn moved_since(&self, before: &Scrape) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .filter(|(key, _)| {
                let name = key.split('{').next().unwrap_or_default();
                name.ends_with("_total") || name.ends_with("_count")
            })
            .filter_map(|(key, after)| {
                let delta = after - before.samples.get(key).copied().unwrap_or(0.0);
                (delta != 0.0).then(|| (key.clone(), delta))
            })
            .collect()
    }
}

/// Renders `metrics` both ways, parses both strictly, checks they say the same, and returns
/// the OpenMetrics one.
fn scrape(metrics: &Metrics) -> Scrape {
    let open = metrics.render().unwrap_or_else(|error| panic!("render: {error}"));
    let open = parse(&open, Format::OpenMetrics).unwrap_or_else(|error| panic!("OpenMetrics: {error}\n{open}"));
    let (content_type, text) = metrics
        .render_for(Some("text/plain"))
        .unwrap_or_else(|error| panic!("render: {error}"));
    assert_eq!(content_type, PROMETHEUS_TEXT_CONTENT_TYPE);
    let text = parse(&text, Format::PrometheusText).unwrap_or_else(|error| panic!("text 0.0.4: {error}\n{text}"));
    // The same samples (the gauges read at each render may differ in between; the
    // counters of a quiet node do not).
    let counters = |scrape: &Scrape| scrape.moved_since(&Scrape::default());
    assert_eq!(counters(&open), counters(&text), "OpenMetrics and text 0.0.4 disagree");
    open
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    let good = "# HELP a_total A.\n# TYPE a counter\na_total{x=\"1\"} 2\n# EOF\n";
    let cases: [(&str, Option<&str>); 8] = [
        (good, None),
        ("# TYPE a counter\na_total 1\n", Some("end with # EOF")),
        ("# TYPE a counter\na 1\n# EOF\n", Some("sample a in family a")),
        ("a_total 1\n# EOF\n", Some("outside any declared family")),
        ("# TYPE a counter\na_total{x=\"1} 1\n# EOF\n", Some("not closed")),
        ("# TYPE a counter\na_total -1\n# EOF\n", Some("below 0")),
        (
            "# TYPE h histogram\nh_sum 1\nh_count 2\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
            Some("must hold _count"),
        ),
        ("# TYPE a counter\na_total 1 1234\n# EOF\n", Some("no timestamps")),
    ];
    for (text, problem) in cases {
        match (parse(text, Format::OpenMetrics), problem) {
            (Ok(_), None) => {}
            (Err(error), Some(problem)) => assert!(error.contains(problem), "{text:?}: {error}"),
            (outcome, _) => panic!("{text:?}: {outcome:?}, expected {problem:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The layer alone.

#[test]
fn a_path_is_labelled_from_fixed_lists_only() {
    let cases = [
        (
            "/gridledger.v1.IssueService/ReportIssue",
            ISSUE_SERVICE,
            "ReportIssue",
            Some("ReportIssue"),
        ),
        (
            "/gridledger.v1.IssueService/WithdrawIssue",
            ISSUE_SERVICE,
            "WithdrawIssue",
            Some("WithdrawIssue"),
        ),
        ("/gridledger.v1.IssueService/GetIssue", ISSUE_SERVICE, "GetIssue", None),
        (
            "/gridledger.v1.AuditService/ReadAll",
            "gridledger.v1.AuditService",
            "ReadAll",
            None,
        ),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.Health", "Check", None),
        (
            "/gridledger.v1.NodeService/GetNodeStatus",
            "gridledger.v1.NodeService",
            "GetNodeStatus",
            None,
        ),
        ("/gridledger.v1.IssueService/DropTables", OTHER, OTHER, None),
        ("/grpc.health.v1.Health/Anything", OTHER, OTHER, None),
        ("/nonsense", OTHER, OTHER, None),
        ("", OTHER, OTHER, None),
    ];
    for (path, service, method, command) in cases {
        assert_eq!(
            CallKind::of_path(path),
            CallKind {
                service,
                method,
                command
            },
            "{path}"
        );
    }
    // Every command of the domain is an IssueService RPC, and the only IssueService RPCs
    // that are not commands are the two reads.
    for kind in CommandKind::ALL {
        let path = format!("/{ISSUE_SERVICE}/{}", kind.as_str());
        assert_eq!(CallKind::of_path(&path).command, Some(kind.as_str()), "{path}");
    }
    for (service, method) in known_methods() {
        let kind = CallKind::of_path(&format!("/{service}/{method}"));
        assert_eq!((kind.service, kind.method), (service, method));
        // The reads, and the streams: SubmitCommands carries commands but is not one.
        let is_not_a_command = [
            "GetIssue",
            "ListIssues",
            "SubmitCommands",
            "UploadEvidence",
            "GetEvidence",
        ]
        .contains(&method);
        assert_eq!(
            kind.command.is_some(),
            service == ISSUE_SERVICE && !is_not_a_command,
            "{service}/{method}"
        );
    }
}

/// A body of given frames, the trailers last if any.
#[derive(Debug, Default)]
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// A service that answers each call with the response `make` makes, or never answers.
#[derive(Debug, Clone, Copy)]
struct Answer(Option<fn() -> http::Response<Frames>>);

impl Service<http::Request<()>> for Answer {
    type Response = http::Response<Frames>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        match self.0 {
            Some(make) => Box::pin(std::future::ready(Ok(make()))),
            None => Box::pin(std::future::pending()),
        }
    }
}

fn status_headers(code: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(tonic::Status::GRPC_STATUS, HeaderValue::from_static(code));
    headers
}

/// Unary OK as tonic sends it: a message, then `grpc-status: 0` in the trailers.
fn ok_in_trailers() -> http::Response<Frames> {
    http::Response::new(Frames(VecDeque::from([
        Frame::data(Bytes::from_static(b"\0\0\0\0\0")),
        Frame::trailers(status_headers("0")),
    ])))
}

/// An error as tonic sends it: trailers-only, the status in the headers, no body.
fn invalid_in_headers() -> http::Response<Frames> {
    let mut response = http::Response::new(Frames::default());
    *response.headers_mut() = status_headers("3");
    response
}

/// A refusal of access control, tagged by the auth layer.
fn refused_by_the_layer() -> http::Response<Frames> {
    let mut response = http::Response::new(Frames::default());
    *response.headers_mut() = status_headers("16");
    response.extensions_mut().insert(AuthFailure::WrongSecret);
    response
}

/// PERMISSION_DENIED from a service (a scope check), untagged.
fn denied_by_a_service() -> http::Response<Frames> {
    let mut response = http::Response::new(Frames::default());
    *response.headers_mut() = status_headers("7");
    response
}

/// A stream that ends without trailers.
fn no_status() -> http::Response<Frames> {
    http::Response::new(Frames(VecDeque::from([Frame::data(Bytes::from_static(b"x"))])))
}

/// A status that is no gRPC code.
fn strange_status() -> http::Response<Frames> {
    let mut response = http::Response::new(Frames::default());
    *response.headers_mut() = status_headers("99");
    response
}

#[derive(Debug, Clone, Copy)]
enum Reading {
    /// The body read to its end.
    Whole,
    /// The body dropped before its first frame.
    DropBody,
    /// The response future dropped before it answered.
    DropCall,
}

fn test_metrics(directory: &std::path::Path) -> anyhow::Result<Metrics> {
    let log = EventLog::open(EventLogConfig::new(directory))?;
    Ok(Metrics::new(MetricSources {
        log,
        projection: None,
        outbox: None,
        connections: OpenConnections::default(),
    }))
}

#[tokio::test]
async fn the_layer_counts_each_call_once_by_its_final_status() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let metrics = test_metrics(directory.path())?;
    let report = "/gridledger.v1.IssueService/ReportIssue";
    let health = "/grpc.health.v1.Health/Check";
    type Case = (&'static str, Answer, Reading, &'static str, Option<&'static str>);
    let cases: [Case; 9] = [
        (report, Answer(Some(ok_in_trailers)), Reading::Whole, "OK", None),
        (
            report,
            Answer(Some(invalid_in_headers)),
            Reading::Whole,
            "INVALID_ARGUMENT",
            None,
        ),
        (
            report,
            Answer(Some(refused_by_the_layer)),
            Reading::Whole,
            "UNAUTHENTICATED",
            Some("wrong_secret"),
        ),
        (
            report,
            Answer(Some(denied_by_a_service)),
            Reading::Whole,
            "PERMISSION_DENIED",
            Some("scope_denied"),
        ),
        (report, Answer(Some(no_status)), Reading::Whole, "UNKNOWN", None),
        (report, Answer(Some(strange_status)), Reading::Whole, "UNKNOWN", None),
        (
            report,
            Answer(Some(ok_in_trailers)),
            Reading::DropBody,
            "CANCELLED",
            None,
        ),
        (report, Answer(None), Reading::DropCall, "CANCELLED", None),
        (health, Answer(Some(ok_in_trailers)), Reading::Whole, "OK", None),
    ];
    for (path, answer, reading, code, reason) in cases {
        let before = scrape(&metrics);
        let mut service = metrics.layer().layer(answer);
        let request = http::Request::builder().uri(path).body(())?;
        let call = service.call(request);
        match reading {
            Reading::DropCall => {
                let mut call = Box::pin(call);
                let polled = std::future::poll_fn(|context| Poll::Ready(call.as_mut().poll(context))).await;
                assert!(polled.is_pending());
            }
            Reading::DropBody => drop(call.await?),
            Reading::Whole => {
                let mut body = call.await?.into_body();
                while std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context))
                    .await
                    .is_some()
                {}
                // Reading on after the end changes nothing.
                assert!(
                    std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context))
                        .await
                        .is_none()
                );
            }
        }
        let kind = CallKind::of_path(path);
        let mut expected = BTreeMap::from([(
            sample_key(
                "gridledger_rpcs_total",
                &[("service", kind.service), ("method", kind.method), ("code", code)],
            ),
            1.0,
        )]);
        if let Some(command) = kind.command {
            expected.insert(
                sample_key("gridledger_commands_total", &[("command", command), ("code", code)]),
                1.0,
            );
            expected.insert(
                sample_key("gridledger_command_duration_seconds_count", &[("command", command)]),
                1.0,
            );
        }
        if let Some(reason) = reason {
            expected.insert(sample_key("gridledger_auth_failures_total", &[("reason", reason)]), 1.0);
        }
        assert_eq!(scrape(&metrics).moved_since(&before), expected, "{path} {code}");
    }
    Ok(())
}

#[test]
fn the_commands_of_a_stream_count_under_their_own_names_once_metrics_are_attached() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let metrics = test_metrics(directory.path())?;
    let streamed = crate::metrics::StreamedCommandMetrics::default();
    let before = scrape(&metrics);
    // Not attached yet: nothing is counted.
    streamed.record(
        gridledger_domain::CommandKind::ReportIssue,
        tonic::Code::Ok,
        std::time::Duration::from_millis(2),
    );
    assert!(scrape(&metrics).moved_since(&before).is_empty());
    metrics.count_streamed_commands(&streamed);
    for (kind, code) in [
        (gridledger_domain::CommandKind::ReportIssue, tonic::Code::Ok),
        (gridledger_domain::CommandKind::ReportIssue, tonic::Code::Ok),
        (
            gridledger_domain::CommandKind::ResolveIssue,
            tonic::Code::FailedPrecondition,
        ),
    ] {
        streamed.record(kind, code, std::time::Duration::from_millis(2));
    }
    let expected = BTreeMap::from([
        (
            sample_key(
                "gridledger_commands_total",
                &[("command", "ReportIssue"), ("code", "OK")],
            ),
            2.0,
        ),
        (
            sample_key(
                "gridledger_commands_total",
                &[("command", "ResolveIssue"), ("code", "FAILED_PRECONDITION")],
            ),
            1.0,
        ),
        (
            sample_key(
                "gridledger_command_duration_seconds_count",
                &[("command", "ReportIssue")],
            ),
            2.0,
        ),
        (
            sample_key(
                "gridledger_command_duration_seconds_count",
                &[("command", "ResolveIssue")],
            ),
            1.0,
        ),
    ]);
    let moved: BTreeMap<String, f64> = scrape(&metrics)
        .moved_since(&before)
        .into_iter()
        .filter(|(key, _)| !key.contains("_bucket") && !key.contains("_sum"))
        .collect();
    assert_eq!(moved, expected);
    Ok(())
}

#[tokio::test]
async fn a_disabled_layer_passes_calls_through_and_counts_nothing() -> anyhow::Result<()> {
    let mut service = MetricsLayer::disabled().layer(Answer(Some(invalid_in_headers)));
    let response = service
        .call(
            http::Request::builder()
                .uri("/gridledger.v1.IssueService/ReportIssue")
                .body(())?,
        )
        .await?;
    assert_eq!(
        response.headers().get(tonic::Status::GRPC_STATUS),
        Some(&HeaderValue::from_static("3"))
    );
    Ok(())
}

#[test]
fn the_accept_header_chooses_the_format() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let metrics = test_metrics(directory.path())?;
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for (accept, content_type, format) in [
        (Some(prometheus), OPENMETRICS_CONTENT_TYPE, Format::OpenMetrics),
        (Some("text/plain"), PROMETHEUS_TEXT_CONTENT_TYPE, Format::PrometheusText),
        (Some("*/*"), PROMETHEUS_TEXT_CONTENT_TYPE, Format::PrometheusText),
        (None, PROMETHEUS_TEXT_CONTENT_TYPE, Format::PrometheusText),
    ] {
        let (chosen, text) = metrics.render_for(accept)?;
        assert_eq!(chosen, content_type, "{accept:?}");
        parse(&text, format).map_err(|error| anyhow::anyhow!("{accept:?}: {error}\n{text}"))?;
    }
    // An empty log: where everything starts.
    let scrape = scrape(&metrics);
    for (name, value) in [
        ("gridledger_log_head_position", 0.0),
        ("gridledger_log_writer_up", 1.0),
        ("gridledger_log_group_commit_events_count", 0.0),
        ("gridledger_log_flush_duration_seconds_count", 0.0),
        ("gridledger_log_events_committed_total", 0.0),
        ("gridledger_log_flush_failures_total", 0.0),
        ("gridledger_grpc_connections", 0.0),
    ] {
        assert_eq!(scrape.value(name, &[]), Some(value), "{name}");
    }
    // sled writes nothing before the first flush.
    assert_eq!(scrape.value("gridledger_log_disk_bytes", &[]), Some(0.0));
    for reason in AuthFailure::ALL {
        assert_eq!(
            scrape.value("gridledger_auth_failures_total", &[("reason", reason.as_str())]),
            Some(0.0)
        );
    }
    for (family, kind) in [
        ("gridledger_auth_failures", "counter"),
        ("gridledger_log_flush_duration_seconds", "histogram"),
        ("gridledger_log_group_commit_events", "histogram"),
        ("gridledger_log_disk_bytes", "gauge"),
    ] {
        assert_eq!(scrape.types.get(family).map(String::as_str), Some(kind), "{family}");
    }
    // No projection and no outbox here: their metrics are left out.
    assert_eq!(scrape.value("gridledger_projection_lag_events", &[]), None);
    assert_eq!(scrape.value("gridledger_outbox_up", &[]), None);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// End to end: a real server, real calls.

const GRID: &str = "runzhou.s1.c01.g01";
const OTHER_GRID: &str = "runzhou.s1.c01.g02";

/// The principals: (id, role, scope).
const PRINCIPALS: [(&str, Role, &str); 3] = [
    ("worker", Role::GridWorker, GRID),
    ("analyst", Role::Analyst, "runzhou"),
    ("auditor", Role::Auditor, "runzhou"),
];

/// A principal's token; its secret is derived from the id.
fn token(id: &str) -> String {
    token_for(id, &hash_secret(id))
}

fn principals_json() -> String {
    let entries: Vec<serde_json::Value> = PRINCIPALS
        .iter()
        .map(|(id, role, scope)| {
            let token = token(id);
            let (_, secret) = parse_token(&token).unwrap_or_else(|| panic!("token_for makes tokens"));
            serde_json::json!({
                "id": id,
                "role": role,
                "scopes": [scope],
                "token_sha256": hash_secret_hex(secret),
            })
        })
        .collect();
    serde_json::json!({ "principals": entries }).to_string()
}

/// A node as `run.rs` assembles one, with the metrics layer in front of access control.
struct World {
    _directory: tempfile::TempDir,
    metrics: Metrics,
    governance: Arc<LiveGovernance>,
    log: EventLog,
    channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    governance_task: tokio::task::JoinHandle<()>,
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let directory = tempfile::tempdir()?;
        let principals_file = directory.path().join("principals.json");
        std::fs::write(&principals_file, principals_json())?;
        // Built in: grids runzhou.s1.c01.g01 and .g02, category environment.
        let registry = Registry::builtin_runzhou();
        let config = ServerConfig {
            data_dir: directory.path().join("data"),
            listen: "127.0.0.1:0".parse()?,
            registry: registry.clone(),
            auth: Some(AuthConfig {
                reload_interval: None,
                reload_on_sighup: false,
                reload_events: None,
                ..AuthConfig::new(&principals_file)
            }),
            tls: None,
            insecure_allow_non_loopback: false,
            nats: None,
            checkpoints: crate::CheckpointConfig::default(),
            http: None,
        };
        let security = crate::auth::prepare(&config)?;
        let (listener, local_addr) = crate::run::bind(config.listen).await?;
        let log = crate::run::open_log(&config.data_dir).await?;
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let (governance, governance_task) = LiveGovernance::start_in_time_zone(
            log.clone(),
            &jiff::tz::TimeZone::UTC,
            health_reporter.clone(),
            STATS_SERVICE_NAME.to_owned(),
        )
        .await?;
        let registry_for_checkpoints = registry.clone();
        let evidence = crate::run::open_evidence(&config.data_dir).await?;
        let store = IssueStore {
            log: log.clone(),
            registry: Arc::new(registry),
            evidence: evidence.clone(),
        };
        let (_shutting_down, shutdown_begun) = watch::channel(false);
        let issue_service = proto::issue_service_server::IssueServiceServer::new(IssueServiceImpl {
            store: store.clone(),
            governance: governance.clone(),
            submissions: Arc::default(),
            upload_slots: Arc::new(tokio::sync::Semaphore::new(crate::evidence_service::UPLOADS_AT_ONCE)),
            evidence,
            shutdown: shutdown_begun.clone(),
        });
        let (checkpoints, _checkpoint_task) = crate::checkpoints::start_checkpoints(
            log.clone(),
            &config.data_dir,
            &registry_for_checkpoints,
            crate::CheckpointConfig::default(),
            health_reporter,
            shutdown_begun.clone(),
            None,
        )
        .await?;
        let audit_service = proto::audit_service_server::AuditServiceServer::new(AuditServiceImpl {
            store,
            shutdown: shutdown_begun,
            checkpoints,
        });
        let connections = OpenConnections::default();
        let metrics = Metrics::new(MetricSources {
            log: log.clone(),
            projection: Some(governance.clone()),
            outbox: None,
            connections: connections.clone(),
        });
        let router = security
            .server_builder_with(metrics.layer())?
            .layer(crate::wire_guard::WireGuardLayer)
            .add_service(issue_service)
            .add_service(audit_service)
            .add_service(health_service);
        let incoming = limited_incoming_counted(listener, 64, TransportLimits::default(), connections);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{local_addr}"))?.connect().await?;
        Ok(World {
            _directory: directory,
            metrics,
            governance,
            log,
            channel,
            stop: Some(stop),
            server,
            governance_task,
        })
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.channel);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.await??;
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.close()).await??;
        self.governance_task.await?;
        Ok(())
    }
}

/// What a call presents.
#[derive(Debug, Clone, Copy)]
enum Credential {
    Token(&'static str),
    NoToken,
    /// `Bearer` and something that is no token.
    Malformed,
    /// A principal's id with another's secret.
    WrongSecret(&'static str),
    /// A well-formed token of an id the file does not have.
    UnknownId,
    /// The principal's token, and `x-gridledger-actor` naming someone else.
    OtherActor(&'static str),
}

impl Credential {
    fn request<T>(self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let bearer = match self {
            Credential::Token(id) | Credential::OtherActor(id) => Some(token(id)),
            Credential::NoToken => None,
            Credential::Malformed => Some("not-a-token".to_owned()),
            Credential::WrongSecret(id) => Some(token_for(id, &hash_secret("another secret"))),
            Credential::UnknownId => Some(token("stranger")),
        };
        if let Some(bearer) = bearer
            && let Ok(value) = MetadataValue::try_from(format!("Bearer {bearer}"))
        {
            request.metadata_mut().insert("authorization", value);
        }
        if let Credential::OtherActor(_) = self {
            request
                .metadata_mut()
                .insert("x-gridledger-actor", MetadataValue::from_static("someone-else"));
        }
        request
    }
}

/// What a case calls.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// ReportIssue in `grid` with `title` (empty: refused as invalid).
    Report { grid: &'static str, title: &'static str },
    /// HandleInGrid of an issue that does not exist.
    HandleMissing,
    /// ReadIssueHistory (a server stream) of the first issue reported.
    History,
    /// grpc.health.v1.Health/Check, open to all.
    Health,
}

impl Call {
    fn path(self) -> &'static str {
        match self {
            Call::Report { .. } => "/gridledger.v1.IssueService/ReportIssue",
            Call::HandleMissing => "/gridledger.v1.IssueService/HandleInGrid",
            Call::History => "/gridledger.v1.AuditService/ReadIssueHistory",
            Call::Health => "/grpc.health.v1.Health/Check",
        }
    }

    fn meta() -> Option<proto::CommandMeta> {
        Some(proto::CommandMeta {
            request_id: uuid::Uuid::now_v7().to_string(),
            expected_revision: None,
            occurred_at: None,
        })
    }

    /// Sends the call, reading a stream to its end; the code it came to, and the issue a
    /// report created.
    async fn send(self, world: &World, credential: Credential, first_issue: &str) -> (Code, Option<String>) {
        let mut issues = proto::issue_service_client::IssueServiceClient::new(world.channel.clone());
        let mut audit = proto::audit_service_client::AuditServiceClient::new(world.channel.clone());
        let mut health = tonic_health::pb::health_client::HealthClient::new(world.channel.clone());
        let result: Result<Option<String>, tonic::Status> = match self {
            Call::Report { grid, title } => issues
                .report_issue(credential.request(proto::ReportIssueRequest {
                    meta: Call::meta(),
                    issue_id: String::new(),
                    grid_code: grid.to_owned(),
                    category: "environment".to_owned(),
                    title: title.to_owned(),
                    description: "sent by the metrics test".to_owned(),
                    reporter_id: "resident-1".to_owned(),
                    ..Default::default()
                }))
                .await
                .map(|ack| Some(ack.into_inner().issue_id)),
            Call::HandleMissing => issues
                .handle_in_grid(credential.request(proto::HandleInGridRequest {
                    meta: Call::meta(),
                    issue_id: uuid::Uuid::now_v7().to_string(),
                    summary: "nothing to handle".to_owned(),
                    ..Default::default()
                }))
                .await
                .map(|_| None),
            Call::History => {
                async {
                    let mut stream = audit
                        .read_issue_history(credential.request(proto::ReadIssueHistoryRequest {
                            issue_id: first_issue.to_owned(),
                        }))
                        .await?
                        .into_inner();
                    while stream.message().await?.is_some() {}
                    Ok(None)
                }
                .await
            }
            Call::Health => health
                .check(credential.request(tonic_health::pb::HealthCheckRequest { service: String::new() }))
                .await
                .map(|_| None),
        };
        match result {
            Ok(issue) => (Code::Ok, issue),
            Err(status) => (status.code(), None),
        }
    }
}

/// One row: who calls what, the code expected, and the access-control reason expected.
#[derive(Debug, Clone, Copy)]
struct Case {
    credential: Credential,
    call: Call,
    code: Code,
    reason: Option<&'static str>,
}

const fn case(credential: Credential, call: Call, code: Code, reason: Option<&'static str>) -> Case {
    Case {
        credential,
        call,
        code,
        reason,
    }
}

const REPORT: Call = Call::Report {
    grid: GRID,
    title: "Overflowing bins",
};

fn code_label(code: Code) -> &'static str {
    CODE_NAMES[code as usize]
}

/// Sends one case and checks that exactly the counters it should move moved, by one each
/// (and, for a report that wrote its event, the log's), and that the gauges tell the
/// state of the node.
async fn check(world: &World, case: Case, issues: &mut Vec<String>, sent: usize) {
    let before = scrape(&world.metrics);
    let first_issue = issues.first().cloned().unwrap_or_default();
    let (code, issue) = case.call.send(world, case.credential, &first_issue).await;
    assert_eq!(code, case.code, "{case:?}");
    issues.extend(issue);
    let after = scrape(&world.metrics);

    let kind = CallKind::of_path(case.call.path());
    let code = code_label(case.code);
    let mut expected = BTreeMap::from([(
        sample_key(
            "gridledger_rpcs_total",
            &[("service", kind.service), ("method", kind.method), ("code", code)],
        ),
        1.0,
    )]);
    if let Some(command) = kind.command {
        expected.insert(
            sample_key("gridledger_commands_total", &[("command", command), ("code", code)]),
            1.0,
        );
        expected.insert(
            sample_key("gridledger_command_duration_seconds_count", &[("command", command)]),
            1.0,
        );
    }
    if let Some(reason) = case.reason {
        expected.insert(sample_key("gridledger_auth_failures_total", &[("reason", reason)]), 1.0);
    }
    if kind.command.is_some() && case.code == Code::Ok {
        // One event, made durable by one group commit of one flush.
        for name in [
            "gridledger_log_events_committed_total",
            "gridledger_log_group_commit_events_count",
            "gridledger_log_flush_duration_seconds_count",
        ] {
            expected.insert(name.to_owned(), 1.0);
        }
    }
    assert_eq!(after.moved_since(&before), expected, "case {sent}: {case:?}");

    let head = world.log.head().position;
    assert_eq!(head, issues.len() as u64, "one event per issue reported");
    assert_eq!(after.value("gridledger_log_head_position", &[]), Some(head as f64));
    assert_eq!(after.value("gridledger_log_writer_up", &[]), Some(1.0));
    let disk_bytes = after.value("gridledger_log_disk_bytes", &[]).unwrap_or(0.0);
    assert!(
        head == 0 || disk_bytes > 0.0,
        "{disk_bytes} bytes on disk at head {head}"
    );
    // One client, one connection.
    assert_eq!(after.value("gridledger_grpc_connections", &[]), Some(1.0));
    assert_eq!(after.value("gridledger_projection_up", &[]), Some(1.0));
    // Once the projection has applied the head, it lags by nothing.
    world
        .governance
        .wait_for(head)
        .await
        .unwrap_or_else(|error| panic!("the projection does not catch up: {error}"));
    let caught_up = scrape(&world.metrics);
    assert_eq!(caught_up.value("gridledger_projection_lag_events", &[]), Some(0.0));
    assert_eq!(
        caught_up.value("gridledger_projection_applied_position", &[]),
        Some(head as f64)
    );
}

#[tokio::test]
async fn the_counters_move_with_the_commands_sent() -> anyhow::Result<()> {
    let world = World::start().await?;
    let cases = [
        case(Credential::Token("worker"), REPORT, Code::Ok, None),
        case(Credential::Token("worker"), REPORT, Code::Ok, None),
        case(Credential::Token("worker"), REPORT, Code::Ok, None),
        case(
            Credential::Token("worker"),
            Call::Report { grid: GRID, title: "" },
            Code::InvalidArgument,
            None,
        ),
        case(Credential::Token("worker"), Call::HandleMissing, Code::NotFound, None),
        // Outside the worker's grid: the service's scope check.
        case(
            Credential::Token("worker"),
            Call::Report {
                grid: OTHER_GRID,
                title: "Next door",
            },
            Code::PermissionDenied,
            Some("scope_denied"),
        ),
        case(
            Credential::Token("analyst"),
            REPORT,
            Code::PermissionDenied,
            Some("role_denied"),
        ),
        case(
            Credential::NoToken,
            REPORT,
            Code::Unauthenticated,
            Some("no_credentials"),
        ),
        case(Credential::Malformed, REPORT, Code::Unauthenticated, Some("malformed")),
        case(
            Credential::WrongSecret("worker"),
            REPORT,
            Code::Unauthenticated,
            Some("wrong_secret"),
        ),
        case(
            Credential::UnknownId,
            REPORT,
            Code::Unauthenticated,
            Some("unknown_principal"),
        ),
        case(
            Credential::OtherActor("worker"),
            REPORT,
            Code::PermissionDenied,
            Some("actor_mismatch"),
        ),
        case(Credential::Token("worker"), REPORT, Code::Ok, None),
        // A server stream: its status travels in the trailers.
        case(Credential::Token("auditor"), Call::History, Code::Ok, None),
        case(
            Credential::Token("worker"),
            Call::History,
            Code::PermissionDenied,
            Some("role_denied"),
        ),
        // Open to everyone, counted as an RPC only.
        case(Credential::NoToken, Call::Health, Code::Ok, None),
    ];
    let start = scrape(&world.metrics);
    let mut issues = Vec::new();
    for (sent, case) in cases.iter().enumerate() {
        check(&world, *case, &mut issues, sent).await;
    }
    // And in all: N commands that succeeded, M refused, each under its code.
    let end = scrape(&world.metrics);
    let moved = end.moved_since(&start);
    let commands = |code: &str| {
        moved
            .get(&sample_key(
                "gridledger_commands_total",
                &[("command", "ReportIssue"), ("code", code)],
            ))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(commands("OK"), 4.0);
    assert_eq!(commands("PERMISSION_DENIED"), 3.0);
    assert_eq!(commands("UNAUTHENTICATED"), 4.0);
    assert_eq!(commands("INVALID_ARGUMENT"), 1.0);
    assert_eq!(end.value("gridledger_log_group_commit_events_sum", &[]), Some(4.0));
    world.stop().await
}

fn note(request_id: &str) -> gridledger_eventlog::AppendRequest {
    gridledger_eventlog::AppendRequest {
        stream_id: gridledger_eventlog::StreamId::try_from("s").unwrap_or_else(|error| panic!("{error}")),
        expected_revision: gridledger_eventlog::ExpectedRevision::Any,
        request_id: gridledger_eventlog::RequestId::try_from(request_id).unwrap_or_else(|error| panic!("{error}")),
        actor_id: String::new(),
        events: vec![gridledger_eventlog::NewEvent {
            event_type: "Noted".to_owned(),
            occurred_at_micros: 0,
            payload: b"x".to_vec(),
        }],
    }
}

/// The outbox's gauges follow its status and the log's head; the writer is down once the
/// log is closed.
#[test]
fn the_outbox_and_the_writer_are_read_at_each_scrape() -> anyhow::Result<()> {
    use gridledger_bus::OutboxState;

    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    for request_id in ["r1", "r2", "r3"] {
        log.append_blocking(note(request_id))?;
    }
    let status = |state: OutboxState, published_through: u64| OutboxStatus {
        stream: "GRIDLEDGER_RUNZHOU".to_owned(),
        state,
        published_through,
        log_head: 3,
        lag_events: 3 - published_through,
        lag_seconds: 1.5,
        published_total: published_through,
    };
    let (outbox, outbox_status) = watch::channel(status(OutboxState::Publishing, 1));
    let metrics = Metrics::new(MetricSources {
        log: log.clone(),
        projection: None,
        outbox: Some(outbox_status),
        connections: OpenConnections::default(),
    });
    let reconnecting = OutboxState::Connecting {
        reason: Some("NATS is away".to_owned()),
    };
    // (outbox state, published through, up, lag in events)
    let cases = [
        (OutboxState::Publishing, 1, 1.0, 2.0),
        (reconnecting, 1, 0.0, 2.0),
        (OutboxState::Publishing, 3, 1.0, 0.0),
        (OutboxState::Stopped, 3, 0.0, 0.0),
    ];
    for (state, published_through, up, lag) in cases {
        let what = format!("{state:?} through {published_through}");
        outbox.send_replace(status(state, published_through));
        let scrape = scrape(&metrics);
        assert_eq!(scrape.value("gridledger_outbox_up", &[]), Some(up), "{what}");
        assert_eq!(scrape.value("gridledger_outbox_lag_events", &[]), Some(lag), "{what}");
        assert_eq!(
            scrape.value("gridledger_outbox_published_position", &[]),
            Some(published_through as f64),
            "{what}"
        );
        assert_eq!(scrape.value("gridledger_outbox_lag_seconds", &[]), Some(1.5), "{what}");
        assert_eq!(scrape.value("gridledger_log_head_position", &[]), Some(3.0));
        assert_eq!(scrape.value("gridledger_log_group_commit_events_sum", &[]), Some(3.0));
    }
    assert_eq!(scrape(&metrics).value("gridledger_log_writer_up", &[]), Some(1.0));
    log.close()?;
    assert_eq!(scrape(&metrics).value("gridledger_log_writer_up", &[]), Some(0.0));
    Ok(())
}
