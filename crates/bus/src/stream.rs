//! A district's JetStream stream: created with the settings the outbox relies on, refused
//! when it exists with others, and asked where it stands.
//!
//! The outbox makes stream sequence N equal log position N, so the stream must keep every
//! message forever and nobody may delete or purge one: limits retention without any limit,
//! file storage, `deny_delete`, `deny_purge`. An existing stream is never changed: if it
//! differs in anything that matters, [`ensure_district_stream`] refuses with
//! [`BusError::StreamConfigMismatch`] naming each difference, for the operator to fix.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use gridledger_domain::DistrictCode;

use crate::connection::NatsConnection;
use crate::error::BusError;
use crate::naming::{checkpoint_stream_name, checkpoint_subject, stream_name, stream_subjects};

/// The JetStream duplicate window when none is given: the server's own default.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The settings of a district's stream that are the operator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// How many servers keep a copy (1, or 3 in a cluster).
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a duplicate publish. The outbox
    /// does not depend on it: `Nats-Expected-Last-Sequence` refuses a late duplicate anyway.
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            replicas: 1,
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
        }
    }
}

/// Where a stream stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    /// The stream's name.
    pub stream: String,
    /// The sequence of the last message stored (0 for an empty stream). For a district's
    /// stream written only by the outbox this is the last log position published.
    pub last_sequence: u64,
    /// How many messages the stream holds.
    pub messages: u64,
}

impl StreamState {
    fn of_info(info: &jetstream::stream::Info) -> StreamState {
        StreamState {
            stream: info.config.name.clone(),
            last_sequence: info.state.last_sequence,
            messages: info.state.messages,
        }
    }
}

/// The stream configuration gridledger creates for `district`.
fn district_stream_config(district: &DistrictCode, settings: &StreamSettings) -> Config {
    keep_everything_config(
        stream_name(district),
        format!(
            "gridledger event log of district {}: sequence N is log position N",
            district.as_str()
        ),
        stream_subjects(district),
        settings,
    )
}

/// The configuration of `district`'s checkpoint stream: the same keep-everything settings as
/// its event stream, one subject.
fn checkpoint_stream_config(district: &DistrictCode, settings: &StreamSettings) -> Config {
    keep_everything_config(
        checkpoint_stream_name(district),
        format!(
            "gridledger checkpoints of district {}: its signed notes, in tree size order",
            district.as_str()
        ),
        checkpoint_subject(district),
        settings,
    )
}

/// A stream that keeps every message forever and lets nobody delete or purge one.
fn keep_everything_config(name: String, description: String, subject: String, settings: &StreamSettings) -> Config {
    Config {
        name,
        description: Some(description),
        subjects: vec![subject],
        retention: RetentionPolicy::Limits,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_message_size: -1,
        max_age: Duration::ZERO,
        discard: DiscardPolicy::Old,
        storage: StorageType::File,
        num_replicas: settings.replicas.max(1),
        duplicate_window: settings.duplicate_window,
        deny_delete: true,
        deny_purge: true,
        allow_rollup: false,
        ..Default::default()
    }
}

