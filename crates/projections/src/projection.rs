//! `GovernanceProjection`: the facts of every issue and meeting, folded from the log, checkpointed in the log's database.

use std::collections::{HashMap, HashSet};

use gridledger_codec::decode_record;
use gridledger_domain::{CategoryCode, GridCode, IssueEvent, IssueEventBody, IssueId, IssueStatus};
use gridledger_eventlog::{EventLog, Position, ProjectionStore, RecordedEvent};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::aggregates::{Aggregates, LocalMonths};
use crate::error::ProjectionError;
use crate::facts::{IssueFacts, MeetingFacts};

/// One checkpoint entry to write: its key and its value (`None` removes it).
type CheckpointChange = (Vec<u8>, Option<Vec<u8>>);

/// Name of the governance projection's checkpoint in the log's database.
pub const CHECKPOINT_NAME: &str = "governance";

/// Events read from the log per batch while replaying.
const REPLAY_CHUNK: usize = 4_096;

/// The governance statistics' read model: every issue's facts and every meeting's, as of
/// log position [`GovernanceProjection::position`], with months (cells, month and year
/// breakdowns) in the district's time zone, [`GovernanceProjection::time_zone`].
///
/// The facts hold instants only, so the zone is not part of the checkpoint: the month
/// aggregates are rebuilt in the zone given to [`GovernanceProjection::load`], whatever
/// zone the checkpoint was written in.
#[derive(Debug, Clone)]
pub struct GovernanceProjection {
    pub(crate) position: Position,
    pub(crate) grids: Vec<GridCode>,
    grid_ordinals: HashMap<GridCode, u32>,
    pub(crate) categories: Vec<CategoryCode>,
    category_ordinals: HashMap<CategoryCode, u32>,
    pub(crate) issue_ids: Vec<IssueId>,
    pub(crate) issues: Vec<IssueFacts>,
    /// Issue ordinals per grid ordinal, so a scoped query visits only its own issues.
    pub(crate) issues_by_grid: Vec<Vec<u32>>,
    issue_ordinals: HashMap<IssueId, u32>,
    pub(crate) meetings: HashMap<String, MeetingFacts>,
    /// Sums per (scope, category, month), kept in step with the facts...
    pub(crate) aggregates: Aggregates,
    /// ...except during a replay, which builds them once at the end.
    aggregates_deferred: bool,
    changed_issues: HashSet<u32>,
    changed_meetings: HashSet<String>,
}

/// An issue's facts as stored in a checkpoint (codes instead of table indexes).
#[derive(Debug, Serialize, Deserialize)]
struct StoredIssue {
    grid: GridCode,
    category: CategoryCode,
    facts: IssueFacts,
}

/// A meeting as stored in a checkpoint (issue ids instead of ordinals).
#[derive(Debug, Serialize, Deserialize)]
struct StoredMeeting {
    concluded_at: i64,
    participants: u32,
    issues: Vec<IssueId>,
}

const ISSUE_KEY: u8 = b'i';
const MEETING_KEY: u8 = b'm';

fn intern<T: Clone + Eq + std::hash::Hash>(table: &mut Vec<T>, ordinals: &mut HashMap<T, u32>, value: &T) -> u32 {
    if let Some(ordinal) = ordinals.get(value) {
        return *ordinal;
    }
    let ordinal = table.len() as u32;
    table.push(value.clone());
    ordinals.insert(value.clone(), ordinal);
    ordinal
}

impl GovernanceProjection {
    /// An empty projection (position 0) whose months are those of `time_zone`, the zone of
    /// the district whose log it folds (`Registry::time_zone_of`).
    pub fn new(time_zone: &TimeZone) -> Self {
        GovernanceProjection {
            position: 0,
            grids: Vec::new(),
            grid_ordinals: HashMap::new(),
            categories: Vec::new(),
            category_ordinals: HashMap::new(),
            issue_ids: Vec::new(),
            issues: Vec::new(),
            issues_by_grid: Vec::new(),
            issue_ordinals: HashMap::new(),
            meetings: HashMap::new(),
            aggregates: Aggregates::new(LocalMonths::new(time_zone.clone())),
            aggregates_deferred: false,
            changed_issues: HashSet::new(),
            changed_meetings: HashSet::new(),
        }
    }

