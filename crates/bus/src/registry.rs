//! The district's registry on the bus: one key per district stream in the key-value bucket
//! [`REGISTRY_BUCKET`], its value the registry JSON (`Registry::to_json_pretty`), so that
//! whoever reads a district's stream can also read the names of its grids and categories.

use async_nats::jetstream;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::kv;
use gridledger_domain::Registry;

use crate::connection::NatsConnection;
use crate::error::BusError;
use crate::naming::REGISTRY_BUCKET;

/// How many earlier values of a key the bucket keeps (a changed registry stays readable for
/// a while after it was replaced).
const REGISTRY_HISTORY: i64 = 10;

/// The JetStream stream behind a key-value bucket.
fn bucket_stream_name(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// Whether the registry bucket exists.
async fn registry_bucket_exists(connection: &NatsConnection) -> Result<bool, BusError> {
    match connection
        .jetstream
        .get_stream(bucket_stream_name(REGISTRY_BUCKET))
        .await
    {
        Ok(_) => Ok(true),
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(api_error)
                if api_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(false)
            }
            _ => Err(BusError::nats(format!("reading bucket {REGISTRY_BUCKET}"), error)),
        },
    }
}

async fn open_registry_bucket(connection: &NatsConnection) -> Result<kv::Store, BusError> {
    connection
        .jetstream
        .get_key_value(REGISTRY_BUCKET)
        .await
        .map_err(|error| BusError::nats(format!("opening bucket {REGISTRY_BUCKET}"), error))
}

/// The registry bucket, created (file storage, `replicas` copies) if absent.
async fn open_or_create_registry_bucket(connection: &NatsConnection, replicas: usize) -> Result<kv::Store, BusError> {
    if registry_bucket_exists(connection).await? {
        return open_registry_bucket(connection).await;
    }
    let config = kv::Config {
        bucket: REGISTRY_BUCKET.to_owned(),
        description: "gridledger: each district's registry, keyed by its stream name".to_owned(),
        history: REGISTRY_HISTORY,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas.max(1),
        ..Default::default()
    };
    match connection.jetstream.create_key_value(config).await {
        Ok(store) => {
            tracing::info!(bucket = REGISTRY_BUCKET, "created the registry bucket");
            Ok(store)
        }
        // Someone else created it meanwhile (with the same or other settings): use theirs.
        Err(create_error) => match registry_bucket_exists(connection).await {
            Ok(true) => open_registry_bucket(connection).await,
            _ => Err(BusError::nats(
                format!("creating bucket {REGISTRY_BUCKET}"),
                create_error,
            )),
        },
    }
}

/// Stores `registry` under the key `district_stream` in [`REGISTRY_BUCKET`] (creating the
/// bucket with `replicas` copies if absent). Writes only when the stored value differs;
/// returns whether it wrote.
pub async fn publish_registry(
    connection: &NatsConnection,
    district_stream: &str,
    registry: &Registry,
    replicas: usize,
) -> Result<bool, BusError> {
    let json = registry.to_json_pretty().map_err(|error| BusError::Registry {
        stream: district_stream.to_owned(),
        reason: error.to_string(),
    })?;
    let bucket = open_or_create_registry_bucket(connection, replicas).await?;
    let stored = bucket
        .get(district_stream)
        .await
        .map_err(|error| BusError::nats(format!("reading {REGISTRY_BUCKET}/{district_stream}"), error))?;
    if stored.as_deref() == Some(json.as_bytes()) {
        return Ok(false);
    }
    bucket
        .put(district_stream, json.into())
        .await
        .map_err(|error| BusError::nats(format!("writing {REGISTRY_BUCKET}/{district_stream}"), error))?;
    tracing::info!(
        stream = district_stream,
        bucket = REGISTRY_BUCKET,
        "published the district's registry"
    );
    Ok(true)
}

/// The registry stored for the district stream `stream`; `None` when the bucket or the key
/// does not exist; [`BusError::Registry`] when the value is not a valid registry.
pub async fn fetch_registry(connection: &NatsConnection, stream: &str) -> Result<Option<Registry>, BusError> {
    if !registry_bucket_exists(connection).await? {
        return Ok(None);
    }
    let bucket = open_registry_bucket(connection).await?;
    let Some(value) = bucket
        .get(stream)
        .await
        .map_err(|error| BusError::nats(format!("reading {REGISTRY_BUCKET}/{stream}"), error))?
    else {
        return Ok(None);
    };
    let json = std::str::from_utf8(&value).map_err(|error| BusError::Registry {
        stream: stream.to_owned(),
        reason: format!("the stored value is not UTF-8: {error}"),
    })?;
    Registry::from_json_str(json)
        .map(Some)
        .map_err(|error| BusError::Registry {
            stream: stream.to_owned(),
            reason: error.to_string(),
        })
}