/// Every way `found` differs from `wanted` in what the outbox relies on, one phrase each.
///
/// Limits are compared as "unlimited or not": the server stores an absent limit as -1 or 0.
/// Besides the settings gridledger chooses, a stream that cannot hold the log verbatim is
/// refused: sealed, without acks, a mirror or with sources, with a subject transform, with
/// rollups, message TTLs or counters.
fn config_differences(wanted: &Config, found: &Config) -> Vec<String> {
    let mut differences = Vec::new();
    let mut differ = |setting: &str, wanted_value: String, found_value: String| {
        if wanted_value != found_value {
            differences.push(format!("{setting} is {found_value}, want {wanted_value}"));
        }
    };
    let mut wanted_subjects = wanted.subjects.clone();
    wanted_subjects.sort();
    let mut found_subjects = found.subjects.clone();
    found_subjects.sort();
    differ(
        "subjects",
        format!("{wanted_subjects:?}"),
        format!("{found_subjects:?}"),
    );
    differ(
        "retention",
        format!("{:?}", wanted.retention),
        format!("{:?}", found.retention),
    );
    differ(
        "storage",
        format!("{:?}", wanted.storage),
        format!("{:?}", found.storage),
    );
    differ(
        "deny_delete",
        wanted.deny_delete.to_string(),
        found.deny_delete.to_string(),
    );
    differ(
        "deny_purge",
        wanted.deny_purge.to_string(),
        found.deny_purge.to_string(),
    );
    differ(
        "replicas",
        wanted.num_replicas.max(1).to_string(),
        found.num_replicas.max(1).to_string(),
    );
    differ(
        "duplicate_window",
        format!("{:?}", wanted.duplicate_window),
        format!("{:?}", found.duplicate_window),
    );
    let limit = |value: i64| {
        if value <= 0 {
            "unlimited".to_owned()
        } else {
            value.to_string()
        }
    };
    differ("max_msgs", limit(wanted.max_messages), limit(found.max_messages));
    differ("max_bytes", limit(wanted.max_bytes), limit(found.max_bytes));
    differ(
        "max_msgs_per_subject",
        limit(wanted.max_messages_per_subject),
        limit(found.max_messages_per_subject),
    );
    differ(
        "max_msg_size",
        limit(i64::from(wanted.max_message_size)),
        limit(i64::from(found.max_message_size)),
    );
    let age = |value: Duration| {
        if value.is_zero() {
            "unlimited".to_owned()
        } else {
            format!("{value:?}")
        }
    };
    differ("max_age", age(wanted.max_age), age(found.max_age));
    differ("sealed", wanted.sealed.to_string(), found.sealed.to_string());
    differ("no_ack", wanted.no_ack.to_string(), found.no_ack.to_string());
    differ(
        "allow_rollup_hdrs",
        wanted.allow_rollup.to_string(),
        found.allow_rollup.to_string(),
    );
    differ(
        "allow_msg_ttl",
        wanted.allow_message_ttl.to_string(),
        found.allow_message_ttl.to_string(),
    );
    differ(
        "allow_msg_counter",
        wanted.allow_message_counter.to_string(),
        found.allow_message_counter.to_string(),
    );
    differ(
        "mirror",
        "none".to_owned(),
        found
            .mirror
            .as_ref()
            .map_or("none".to_owned(), |mirror| mirror.name.clone()),
    );
    differ(
        "sources",
        "none".to_owned(),
        match &found.sources {
            Some(sources) if !sources.is_empty() => sources
                .iter()
                .map(|source| source.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".to_owned(),
        },
    );
    differ(
        "subject_transform",
        "none".to_owned(),
        found.subject_transform.as_ref().map_or("none".to_owned(), |transform| {
            format!("{} -> {}", transform.source, transform.destination)
        }),
    );
    differences
}

/// The stream's info, `None` when it does not exist.
async fn stream_info(connection: &NatsConnection, stream: &str) -> Result<Option<jetstream::stream::Info>, BusError> {
    match connection.jetstream.get_stream(stream).await {
        Ok(handle) => Ok(Some(handle.cached_info().clone())),
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(api_error)
                if api_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(BusError::nats(format!("reading stream {stream}"), error)),
        },
    }
}

fn check_config(wanted: &Config, info: &jetstream::stream::Info) -> Result<StreamState, BusError> {
    let differences = config_differences(wanted, &info.config);
    if differences.is_empty() {
        Ok(StreamState::of_info(info))
    } else {
        Err(BusError::StreamConfigMismatch {
            stream: wanted.name.clone(),
            differences: differences.join("; "),
        })
    }
}

/// Creates the stream of `district` (`stream_name(district)`, subjects
/// `stream_subjects(district)`) with `settings`, or checks the one that exists.
///
/// The stream keeps everything: limits retention without limits, file storage,
/// `deny_delete`, `deny_purge`, discard old. An existing stream that differs in subjects,
/// retention, storage, deny_delete, deny_purge, replicas, limits, duplicate window, or
/// that cannot hold the log verbatim (sealed, no_ack, mirror, sources, subject transform,
/// rollups, TTLs, counters) is left as it is and refused with
/// [`BusError::StreamConfigMismatch`] naming each difference.
pub async fn ensure_district_stream(
    connection: &NatsConnection,
    district: &DistrictCode,
    settings: &StreamSettings,
) -> Result<StreamState, BusError> {
    ensure_stream(connection, district_stream_config(district, settings)).await
}

