//! Arbitrary bytes as a stored record of the log, and as the event payload of a record of
//! every event type: `EventRecord` decodes with prost or is refused, `decode_record`
//! returns an event or an error and never panics. What decodes survives the stored form
//! (`encode_event` then `decode_record` gives the same event) and folds onto every state of
//! a valid history (`evolve` is total).

#![no_main]

use gridledger_codec::decode_record;
use gridledger_domain::{EventType, allowed_commands, evolve};
use gridledger_eventlog::EventRecord;
use gridledger_fuzz::{NOW_MICROS, assert_stored_round_trip, format_error, history};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn check(record: &EventRecord) {
    match decode_record(record) {
        Ok(event) => {
            assert_eq!(event.event_type(), record.event_type, "decoded under another type");
            assert_eq!(
                event.occurred_at.as_unix_micros(),
                record.occurred_at,
                "business time changed"
            );
            assert_stored_round_trip(&event);
            for state in &history().states {
                let after = evolve(state.clone(), &event);
                let _ = allowed_commands(&after);
            }
        }
        Err(error) => {
            let _ = format_error(&error);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = EventRecord::decode(data) {
        check(&record);
    }
    for event_type in EventType::ALL {
        let record = EventRecord {
            event_type: event_type.as_str().to_owned(),
            occurred_at: NOW_MICROS,
            event: data.to_vec(),
            ..EventRecord::default()
        };
        check(&record);
    }
});
