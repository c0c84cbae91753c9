//! Arbitrary bytes as the filters of the statistics and list RPCs: decoded with prost as a
//! `GetGovernanceStatsRequest`, a `BreakdownGovernanceStatsRequest` and a
//! `ListIssuesRequest`, and validated against the built-in registry with
//! `StatsFilter::from_proto`, `breakdown_from_proto` and `list_filter_from_proto`. Nothing
//! panics; a filter that validates is the one the client sends back (`to_proto`,
//! `breakdown_to_proto`, `list_request_to_proto`, validated again, is the same filter), and
//! its projection query builds.

#![no_main]

use gridledger_api::{
    StatsFilter, breakdown_from_proto, breakdown_to_proto, list_filter_from_proto, list_request_to_proto,
    parse_issue_id, proto,
};
use gridledger_fuzz::{format_error, now, registry};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let now = now();
    if let Ok(request) = proto::GetGovernanceStatsRequest::decode(data) {
        match StatsFilter::from_proto(&request, registry(), now) {
            Ok(filter) => {
                let _ = filter.query(now);
                let again = StatsFilter::from_proto(&filter.to_proto(), registry(), now)
                    .unwrap_or_else(|error| panic!("a valid stats filter is refused on its way back: {error}"));
                assert_eq!(again, filter);
            }
            Err(error) => {
                let _ = format_error(&error);
            }
        }
    }
    if let Ok(request) = proto::BreakdownGovernanceStatsRequest::decode(data) {
        match breakdown_from_proto(&request, registry(), now) {
            Ok((filter, group_by)) => {
                let _ = filter.query(now);
                let again = breakdown_from_proto(&breakdown_to_proto(&filter, group_by), registry(), now)
                    .unwrap_or_else(|error| panic!("a valid breakdown is refused on its way back: {error}"));
                assert_eq!(again, (filter, group_by));
            }
            Err(error) => {
                let _ = format_error(&error);
            }
        }
    }
    if let Ok(request) = proto::ListIssuesRequest::decode(data) {
        let page_token = parse_issue_id("page_token", &request.page_token);
        if let Err(error) = &page_token {
            let _ = format_error(error);
        }
        match list_filter_from_proto(&request, registry()) {
            Ok(filter) => {
                let wire = list_request_to_proto(&filter, request.page_size, page_token.ok());
                let again = list_filter_from_proto(&wire, registry())
                    .unwrap_or_else(|error| panic!("a valid list filter is refused on its way back: {error}"));
                assert_eq!(again.scope, filter.scope);
                assert_eq!(again.status, filter.status);
                assert_eq!(again.category, filter.category);
            }
            Err(error) => {
                let _ = format_error(&error);
            }
        }
    }
});