    /// The time zone of the months (`GroupBy::Month`, `GroupBy::Year` and the per-month
    /// cells).
    pub fn time_zone(&self) -> &TimeZone {
        self.aggregates.months.zone()
    }

    /// Puts the months in `time_zone` (the district's registry named another zone): the
    /// aggregates are rebuilt from the facts, which hold instants only. Nothing is done if
    /// the zone is the same.
    pub fn set_time_zone(&mut self, time_zone: &TimeZone) -> Result<(), ProjectionError> {
        if self.time_zone() == time_zone {
            return Ok(());
        }
        self.aggregates.months = LocalMonths::new(time_zone.clone());
        self.build_aggregates()
    }

    /// The last log position applied (0: nothing yet).
    pub fn position(&self) -> Position {
        self.position
    }

    /// How many issues have been reported.
    pub fn issue_count(&self) -> usize {
        self.issues.len()
    }

    /// Applies one decoded event of stream `stream_id` at `position`. Events of streams
    /// that are not issues are skipped; so is any event of an issue whose report was never
    /// seen (it cannot happen in a log written through `decide`).
    pub fn apply(&mut self, position: Position, stream_id: &str, event: &IssueEvent) -> Result<(), ProjectionError> {
        self.position = self.position.max(position);
        let Ok(issue_id) = IssueId::from_stream_id(stream_id) else {
            return Ok(());
        };
        if let IssueEventBody::IssueReported(reported) = &event.body {
            if self.issue_ordinals.contains_key(&issue_id) {
                return Ok(());
            }
            let grid = intern(&mut self.grids, &mut self.grid_ordinals, &reported.grid);
            if !self.aggregates_deferred {
                self.aggregates.register_grid(grid, &reported.grid);
            }
            let category = intern(&mut self.categories, &mut self.category_ordinals, &reported.category);
            let ordinal = self.issues.len() as u32;
            self.issue_ids.push(issue_id);
            self.issues.push(IssueFacts {
                grid,
                category,
                reported_at: event.occurred_at.as_unix_micros(),
                status: IssueStatus::Reported,
                resolution_level: None,
                due_at: reported.due_at.as_unix_micros(),
                last_resolved_at: None,
                time_to_close_bucket: None,
                ever_escalated: false,
                escalated_in_cycle: false,
                ever_reopened: false,
                committee_decisions: 0,
                evaluations: 0,
                satisfied_evaluations: 0,
            });
            self.issue_ordinals.insert(issue_id, ordinal);
            self.index_by_grid(grid, ordinal);
            if !self.aggregates_deferred {
                self.account_new_issue(ordinal)?;
            }
            self.changed_issues.insert(ordinal);
            return Ok(());
        }
        let Some(&ordinal) = self.issue_ordinals.get(&issue_id) else {
            return Ok(());
        };
        if let Some(facts) = self.issues.get_mut(ordinal as usize) {
            if self.aggregates_deferred {
                facts.apply(event);
            } else {
                self.aggregates.account_issue(facts, -1)?;
                facts.apply(event);
                self.aggregates.account_issue(facts, 1)?;
                self.aggregates.track_open(ordinal, facts);
            }
            self.changed_issues.insert(ordinal);
        }
        if let IssueEventBody::DeliberationConcluded(concluded) = &event.body {
            let meeting = self
                .meetings
                .entry(concluded.meeting_id.as_str().to_owned())
                .or_insert_with(|| MeetingFacts {
                    concluded_at: event.occurred_at.as_unix_micros(),
                    participants: concluded.participants.get(),
                    issues: Vec::new(),
                });
            if !meeting.issues.contains(&ordinal) {
                meeting.issues.push(ordinal);
            }
            if !self.aggregates_deferred {
                let meeting = meeting.clone();
                self.aggregates
                    .account_meeting(concluded.meeting_id.as_str(), &meeting, &self.issues)?;
            }
            self.changed_meetings.insert(concluded.meeting_id.as_str().to_owned());
        }
        Ok(())
    }

