//! `Subscription`: catch up from a position, then follow the log live, without gap or duplicate.

use std::collections::VecDeque;

use tokio::sync::watch;

use crate::error::EventLogError;
use crate::log::read_range;
use crate::store::LogTree;
use crate::types::{LogHead, Position, RecordedEvent};

/// Events read from sled per refill of the buffer.
const EVENTS_PER_READ: usize = 512;

/// A cursor that yields every durable event from its start position on, in order.
///
/// Catching up and following live are the same loop: the subscription always reads the next
/// position from the log itself and only uses the committed-head signal to know when to
/// look again, so no event can be skipped or seen twice at the switch.
#[derive(Debug)]
pub struct Subscription {
    log: LogTree,
    committed_head: watch::Receiver<LogHead>,
    next_position: Position,
    buffer: VecDeque<RecordedEvent>,
}

impl Subscription {
    pub(crate) fn new(log: LogTree, committed_head: watch::Receiver<LogHead>, from_position: Position) -> Self {
        Subscription {
            log,
            committed_head,
            next_position: from_position,
            buffer: VecDeque::new(),
        }
    }

    /// Position of the next event this subscription will yield.
    pub fn next_position(&self) -> Position {
        self.next_position - self.buffer.len() as u64
    }

    /// The next event, waiting for it if needed; `None` once the log is closed and every
    /// durable event has been yielded.
    pub async fn next(&mut self) -> Result<Option<RecordedEvent>, EventLogError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(Some(event));
            }
            let head = self.committed_head.borrow_and_update().position;
            if self.next_position <= head {
                self.refill(head)?;
                continue;
            }
            if self.committed_head.changed().await.is_err() {
                // The writer is gone: yield what is durable, then end.
                let head = self.committed_head.borrow().position;
                if self.next_position <= head {
                    self.refill(head)?;
                    continue;
                }
                return Ok(None);
            }
        }
    }

    /// The next event if it is already read (buffered), without reading the log or waiting:
    /// for draining what one [`Subscription::next`] read in a batch.
    pub fn next_buffered(&mut self) -> Option<RecordedEvent> {
        self.buffer.pop_front()
    }

    fn refill(&mut self, head: Position) -> Result<(), EventLogError> {
        let events = read_range(&self.log, self.next_position, head, EVENTS_PER_READ)?;
        self.next_position += events.len() as u64;
        self.buffer.extend(events);
        Ok(())
    }
}
