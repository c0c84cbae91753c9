//! Commands from request to acknowledgement: load the issue from the log, `decide`, append with an expected revision.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use gridledger_api::{Acknowledgement, CommandRequest, decode_recorded, encode_events};
use gridledger_domain::{
    CommandEnvelope, IssueCommand, IssueEvent, IssueId, IssueState, Registry, Timestamp, WithdrawalReason, decide,
    evolve,
};
use gridledger_eventlog::{
    AppendOutcome, AppendRequest, EventLog, EventLogError, ExpectedRevision, RecordedEvent, RequestId, StreamId,
};

use gridledger_evidence::EvidenceStore;

use crate::auth::{self, Principal};
use crate::error::ServiceError;

/// How often a command without an expected revision is re-decided after losing a race.
const CONFLICT_RETRIES: usize = 8;

/// An issue as its stream stands: its events (as stored and decoded) and the state they fold to.
#[derive(Debug)]
pub(crate) struct LoadedIssue {
    pub(crate) events: Vec<(RecordedEvent, IssueEvent)>,
    pub(crate) state: IssueState,
}

impl LoadedIssue {
    /// The revision of the last event, `None` before the report.
    pub(crate) fn revision(&self) -> Option<u64> {
        self.events.last().map(|(recorded, _)| recorded.record.revision)
    }
}

/// The issue side of the server: the log plus the registry commands are checked against.
#[derive(Debug, Clone)]
pub(crate) struct IssueStore {
    pub(crate) log: EventLog,
    pub(crate) registry: Arc<Registry>,
    /// The photos and videos commands may reference (`<data dir>/evidence`).
    pub(crate) evidence: EvidenceStore,
}

pub(crate) fn now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since_epoch| i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix_micros(micros)
}

pub(crate) fn stream_id_of(issue_id: IssueId) -> Result<StreamId, ServiceError> {
    Ok(StreamId::try_from(issue_id.stream_id())?)
}

/// Decodes one stored event into the domain event it holds.
pub(crate) fn decode_stored(recorded: &RecordedEvent) -> Result<IssueEvent, ServiceError> {
    decode_recorded(recorded).map_err(|source| ServiceError::StoredEvent {
        position: recorded.position,
        source,
    })
}

impl IssueStore {
    /// Reads and folds an issue's stream, up to and including `up_to_revision` if given.
    pub(crate) fn load(&self, issue_id: IssueId, up_to_revision: Option<u64>) -> Result<LoadedIssue, ServiceError> {
        let stream_id = stream_id_of(issue_id)?;
        let max_count = up_to_revision.map_or(usize::MAX, |revision| {
            usize::try_from(revision).unwrap_or(usize::MAX).saturating_add(1)
        });
        let recorded_events = self.log.read_stream(&stream_id, 0, max_count)?;
        let mut state = IssueState::Absent;
        let mut events = Vec::with_capacity(recorded_events.len());
        for recorded in recorded_events {
            let event = decode_stored(&recorded)?;
            state = evolve(state, &event);
            events.push((recorded, event));
        }
        Ok(LoadedIssue { events, state })
    }