    /// Builds the aggregates from the facts in one pass (after a replay).
    fn build_aggregates(&mut self) -> Result<(), ProjectionError> {
        self.aggregates = Aggregates::new(self.aggregates.months.clone());
        self.aggregates.start_bulk_load();
        for (ordinal, grid) in self.grids.iter().enumerate() {
            self.aggregates.register_grid(ordinal as u32, grid);
        }
        for ordinal in 0..self.issues.len() as u32 {
            self.account_new_issue(ordinal)?;
        }
        for (meeting_id, meeting) in &self.meetings {
            self.aggregates.account_meeting(meeting_id, meeting, &self.issues)?;
        }
        self.aggregates.finish_bulk_load();
        self.aggregates_deferred = false;
        Ok(())
    }

    /// Adds a newly known issue to the aggregates.
    fn account_new_issue(&mut self, ordinal: u32) -> Result<(), ProjectionError> {
        if let Some(facts) = self.issues.get(ordinal as usize) {
            self.aggregates.index_report(ordinal, facts);
            self.aggregates.account_issue(facts, 1)?;
            self.aggregates.track_open(ordinal, facts);
        }
        Ok(())
    }

    /// Decodes and applies one event as stored in the log.
    pub fn apply_recorded(&mut self, recorded: &RecordedEvent) -> Result<(), ProjectionError> {
        let record = &recorded.record;
        if IssueId::from_stream_id(&record.stream_id).is_err() {
            self.position = self.position.max(recorded.position);
            return Ok(());
        }
        let event = decode_record(record).map_err(|source| ProjectionError::UndecodableEvent {
            position: recorded.position,
            source,
        })?;
        self.apply(recorded.position, &record.stream_id, &event)
    }

    /// Applies the log's events after [`Self::position`] up to and including `up_to`,
    /// calling `progress` with the position reached after each chunk.
    pub fn catch_up(
        &mut self,
        log: &EventLog,
        up_to: Position,
        mut progress: impl FnMut(Position),
    ) -> Result<(), ProjectionError> {
        while self.position < up_to {
            let wanted = usize::try_from(up_to - self.position)
                .unwrap_or(usize::MAX)
                .min(REPLAY_CHUNK);
            let events = log.read_all(self.position + 1, wanted)?;
            let Some(last) = events.last().map(|event| event.position) else {
                break;
            };
            for recorded in &events {
                self.apply_recorded(recorded)?;
            }
            self.position = last;
            progress(last);
        }
        Ok(())
    }

    /// A projection folded from position 1 up to and including `up_to`, its months in
    /// `time_zone`.
    pub fn replay(
        log: &EventLog,
        time_zone: &TimeZone,
        up_to: Position,
        progress: impl FnMut(Position),
    ) -> Result<Self, ProjectionError> {
        let mut projection = GovernanceProjection {
            aggregates_deferred: true,
            ..GovernanceProjection::new(time_zone)
        };
        projection.catch_up(log, up_to, progress)?;
        projection.build_aggregates()?;
        projection.changed_issues.clear();
        projection.changed_meetings.clear();
        Ok(projection)
    }