/// Creates the stream of `district`'s checkpoints (`checkpoint_stream_name(district)`, the
/// one subject `checkpoint_subject(district)`) with `settings` and the same keep-everything
/// configuration as [`ensure_district_stream`], or checks the one that exists; one that
/// differs is refused with [`BusError::StreamConfigMismatch`] and left as it is.
pub async fn ensure_checkpoint_stream(
    connection: &NatsConnection,
    district: &DistrictCode,
    settings: &StreamSettings,
) -> Result<StreamState, BusError> {
    ensure_stream(connection, checkpoint_stream_config(district, settings)).await
}

async fn ensure_stream(connection: &NatsConnection, wanted: Config) -> Result<StreamState, BusError> {
    if let Some(info) = stream_info(connection, &wanted.name).await? {
        return check_config(&wanted, &info);
    }
    match connection.jetstream.create_stream(wanted.clone()).await {
        Ok(created) => {
            tracing::info!(stream = %wanted.name, replicas = wanted.num_replicas, "created the stream");
            check_config(&wanted, created.cached_info())
        }
        Err(error) => {
            let created_meanwhile = matches!(
                error.kind(),
                CreateStreamErrorKind::JetStream(api_error)
                    if api_error.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST
            );
            if created_meanwhile && let Some(info) = stream_info(connection, &wanted.name).await? {
                return check_config(&wanted, &info);
            }
            Err(BusError::nats(format!("creating stream {}", wanted.name), error))
        }
    }
}

/// Where `stream` stands now; [`BusError::StreamNotFound`] when it does not exist.
pub async fn stream_state(connection: &NatsConnection, stream: &str) -> Result<StreamState, BusError> {
    match stream_info(connection, stream).await? {
        Some(info) => Ok(StreamState::of_info(&info)),
        None => Err(BusError::StreamNotFound {
            stream: stream.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(change: impl FnOnce(&mut Config), expected_settings: &[&str]) {
        let district = DistrictCode::parse("runzhou").expect("a valid district");
        let wanted = district_stream_config(&district, &StreamSettings::default());
        let mut found = wanted.clone();
        change(&mut found);
        let differences = config_differences(&wanted, &found);
        let named: Vec<&str> = differences
            .iter()
            .map(|difference| difference.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(named, expected_settings, "{differences:?}");
    }

    #[test]
    fn differences_name_each_setting_that_matters() {
        check(|_| {}, &[]);
        // How the server reports absent limits and replicas is not a difference.
        check(
            |config| {
                config.max_messages = 0;
                config.max_bytes = 0;
                config.max_message_size = 0;
                config.num_replicas = 0;
            },
            &[],
        );
        check(|config| config.storage = StorageType::Memory, &["storage"]);
        check(
            |config| {
                config.max_age = Duration::from_secs(3600);
                config.deny_purge = false;
            },
            &["deny_purge", "max_age"],
        );
        check(|config| config.subjects = vec!["elsewhere.>".to_owned()], &["subjects"]);
        check(|config| config.retention = RetentionPolicy::WorkQueue, &["retention"]);
        check(
            |config| config.duplicate_window = Duration::from_secs(1),
            &["duplicate_window"],
        );
        check(|config| config.num_replicas = 3, &["replicas"]);
        check(|config| config.max_messages = 1000, &["max_msgs"]);
        check(|config| config.sealed = true, &["sealed"]);
        // Discard matters only with limits, and there are none.
        check(|config| config.discard = DiscardPolicy::New, &[]);
    }

    #[test]
    fn the_checkpoint_stream_keeps_everything_like_the_event_stream() {
        let district = DistrictCode::parse("runzhou").expect("a valid district");
        let settings = StreamSettings {
            replicas: 3,
            ..StreamSettings::default()
        };
        let events = district_stream_config(&district, &settings);
        let checkpoints = checkpoint_stream_config(&district, &settings);
        assert_eq!(checkpoints.name, "GRIDLEDGER_RUNZHOU_CHECKPOINTS");
        assert_eq!(checkpoints.subjects, ["gridledger.checkpoint.runzhou"]);
        // Only the name and the subjects differ from the event stream's settings.
        let differences = config_differences(&events, &checkpoints);
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert!(differences[0].starts_with("subjects"), "{differences:?}");
        assert_eq!(checkpoints.num_replicas, 3);
        assert!(checkpoints.deny_delete && checkpoints.deny_purge);
    }
}
