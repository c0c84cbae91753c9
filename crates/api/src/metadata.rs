//! Request metadata keys of the gRPC contract.

/// Who sends a command, recorded as its events' `actor_id` (up to 128 characters) until
/// authentication names the principal.
pub const ACTOR_METADATA_KEY: &str = "x-gridledger-actor";

/// Most characters of an actor recorded from [`ACTOR_METADATA_KEY`].
pub const MAX_ACTOR_CHARS: usize = 128;

/// The actor a request names (empty when it names none or the value is not text).
pub fn actor_of<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get(ACTOR_METADATA_KEY)
        .and_then(|value| value.to_str().ok())
        .map(|actor| actor.chars().take(MAX_ACTOR_CHARS).collect())
        .unwrap_or_default()
}