    /// The projection as its checkpoint left it (empty, at position 0, without one), its
    /// months in `time_zone` (the aggregates are built here, so the zone the checkpoint was
    /// written in does not matter).
    pub fn load(store: &ProjectionStore, time_zone: &TimeZone) -> Result<Self, ProjectionError> {
        let mut projection = GovernanceProjection {
            position: store.position()?,
            ..GovernanceProjection::new(time_zone)
        };
        if store.has_entries_without_position()? {
            return Err(ProjectionError::corrupt_checkpoint(
                "entries without a position (a rebuild stopped before it finished)",
            ));
        }
        for entry in store.entries() {
            let (key, value) = entry?;
            match key.split_first() {
                Some((&ISSUE_KEY, id_bytes)) => {
                    let issue_id = <[u8; 16]>::try_from(id_bytes)
                        .ok()
                        .and_then(|bytes| IssueId::from_uuid(uuid::Uuid::from_bytes(bytes)).ok())
                        .ok_or_else(|| ProjectionError::corrupt_checkpoint("malformed issue key"))?;
                    let stored: StoredIssue = postcard::from_bytes(&value)
                        .map_err(|error| ProjectionError::corrupt_checkpoint(format!("issue {issue_id}: {error}")))?;
                    let mut facts = stored.facts;
                    facts.grid = intern(&mut projection.grids, &mut projection.grid_ordinals, &stored.grid);
                    facts.category = intern(
                        &mut projection.categories,
                        &mut projection.category_ordinals,
                        &stored.category,
                    );
                    let ordinal = projection.issues.len() as u32;
                    let facts_grid = facts.grid;
                    projection.issue_ids.push(issue_id);
                    projection.issues.push(facts);
                    projection.issue_ordinals.insert(issue_id, ordinal);
                    projection.index_by_grid(facts_grid, ordinal);
                }
                Some((&MEETING_KEY, name)) => {
                    let meeting_id = String::from_utf8(name.to_vec())
                        .map_err(|_| ProjectionError::corrupt_checkpoint("malformed meeting key"))?;
                    let stored: StoredMeeting = postcard::from_bytes(&value).map_err(|error| {
                        ProjectionError::corrupt_checkpoint(format!("meeting {meeting_id}: {error}"))
                    })?;
                    let issues = stored
                        .issues
                        .iter()
                        .map(|issue_id| {
                            projection.issue_ordinals.get(issue_id).copied().ok_or_else(|| {
                                ProjectionError::corrupt_checkpoint(format!(
                                    "meeting {meeting_id} names unknown {issue_id}"
                                ))
                            })
                        })
                        .collect::<Result<Vec<u32>, ProjectionError>>()?;
                    let meeting = MeetingFacts {
                        concluded_at: stored.concluded_at,
                        participants: stored.participants,
                        issues,
                    };
                    projection.meetings.insert(meeting_id, meeting);
                }
                _ => return Err(ProjectionError::corrupt_checkpoint("unknown checkpoint entry")),
            }
        }
        projection.build_aggregates()?;
        Ok(projection)
    }

    /// The checkpoint entry of the issue at `ordinal` (`None` past the end).
    fn issue_entry(&self, ordinal: u32) -> Option<Result<CheckpointChange, ProjectionError>> {
        let issue_id = self.issue_ids.get(ordinal as usize)?;
        let facts = self.issues.get(ordinal as usize)?;
        let stored = StoredIssue {
            grid: self.grids[facts.grid as usize].clone(),
            category: self.categories[facts.category as usize].clone(),
            facts: facts.clone(),
        };
        let mut key = vec![ISSUE_KEY];
        key.extend_from_slice(issue_id.as_uuid().as_bytes());
        Some(
            postcard::to_stdvec(&stored)
                .map(|value| (key, Some(value)))
                .map_err(ProjectionError::encode),
        )
    }

    /// The checkpoint entry of the meeting `meeting_id` (`None` if unknown).
    fn meeting_entry(&self, meeting_id: &str) -> Option<Result<CheckpointChange, ProjectionError>> {
        let meeting = self.meetings.get(meeting_id)?;
        let stored = StoredMeeting {
            concluded_at: meeting.concluded_at,
            participants: meeting.participants,
            issues: meeting
                .issues
                .iter()
                .map(|ordinal| self.issue_ids[*ordinal as usize])
                .collect(),
        };
        let mut key = vec![MEETING_KEY];
        key.extend_from_slice(meeting_id.as_bytes());
        Some(
            postcard::to_stdvec(&stored)
                .map(|value| (key, Some(value)))
                .map_err(ProjectionError::encode),
        )
    }

    /// Writes what changed since the last save, with the position, as one atomic checkpoint.
    pub fn save(&mut self, store: &ProjectionStore) -> Result<(), ProjectionError> {
        let mut changes = Vec::with_capacity(self.changed_issues.len() + self.changed_meetings.len());
        for &ordinal in &self.changed_issues {
            if let Some(entry) = self.issue_entry(ordinal) {
                changes.push(entry?);
            }
        }
        for meeting_id in &self.changed_meetings {
            if let Some(entry) = self.meeting_entry(meeting_id) {
                changes.push(entry?);
            }
        }
        store.commit(self.position, changes)?;
        self.changed_issues.clear();
        self.changed_meetings.clear();
        Ok(())
    }

