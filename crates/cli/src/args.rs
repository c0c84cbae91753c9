//! Command-line values shared by the commands: enum flags spelled in kebab case from the
//! domain's stable names, time flags as domain [`Timestamp`]s, and the command meta.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::Args;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use gridledger_api::{CommandMeta, WireError};
use gridledger_domain::{EscalationReason, Forum, IssueId, IssueStatus, Satisfaction, Timestamp, WithdrawalReason};
use gridledger_projections::GroupBy;

/// A closed set of values, each with one stable name (`IN_PROGRESS`). On the command line
/// a value is written in kebab case (`in-progress`); the stable name is accepted too.
pub trait StableName: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    const ALL: &'static [Self];
    /// The value's stable name.
    fn stable_name(self) -> &'static str;

    /// The value as written on the command line: `in-progress`.
    fn cli_name(self) -> String {
        self.stable_name().to_ascii_lowercase().replace('_', "-")
    }

    /// The value a command-line word names, in kebab case or as the stable name.
    fn from_cli_name(word: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|value| value.cli_name() == word || value.stable_name() == word)
    }
}

/// Implements [`StableName`] for the enums that carry `ALL` and `as_str` (the domain's, and
/// the projections' `GroupBy`).
macro_rules! stable_name_of_domain_enum {
    ($($name:ty),+) => {
        $(impl StableName for $name {
            const ALL: &'static [Self] = <$name>::ALL;
            fn stable_name(self) -> &'static str {
                self.as_str()
            }
        })+
    };
}

stable_name_of_domain_enum!(Forum, EscalationReason, Satisfaction, IssueStatus, GroupBy);

/// The kind of a domain [`WithdrawalReason`], named as [`WithdrawalReason::kind_name`]
/// names it; DUPLICATE also needs the issue it duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawalKind {
    Duplicate,
    OutOfScope,
    ReporterWithdrew,
}

impl StableName for WithdrawalKind {
    const ALL: &'static [Self] = &[
        WithdrawalKind::Duplicate,
        WithdrawalKind::OutOfScope,
        WithdrawalKind::ReporterWithdrew,
    ];
    fn stable_name(self) -> &'static str {
        match self {
            WithdrawalKind::Duplicate => "DUPLICATE",
            WithdrawalKind::OutOfScope => "OUT_OF_SCOPE",
            WithdrawalKind::ReporterWithdrew => "REPORTER_WITHDREW",
        }
    }
}

impl WithdrawalKind {
    /// The reason: `duplicate_of` is required exactly for DUPLICATE (refused as the server
    /// refuses it).
    pub fn reason(self, duplicate_of: Option<IssueId>) -> Result<WithdrawalReason, WireError> {
        match (self, duplicate_of) {
            (WithdrawalKind::Duplicate, Some(duplicate_of)) => Ok(WithdrawalReason::Duplicate { duplicate_of }),
            (WithdrawalKind::Duplicate, None) => Err(WireError::invalid(
                "duplicate_of",
                "is required with reason DUPLICATE (--duplicate-of ISSUE_ID)",
            )),
            (WithdrawalKind::OutOfScope, None) => Ok(WithdrawalReason::OutOfScope),
            (WithdrawalKind::ReporterWithdrew, None) => Ok(WithdrawalReason::ReporterWithdrew),
            (_, Some(_)) => Err(WireError::invalid(
                "duplicate_of",
                "is only allowed with reason DUPLICATE",
            )),
        }
    }
}

/// The clap parser of a [`StableName`] flag: kebab case in, the value out, every value
/// listed in `--help` and in the error for a word it does not know.
#[derive(Debug)]
pub struct StableNameParser<T>(PhantomData<T>);

impl<T> Clone for StableNameParser<T> {
    fn clone(&self) -> Self {
        StableNameParser(PhantomData)
    }
}

/// The parser of a [`StableName`] flag, for `#[arg(value_parser = named::<Forum>())]`.
pub fn named<T: StableName>() -> StableNameParser<T> {
    StableNameParser(PhantomData)
}