    /// Runs one command: the original ack for a seen request id; otherwise decide and append,
    /// re-deciding after a lost race when the client gave no expected revision. With
    /// authentication, `principal` must have the issue in scope (`auth::authorize_command`,
    /// on the state the command is decided on).
    pub(crate) async fn execute(
        &self,
        request: CommandRequest,
        actor_id: &str,
        principal: Option<&Principal>,
    ) -> Result<Acknowledgement, ServiceError> {
        let request_id = RequestId::try_from(request.meta.request_id.clone())?;
        // A seen request id is answered with the original. A report into an issue id the
        // server just chose skips this look-up: it is decided on a new, absent issue, and
        // the append finds a retry by its request id anyway (`RequestIdReused` below).
        let new_issue_report = request.issue_id_chosen_by_server && request.meta.expected_revision.is_none();
        if !new_issue_report && let Some(earlier) = self.log.find_request(&request_id)? {
            return self.ack_for_earlier_append_in_scope(&request, &earlier, principal);
        }
        let stream_id = stream_id_of(request.issue_id)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = self.load(request.issue_id, None)?;
            if let Some(principal) = principal {
                auth::authorize_command(principal, &request.command, &loaded.state)?;
            }
            let current_revision = loaded.revision();
            if let Some(expected) = request.meta.expected_revision
                && Some(expected) != current_revision
            {
                return Err(ServiceError::RevisionMismatch {
                    expected,
                    current: current_revision,
                });
            }
            let mut envelope = CommandEnvelope::new(now(), request.command.clone());
            if let Some(occurred_at) = request.meta.occurred_at {
                envelope = envelope.with_occurred_at(occurred_at);
            }
            let events = match decide(&loaded.state, envelope) {
                Ok(events) => events,
                Err(refusal) => {
                    // A retry whose original committed since the first look is answered
                    // with the original, not refused by the state the original produced.
                    if let Some(earlier) = self.log.find_request(&request_id)? {
                        return self.ack_for_earlier_append_in_scope(&request, &earlier, principal);
                    }
                    return Err(refusal.into());
                }
            };
            // Once the lifecycle allows the command, what it names beyond its own issue must
            // exist. (An issue, once reported, never stops existing: checked once.)
            if attempts == 1 {
                self.check_duplicate_of_exists(&request.command)?;
                self.check_location_in_district(&request.command, &loaded.state)?;
                self.check_evidence_held(&request.command).await?;
            }
            let expected_revision = current_revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            let append = AppendRequest {
                stream_id: stream_id.clone(),
                expected_revision,
                request_id: request_id.clone(),
                actor_id: actor_id.to_owned(),
                events: encode_events(&events),
            };
            match self.log.append(append).await {
                // The retry raced its original, which committed first.
                Ok(outcome) if outcome.duplicate => return self.ack_for_earlier_append(&request, &outcome),
                // A report retried while its original (with another server-chosen id) was
                // being committed: answer with the original, now durable.
                Err(EventLogError::RequestIdReused { .. }) if request.issue_id_chosen_by_server => {
                    if let Some(earlier) = self.log.find_request(&request_id)? {
                        return self.ack_for_earlier_append_in_scope(&request, &earlier, principal);
                    }
                    return Err(ServiceError::FirstAttemptInFlight {
                        request_id: request_id.to_string(),
                    });
                }
                Ok(outcome) => {
                    let state_after = events.iter().fold(loaded.state, evolve);
                    return Ok(Acknowledgement::of_append(
                        request.issue_id,
                        &outcome,
                        state_after.status(),
                    ));
                }
                Err(EventLogError::Conflict { current_revision, .. }) => {
                    if let Some(expected) = request.meta.expected_revision {
                        return Err(ServiceError::RevisionMismatch {
                            expected,
                            current: current_revision,
                        });
                    }
                    if attempts >= CONFLICT_RETRIES {
                        return Err(ServiceError::Contended {
                            issue_id: request.issue_id.to_string(),
                            attempts,
                        });
                    }
                    tracing::debug!(issue_id = %request.issue_id, attempts, "lost a race on the issue; deciding again");
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// A withdrawal as a duplicate names an issue that exists (NOT_FOUND otherwise).
    fn check_duplicate_of_exists(&self, command: &IssueCommand) -> Result<(), ServiceError> {
        if let IssueCommand::WithdrawIssue(withdraw) = command
            && let WithdrawalReason::Duplicate { duplicate_of } = withdraw.reason
            && self.log.read_stream(&stream_id_of(duplicate_of)?, 0, 1)?.is_empty()
        {
            return Err(ServiceError::DuplicateOfNotFound {
                duplicate_of: duplicate_of.to_string(),
            });
        }
        Ok(())
    }

    /// A location given with a handling or a resolution lies within the bounding box of the
    /// issue's district (a report's was checked against its grid's district on receipt).
    fn check_location_in_district(&self, command: &IssueCommand, state: &IssueState) -> Result<(), ServiceError> {
        if let IssueCommand::ReportIssue(_) = command {
            return Ok(());
        }
        if let (Some(location), Some(issue)) = (command.location(), state.issue()) {
            self.registry.check_location(&issue.grid, location)?;
        }
        Ok(())
    }

    /// Every blob the command references is held by the evidence store, with the size and
    /// media type the ref states (FAILED_PRECONDITION otherwise): an event never names a
    /// photo the node cannot produce.
    async fn check_evidence_held(&self, command: &IssueCommand) -> Result<(), ServiceError> {
        let references = command.evidence().to_vec();
        if references.is_empty() {
            return Ok(());
        }
        let store = self.evidence.clone();
        let held = tokio::task::spawn_blocking(move || {
            references
                .into_iter()
                .map(|reference| store.stat(&reference.sha256).map(|held| (reference, held)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|source| ServiceError::Task {
            task: "looking up evidence",
            source,
        })??;
        for (reference, held) in held {
            match held {
                None => {
                    return Err(ServiceError::EvidenceNotHeld {
                        sha256: reference.sha256.to_hex(),
                        problem: "the node holds no such blob: upload it with UploadEvidence first".to_owned(),
                    });
                }
                Some(held) if held.size != reference.size || held.media_type != reference.media_type => {
                    return Err(ServiceError::EvidenceNotHeld {
                        sha256: reference.sha256.to_hex(),
                        problem: format!(
                            "the node holds it as {} bytes of {}, not {} bytes of {}",
                            held.size, held.media_type, reference.size, reference.media_type
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// [`Self::ack_for_earlier_append`], given only to a principal with the issue in scope.
    fn ack_for_earlier_append_in_scope(
        &self,
        request: &CommandRequest,
        earlier: &AppendOutcome,
        principal: Option<&Principal>,
    ) -> Result<Acknowledgement, ServiceError> {
        let acknowledgement = self.ack_for_earlier_append(request, earlier)?;
        if let Some(principal) = principal {
            auth::require_issue_scope(principal, &self.load(acknowledgement.issue_id, None)?.state)?;
        }
        Ok(acknowledgement)
    }

    /// The ack of a committed append whose request id came again.
    fn ack_for_earlier_append(
        &self,
        request: &CommandRequest,
        earlier: &AppendOutcome,
    ) -> Result<Acknowledgement, ServiceError> {
        let issue_id = if request.issue_id_chosen_by_server {
            // A retried report: the issue its first attempt created (a report is revision 0),
            // whatever id the server picked for this attempt.
            IssueId::from_stream_id(earlier.stream_id.as_str())
                .ok()
                .filter(|_| earlier.last_revision == 0)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "meta.request_id",
                        format!("was already used for another command, on {}", earlier.stream_id),
                    )
                })?
        } else {
            request.issue_id
        };
        if earlier.stream_id.as_str() != issue_id.stream_id() {
            return Err(ServiceError::invalid(
                "meta.request_id",
                format!("was already used for a command on {}", earlier.stream_id),
            ));
        }
        let loaded = self.load(issue_id, Some(earlier.last_revision))?;
        let mut acknowledgement = Acknowledgement::of_append(issue_id, earlier, loaded.state.status());
        acknowledgement.duplicate = true;
        Ok(acknowledgement)
    }
}