    fn index_by_grid(&mut self, grid: u32, ordinal: u32) {
        let grid = grid as usize;
        if self.issues_by_grid.len() <= grid {
            self.issues_by_grid.resize_with(grid + 1, Vec::new);
        }
        self.issues_by_grid[grid].push(ordinal);
    }

    /// Whether anything changed since the last save.
    pub fn has_unsaved_changes(&self) -> bool {
        !self.changed_issues.is_empty() || !self.changed_meetings.is_empty()
    }

    /// Replaces the store's checkpoint with the whole projection (after a rebuild), in
    /// bounded memory: the old checkpoint is cleared, the entries are written in chunks
    /// without a position, and a last commit gives them the projection's position. A crash
    /// part-way leaves entries without a position, which [`Self::load`] refuses as corrupt,
    /// so the server replays the log instead of trusting half a checkpoint.
    pub fn save_all(&mut self, store: &ProjectionStore) -> Result<(), ProjectionError> {
        store.clear()?;
        let mut failure = None;
        let issues = (0..self.issues.len() as u32).filter_map(|ordinal| self.issue_entry(ordinal));
        let meetings = self
            .meetings
            .keys()
            .filter_map(|meeting_id| self.meeting_entry(meeting_id));
        let entries = issues.chain(meetings).map_while(|entry| match entry {
            Ok(entry) => Some(entry),
            Err(error) => {
                failure = Some(error);
                None
            }
        });
        store.write_unpositioned(entries)?;
        if let Some(error) = failure {
            return Err(error);
        }
        store.commit(self.position, Vec::new())?;
        self.changed_issues.clear();
        self.changed_meetings.clear();
        Ok(())
    }
}

/// What a listing of issues filters on.
#[derive(Debug, Clone, Default)]
pub struct IssueListFilter {
    /// A district, street, community or grid; `None` for everything.
    pub scope: Option<gridledger_domain::JurisdictionCode>,
    pub status: Option<IssueStatus>,
    pub category: Option<CategoryCode>,
}

impl GovernanceProjection {
    /// Whether the projection knows the issue (it has applied its report): whether
    /// `issue_id` can be a page token of [`GovernanceProjection::list_issue_ids`].
    pub fn knows_issue(&self, issue_id: IssueId) -> bool {
        self.issue_ordinals.contains_key(&issue_id)
    }

    /// Up to `page_size` ids of the issues matching `filter`, in report (log) order, after
    /// the issue `after`; and the last id returned when more follow.
    pub fn list_issue_ids(
        &self,
        filter: &IssueListFilter,
        after: Option<IssueId>,
        page_size: usize,
    ) -> (Vec<IssueId>, Option<IssueId>) {
        let start = after
            .and_then(|issue_id| self.issue_ordinals.get(&issue_id))
            .map_or(0, |ordinal| *ordinal as usize + 1);
        let grid_in_scope: Vec<bool> = self
            .grids
            .iter()
            .map(|grid| {
                filter
                    .scope
                    .as_ref()
                    .is_none_or(|scope| grid.as_jurisdiction_code().is_within(scope))
            })
            .collect();
        let category = filter
            .category
            .as_ref()
            .map(|category| self.categories.iter().position(|known| known == category));
        let mut matching = self.issues.iter().enumerate().skip(start).filter(|(_, facts)| {
            grid_in_scope.get(facts.grid as usize).copied().unwrap_or(false)
                && filter.status.is_none_or(|status| facts.status == status)
                && category.is_none_or(|wanted| wanted == Some(facts.category as usize))
        });
        let page: Vec<IssueId> = matching
            .by_ref()
            .take(page_size)
            .map(|(ordinal, _)| self.issue_ids[ordinal])
            .collect();
        let next = if matching.next().is_some() {
            page.last().copied()
        } else {
            None
        };
        (page, next)
    }
}