impl<T: StableName> TypedValueParser for StableNameParser<T> {
    type Value = T;

    fn parse_ref(&self, command: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let word = value.to_string_lossy();
        T::from_cli_name(&word).ok_or_else(|| {
            let mut error = clap::Error::new(ErrorKind::InvalidValue).with_cmd(command);
            if let Some(arg) = arg {
                error.insert(ContextKind::InvalidArg, ContextValue::String(arg.to_string()));
            }
            error.insert(ContextKind::InvalidValue, ContextValue::String(word.into_owned()));
            error.insert(
                ContextKind::ValidValue,
                ContextValue::Strings(T::ALL.iter().map(|value| value.cli_name()).collect()),
            );
            error
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            T::ALL.iter().map(|value| PossibleValue::new(value.cli_name())),
        ))
    }
}

/// A time flag: RFC 3339 (`2026-11-27T09:30:00Z`) or a plain date (`2026-11-27`, midnight
/// UTC), as a domain timestamp.
pub fn parse_time(value: &str) -> Result<Timestamp, String> {
    let rfc3339 = if value.len() == 10 {
        format!("{value}T00:00:00Z")
    } else {
        value.to_owned()
    };
    let time = humantime::parse_rfc3339_weak(&rfc3339)
        .map_err(|error| format!("{value:?} is not an RFC 3339 time or a YYYY-MM-DD date, from 1970 on ({error})"))?;
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("{value:?} is before 1970"))?;
    Timestamp::UNIX_EPOCH
        .checked_add_std_duration(since_epoch)
        .ok_or_else(|| format!("{value:?} is too far in the future"))
}

/// The time now, for the figures that depend on it (overdue).
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since_epoch| Timestamp::UNIX_EPOCH.checked_add_std_duration(since_epoch))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A value refused on this side of the wire, reported as the server would report it.
pub fn invalid(error: impl Into<WireError>) -> anyhow::Error {
    anyhow::anyhow!("InvalidArgument: {}", error.into())
}

/// An issue id given on the command line.
pub fn issue_id(field: &'static str, value: &str) -> anyhow::Result<IssueId> {
    gridledger_api::parse_issue_id(field, value).map_err(invalid)
}

/// An optional issue id: empty means none.
pub fn optional_issue_id(field: &'static str, value: &str) -> anyhow::Result<Option<IssueId>> {
    if value.is_empty() {
        return Ok(None);
    }
    issue_id(field, value).map(Some)
}

/// A code flag, refused with the wire field's name as the server would refuse it.
pub fn code<T, E: ToString>(
    field: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    value: &str,
) -> anyhow::Result<T> {
    parse(value).map_err(|error| invalid(WireError::invalid(field, error.to_string())))
}

/// An optional code flag: empty means none.
pub fn optional_code<T, E: ToString>(
    field: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    value: &str,
) -> anyhow::Result<Option<T>> {
    if value.is_empty() {
        return Ok(None);
    }
    code(field, parse, value).map(Some)
}

/// The meta options every command takes.
#[derive(Debug, Args)]
pub struct MetaOptions {
    /// Idempotency key; reuse it to retry safely. Default: a fresh UUID.
    #[arg(long, display_order = 100)]
    request_id: Option<String>,
    /// Apply only if the issue is at this revision.
    #[arg(long, display_order = 101)]
    expected_revision: Option<u64>,
    /// Business time (RFC 3339, e.g. 2026-11-27T09:30:00Z); default: the server's clock.
    #[arg(long, value_parser = parse_time, display_order = 102)]
    occurred_at: Option<Timestamp>,
}

