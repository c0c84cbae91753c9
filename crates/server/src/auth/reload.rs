//! The principals in force, and reloading them: on SIGHUP and whenever the file's contents
//! change (a poll, every [`super::AuthConfig::reload_interval`]). A reload swaps the set
//! in one step; calls already admitted keep the principal they were admitted as. A file
//! that does not load is refused, logged with the line and field at fault, and the
//! principals loaded before stay in force.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use gridledger_domain::Registry;
use sha2::{Digest, Sha256};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc::UnboundedSender;

use super::policy::SecurityError;
use super::principals::{PrincipalSet, PrincipalsFileError};
use super::{AuthConfig, ReloadEvent};

/// How often the watcher wakes to see whether the server is gone, when it does not poll.
const LIVENESS_CHECK: Duration = Duration::from_secs(5);

/// What the layer authenticates against.
#[derive(Debug)]
pub(crate) struct AuthState {
    principals: RwLock<Arc<PrincipalSet>>,
    pub(crate) registry: Arc<Registry>,
}

impl AuthState {
    /// The principals in force now.
    pub(crate) fn principals(&self) -> Arc<PrincipalSet> {
        self.principals.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn replace(&self, principals: PrincipalSet) {
        *self.principals.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(principals);
    }
}

/// Why a read of the file failed, as one message.
#[derive(Debug)]
enum LoadError {
    Read(std::io::Error),
    Invalid(PrincipalsFileError),
}

fn parse(bytes: &[u8], registry: &Registry) -> Result<PrincipalSet, PrincipalsFileError> {
    let text = std::str::from_utf8(bytes).map_err(|error| PrincipalsFileError::Syntax {
        line: bytes[..error.valid_up_to()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1,
        column: 0,
        message: "the file is not UTF-8".to_owned(),
    })?;
    PrincipalSet::from_json(text, registry)
}

/// Loads the file and starts watching it. The SIGHUP handler is installed before this
/// returns, so a SIGHUP sent once the server is up never finds the default action (exit).
pub(crate) fn load_and_watch(config: &AuthConfig, registry: Registry) -> Result<Arc<AuthState>, SecurityError> {
    let path = config.principals_file.clone();
    let bytes = std::fs::read(&path).map_err(|source| SecurityError::ReadPrincipals {
        path: path.clone(),
        source,
    })?;
    let principals = parse(&bytes, &registry).map_err(|source| SecurityError::Principals {
        path: path.clone(),
        source,
    })?;
    tracing::info!(path = %path.display(), principals = principals.len(), "principals loaded");
    let state = Arc::new(AuthState {
        principals: RwLock::new(Arc::new(principals)),
        registry: Arc::new(registry),
    });
    let hangups = if config.reload_on_sighup {
        match signal(SignalKind::hangup()) {
            Ok(hangups) => Some(hangups),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; the principals file is reloaded only when it changes");
                None
            }
        }
    } else {
        None
    };
    let watcher = Watcher {
        state: Arc::downgrade(&state),
        path,
        poll: config.reload_interval,
        events: config.reload_events.clone(),
        last_seen: Sha256::digest(&bytes).into(),
    };
    tokio::spawn(watcher.run(hangups));
    Ok(state)
}

struct Watcher {
    /// Weak: the watcher ends once the server (which holds the state) is gone.
    state: Weak<AuthState>,
    path: std::path::PathBuf,
    poll: Option<Duration>,
    events: Option<UnboundedSender<ReloadEvent>>,
    /// SHA-256 of the contents last looked at, loaded or refused.
    last_seen: [u8; 32],
}

impl Watcher {
    async fn run(mut self, mut hangups: Option<Signal>) {
        let mut ticks = tokio::time::interval(self.poll.unwrap_or(LIVENESS_CHECK));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_read_error: Option<String> = None;
        loop {
            let hangup = tokio::select! {
                _ = ticks.tick() => false,
                received = async {
                    match hangups.as_mut() {
                        Some(hangups) => hangups.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if received.is_none() {
                        // The signal driver is gone; rely on the poll.
                        hangups = None;
                        continue;
                    }
                    true
                }
            };
            let Some(state) = self.state.upgrade() else { return };
            if !hangup && self.poll.is_none() {
                continue;
            }
            let trigger = if hangup { "SIGHUP" } else { "file changed" };
            match self.look(&state, hangup).await {
                Ok(None) => last_read_error = None,
                Ok(Some(count)) => {
                    last_read_error = None;
                    tracing::info!(path = %self.path.display(), principals = count, trigger, "reloaded the principals file");
                    self.tell(ReloadEvent::Reloaded { principals: count });
                }
                Err(LoadError::Invalid(error)) => {
                    last_read_error = None;
                    tracing::error!(
                        path = %self.path.display(),
                        %error,
                        trigger,
                        in_force = state.principals().len(),
                        "refused the principals file; the principals loaded before stay in force"
                    );
                    self.tell(ReloadEvent::Refused {
                        error: error.to_string(),
                    });
                }
                Err(LoadError::Read(error)) => {
                    let message = error.to_string();
                    // Said once per problem, not at every poll.
                    if hangup || last_read_error.as_ref() != Some(&message) {
                        tracing::error!(
                            path = %self.path.display(),
                            error = %message,
                            trigger,
                            "cannot read the principals file; the principals loaded before stay in force"
                        );
                        self.tell(ReloadEvent::Refused {
                            error: format!("cannot read {}: {message}", self.path.display()),
                        });
                    }
                    last_read_error = Some(message);
                }
            }
        }
    }

    /// Reads the file and, when it changed (or always, on SIGHUP), loads it: the number of
    /// principals now in force, or `None` when nothing changed.
    async fn look(&mut self, state: &AuthState, always: bool) -> Result<Option<usize>, LoadError> {
        let bytes = read(&self.path).await.map_err(LoadError::Read)?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if digest == self.last_seen && !always {
            return Ok(None);
        }
        self.last_seen = digest;
        let principals = parse(&bytes, &state.registry).map_err(LoadError::Invalid)?;
        let count = principals.len();
        state.replace(principals);
        Ok(Some(count))
    }

    fn tell(&self, event: ReloadEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }
}

/// Reads the file off the async workers.
async fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(std::io::Error::other)?
}
