//! The scope checks that need data, called by the services once they have it: the issue a
//! command or a read is about, or the scope filter of a list or a statistics query. The
//! layer has already checked role x method; these check where.

use std::sync::Arc;

use gridledger_domain::{IssueCommand, IssueState, IssueStatus, JurisdictionCode, Registry};

use super::AuthError;
use super::principals::Principal;
use super::table::Role;

/// The principal the layer authenticated, as put into the request's extensions (a private
/// type, so nothing but the layer can put one there).
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub(crate) Arc<Principal>);

/// The authenticated principal of a request; `None` when the server runs without `--auth`.
pub fn principal_of<T>(request: &tonic::Request<T>) -> Option<Arc<Principal>> {
    request
        .extensions()
        .get::<Authenticated>()
        .map(|authenticated| authenticated.0.clone())
}

/// Refuses `code` unless it lies within one of the principal's scopes; the message names
/// the scopes the principal has.
pub fn require_scope(principal: &Principal, code: &JurisdictionCode) -> Result<(), AuthError> {
    if principal.covers(code) {
        return Ok(());
    }
    Err(AuthError::denied(format!(
        "{code} is outside the scope of principal {principal}"
    )))
}

/// Refuses a read of an existing issue outside the principal's scopes.
pub(crate) fn require_issue_scope(principal: &Principal, state: &IssueState) -> Result<(), AuthError> {
    match state.issue() {
        Some(issue) => require_scope(principal, issue.grid.as_jurisdiction_code()),
        // Nothing to protect: the service answers NOT_FOUND.
        None => Ok(()),
    }
}

/// Refuses a command outside the principal's scopes (the reported grid for a report, the
/// issue's grid otherwise), and a committee's resolution of an issue that is not ESCALATED.
/// `state` is the issue as the command will be decided on.
pub(crate) fn authorize_command(
    principal: &Principal,
    command: &IssueCommand,
    state: &IssueState,
) -> Result<(), AuthError> {
    if let IssueCommand::ReportIssue(report) = command {
        require_scope(principal, report.grid().as_jurisdiction_code())?;
    }
    require_issue_scope(principal, state)?;
    if principal.role == Role::Committee
        && matches!(command, IssueCommand::ResolveIssue(_))
        && let Some(issue) = state.issue()
        && issue.status != IssueStatus::Escalated
    {
        return Err(AuthError::denied(format!(
            "principal {principal} resolves escalated issues only; issue {} is {}",
            issue.issue_id, issue.status
        )));
    }
    Ok(())
}

/// The scope a list or statistics query reads: the one asked for, if the principal's
/// scopes cover it; left empty, the principal's own scope, or everything (the city, on a
/// stats node) when the principal's scopes include every district of `registry`. Without
/// authentication, the one asked for.
pub(crate) fn read_scope(
    principal: Option<&Principal>,
    requested: Option<JurisdictionCode>,
    registry: &Registry,
) -> Result<Option<JurisdictionCode>, AuthError> {
    let Some(principal) = principal else {
        return Ok(requested);
    };
    let covers_every_district = || {
        registry
            .districts()
            .iter()
            .all(|district| principal.scopes.contains(district.code.as_jurisdiction_code()))
    };
    match (requested, principal.scopes.as_slice()) {
        (Some(scope), _) => {
            require_scope(principal, &scope)?;
            Ok(Some(scope))
        }
        (None, [only]) => Ok(Some(only.clone())),
        (None, _) if covers_every_district() => Ok(None),
        (None, _) => Err(AuthError::denied(format!(
            "principal {principal} has several scopes: name one of them in scope"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, scopes: &[&str]) -> Principal {
        Principal {
            id: "p-1".to_owned(),
            role,
            scopes: scopes
                .iter()
                .map(|scope| JurisdictionCode::parse(scope).expect("valid code"))
                .collect(),
        }
    }

    fn code(text: &str) -> JurisdictionCode {
        JurisdictionCode::parse(text).expect("valid code")
    }

    #[test]
    fn scopes_are_checked_by_ancestry_and_named_when_refused() {
        let registry = Registry::builtin_runzhou();
        let analyst = principal(Role::Analyst, &["runzhou.s1"]);
        assert_eq!(require_scope(&analyst, &code("runzhou.s1.c02.g03")), Ok(()));
        assert_eq!(
            require_scope(&analyst, &code("runzhou.s10")),
            Err(AuthError::denied(
                "runzhou.s10 is outside the scope of principal p-1 (analyst, scope runzhou.s1)"
            ))
        );
        assert_eq!(
            read_scope(Some(&analyst), None, &registry),
            Ok(Some(code("runzhou.s1")))
        );
        assert_eq!(
            read_scope(Some(&analyst), Some(code("runzhou.s1.c01")), &registry),
            Ok(Some(code("runzhou.s1.c01")))
        );
        assert!(read_scope(Some(&analyst), Some(code("runzhou")), &registry).is_err());
        assert_eq!(read_scope(None, None, &registry), Ok(None));
        let two = principal(Role::Analyst, &["runzhou.s1", "runzhou.s2"]);
        assert_eq!(
            read_scope(Some(&two), None, &registry),
            Err(AuthError::denied(
                "principal p-1 (analyst, scopes runzhou.s1, runzhou.s2) has several scopes: name one of them in scope"
            ))
        );
        assert_eq!(
            read_scope(Some(&two), Some(code("runzhou.s2.c01")), &registry),
            Ok(Some(code("runzhou.s2.c01")))
        );
        // A principal of every district reads everything (the city) when it names no scope.
        let city = Registry::merged([&Registry::builtin_runzhou(), &Registry::builtin_dantu()]).expect("a city");
        let city_analyst = principal(Role::Analyst, &["runzhou", "dantu"]);
        assert_eq!(read_scope(Some(&city_analyst), None, &city), Ok(None));
        assert_eq!(
            read_scope(Some(&city_analyst), Some(code("dantu.s1")), &city),
            Ok(Some(code("dantu.s1")))
        );
        let one_district = principal(Role::Analyst, &["runzhou", "dantu.s1"]);
        assert!(read_scope(Some(&one_district), None, &city).is_err());
    }
}