impl MetaOptions {
    /// The command meta, with a fresh request id unless one was given.
    pub fn into_meta(self) -> anyhow::Result<CommandMeta> {
        let mut meta = CommandMeta::with_fresh_request_id();
        if let Some(request_id) = self.request_id {
            CommandMeta::check_request_id(&request_id).map_err(invalid)?;
            meta.request_id = request_id;
        }
        meta.expected_revision = self.expected_revision;
        meta.occurred_at = self.occurred_at;
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A command line with one flag of each kind.
    #[derive(Debug, Parser)]
    struct Flags {
        #[arg(long, value_parser = named::<Forum>())]
        forum: Option<Forum>,
        #[arg(long, value_parser = named::<IssueStatus>())]
        status: Option<IssueStatus>,
        #[arg(long = "by", value_parser = named::<GroupBy>())]
        group_by: Option<GroupBy>,
        #[arg(long, value_parser = named::<WithdrawalKind>())]
        reason: Option<WithdrawalKind>,
        #[arg(long, value_parser = parse_time)]
        due: Option<Timestamp>,
    }

    /// Parses `arguments` after the program name; `Ok` with what was parsed, or `Err`
    /// with the error's text.
    fn parse(arguments: &[&str]) -> Result<Flags, String> {
        Flags::try_parse_from(std::iter::once("test").chain(arguments.iter().copied()))
            .map_err(|error| error.to_string())
    }

    /// Checks one case: what parses, or words the error must contain.
    fn check<T: std::fmt::Debug + PartialEq>(
        arguments: &[&str],
        pick: impl Fn(&Flags) -> T,
        expected: Result<T, &[&str]>,
    ) {
        match (parse(arguments), expected) {
            (Ok(flags), Ok(expected)) => assert_eq!(pick(&flags), expected, "{arguments:?}"),
            (Err(error), Err(words)) => {
                for word in words {
                    assert!(error.contains(word), "{arguments:?}: {word:?} not in {error}");
                }
            }
            (Ok(flags), Err(_)) => panic!("{arguments:?} parsed as {flags:?}, expected an error"),
            (Err(error), Ok(_)) => panic!("{arguments:?} was refused: {error}"),
        }
    }

    #[test]
    fn enum_flags_take_kebab_case_and_the_stable_name_and_list_the_values() {
        check(
            &["--forum", "resident-representative-meeting"],
            |flags| flags.forum,
            Ok(Some(Forum::ResidentRepresentativeMeeting)),
        );
        check(
            &["--forum", "COMMUNITY_AFFAIRS_CONSULTATION"],
            |flags| flags.forum,
            Ok(Some(Forum::CommunityAffairsConsultation)),
        );
        check(
            &["--status", "in-progress"],
            |flags| flags.status,
            Ok(Some(IssueStatus::InProgress)),
        );
        check(
            &["--status", "withdrawn"],
            |flags| flags.status,
            Ok(Some(IssueStatus::Withdrawn)),
        );
        check(&["--by", "street"], |flags| flags.group_by, Ok(Some(GroupBy::Street)));
        check(&["--by", "year"], |flags| flags.group_by, Ok(Some(GroupBy::Year)));
        check(
            &["--reason", "out-of-scope"],
            |flags| flags.reason,
            Ok(Some(WithdrawalKind::OutOfScope)),
        );
        check(
            &["--status", "in_progress"],
            |flags| flags.status,
            Err(&[
                "invalid value 'in_progress'",
                "--status",
                "in-progress",
                "in-deliberation",
                "withdrawn",
            ]),
        );
        check(
            &["--by", "district"],
            |flags| flags.group_by,
            Ok(Some(GroupBy::District)),
        );
        check(
            &["--by", "ward"],
            |flags| flags.group_by,
            Err(&["'ward'", "district, street, community, grid, category, month, year"]),
        );
        check(
            &["--forum", "meeting"],
            |flags| flags.forum,
            Err(&["resident-representative-meeting, community-affairs-consultation"]),
        );
    }

    #[test]
    fn help_lists_every_value_of_every_enum_in_kebab_case() {
        use clap::CommandFactory;
        let help = Flags::command().render_long_help().to_string();
        let every_value = Forum::ALL
            .iter()
            .map(|value| value.cli_name())
            .chain(IssueStatus::ALL.iter().map(|value| value.cli_name()))
            .chain(GroupBy::ALL.iter().map(|value| value.cli_name()))
            .chain(WithdrawalKind::ALL.iter().map(|value| value.cli_name()));
        for name in every_value {
            assert!(help.contains(&name), "{name} not in --help:\n{help}");
        }
    }

    #[test]
    fn time_flags_take_rfc3339_or_a_date_and_name_the_flag_when_refused() {
        let at = |micros: i64| Ok(Some(Timestamp::from_unix_micros(micros)));
        check(
            &["--due", "2026-11-27T09:30:00Z"],
            |flags| flags.due,
            at(1_795_771_800_000_000),
        );
        check(
            &["--due", "2026-11-27T09:30:00.25Z"],
            |flags| flags.due,
            at(1_795_771_800_250_000),
        );
        check(&["--due", "2026-11-27"], |flags| flags.due, at(1_795_737_600_000_000));
        check(&["--due", "1970-01-01T00:00:00Z"], |flags| flags.due, at(0));
        check(
            &["--due", "tomorrow"],
            |flags| flags.due,
            Err(&["--due", "\"tomorrow\" is not an RFC 3339 time"]),
        );
        check(
            &["--due", "2026-13-01"],
            |flags| flags.due,
            Err(&["--due", "2026-13-01"]),
        );
        check(
            &["--due", "1969-12-31T23:59:59Z"],
            |flags| flags.due,
            Err(&["--due", "\"1969-12-31T23:59:59Z\" is not an RFC 3339 time"]),
        );
    }

    #[test]
    fn withdrawal_kinds_are_the_domains_and_duplicate_alone_names_another_issue() {
        let other = IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").expect("a valid id");
        let cases: [(WithdrawalKind, Option<IssueId>, Result<WithdrawalReason, &str>); 5] = [
            (
                WithdrawalKind::Duplicate,
                Some(other),
                Ok(WithdrawalReason::Duplicate { duplicate_of: other }),
            ),
            (WithdrawalKind::OutOfScope, None, Ok(WithdrawalReason::OutOfScope)),
            (
                WithdrawalKind::ReporterWithdrew,
                None,
                Ok(WithdrawalReason::ReporterWithdrew),
            ),
            (
                WithdrawalKind::Duplicate,
                None,
                Err("invalid duplicate_of: is required with reason DUPLICATE"),
            ),
            (
                WithdrawalKind::OutOfScope,
                Some(other),
                Err("invalid duplicate_of: is only allowed with reason DUPLICATE"),
            ),
        ];
        for (kind, duplicate_of, expected) in cases {
            let reason = kind.reason(duplicate_of).map_err(|error| error.to_string());
            match (&reason, expected) {
                (Ok(reason), Ok(expected)) => {
                    assert_eq!(reason, &expected);
                    assert_eq!(kind.stable_name(), reason.kind_name());
                }
                (Err(error), Err(expected)) => assert!(error.starts_with(expected), "{error}"),
                _ => panic!("{kind:?} {duplicate_of:?}: {reason:?}"),
            }
        }
    }

    #[test]
    fn meta_takes_a_request_id_that_the_server_would_take() {
        let meta = |request_id: &str| {
            MetaOptions {
                request_id: Some(request_id.to_owned()),
                expected_revision: Some(3),
                occurred_at: None,
            }
            .into_meta()
            .map_err(|error| error.to_string())
        };
        assert_eq!(
            meta("retry-1").map(|meta| (meta.request_id, meta.expected_revision)),
            Ok(("retry-1".to_owned(), Some(3)))
        );
        assert!(
            meta("two words").is_err_and(|error| error.starts_with("InvalidArgument: invalid meta.request_id")),
            "{:?}",
            meta("two words")
        );
        let fresh = MetaOptions {
            request_id: None,
            expected_revision: None,
            occurred_at: None,
        }
        .into_meta()
        .map_err(|error| error.to_string());
        assert!(fresh.is_ok_and(|meta| uuid::Uuid::parse_str(&meta.request_id).is_ok()));
    }
}
