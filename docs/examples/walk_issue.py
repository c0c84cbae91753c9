#!/usr/bin/env python3
"""Walk one issue through its whole lifecycle against a gridledger server, from proto/ alone.

This is a client written by another stack: it compiles proto/gridledger/v1/gridledger.proto
(with events.proto, record.proto and google/protobuf/timestamp.proto) at run time with
grpc_tools.protoc into a temporary directory, imports the generated modules and drives
IssueService over plaintext gRPC:

    ReportIssue -> DispatchIssue -> AcceptAssignment -> ConveneDeliberation
    -> ConcludeDeliberation -> EscalateIssue -> RecordCommitteeDecision -> ResolveIssue
    -> EvaluateResolution -> ReopenIssue -> HandleInGrid, then GetIssue,

checking every ack's revision (0, 1, 2, ...) and status (the lifecycle table of
docs/product.md#lifecycle), that GetIssue says RESOLVED at level GRID at revision 10, and
that retrying the last command with the same request id is answered as a duplicate without
writing anything.

Usage:
    python3 walk_issue.py --server 127.0.0.1:PORT [--proto-root DIR] [--token TOKEN]
    python3 walk_issue.py --check-stubs     # only compile the protos and import the stubs

Needs: pip install grpcio grpcio-tools protobuf
Exits 0 after `ok: walked issue <id> through 11 commands`; non-zero with a message on any
mismatch or RPC error.
"""

import argparse
import importlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

DEFAULT_PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO_FILES = ["gridledger/v1/gridledger.proto", "gridledger/v1/events.proto", "gridledger/v1/record.proto"]
GRID = "runzhou.s1.c01.g01"


class Mismatch(Exception):
    pass


def used_names(pb, ev, pb_grpc):
    """What the walk uses from the generated code, for --check-stubs."""
    return [
        (pb_grpc, ["IssueServiceStub", "StatsServiceStub", "AuditServiceStub"]),
        (pb, ["CommandMeta", "ReportIssueRequest", "DispatchIssueRequest", "AcceptAssignmentRequest",
              "ConveneDeliberationRequest", "ConcludeDeliberationRequest", "EscalateIssueRequest",
              "RecordCommitteeDecisionRequest", "ResolveIssueRequest", "EvaluateResolutionRequest",
              "ReopenIssueRequest", "HandleInGridRequest", "GetIssueRequest"]),
        (ev, ["IssueStatus", "ResolutionLevel", "REPORTED", "IN_PROGRESS", "IN_DELIBERATION", "ESCALATED",
              "RESOLVED", "REOPENED", "GRID", "RESIDENT_REPRESENTATIVE_MEETING", "CROSS_JURISDICTION", "SATISFIED"]),
    ]


def well_known_protos_dir():
    """The google/protobuf/*.proto files bundled with grpc_tools."""
    try:
        from importlib.resources import files

        return str(files("grpc_tools") / "_proto")
    except (ImportError, TypeError):
        import pkg_resources

        return pkg_resources.resource_filename("grpc_tools", "_proto")


def compile_stubs(proto_root, out_dir):
    """Compiles the contract with grpc_tools.protoc and imports (pb, ev, pb_grpc).

    The enums (IssueStatus, Forum, ...) live in events.proto, so their package-level values
    are in events_pb2 (`ev.RESOLVED`), not in gridledger_pb2.
    """
    from grpc_tools import protoc

    proto_root = Path(proto_root)
    for name in PROTO_FILES:
        if not (proto_root / name).is_file():
            raise SystemExit(f"error: {proto_root / name} not found (use --proto-root)")
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known_protos_dir()}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *PROTO_FILES,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"error: protoc failed on {proto_root} (see the messages above)")
    sys.path.insert(0, str(out_dir))
    pb = importlib.import_module("gridledger.v1.gridledger_pb2")
    ev = importlib.import_module("gridledger.v1.events_pb2")
    pb_grpc = importlib.import_module("gridledger.v1.gridledger_pb2_grpc")
    return pb, ev, pb_grpc


def timestamp_in(days):
    from google.protobuf.timestamp_pb2 import Timestamp

    return Timestamp(seconds=int(time.time()) + int(days * 86400))


def walk(pb, ev, pb_grpc, server, token):
    import grpc

    def meta():
        return pb.CommandMeta(request_id=str(uuid.uuid4()))

    metadata = [("authorization", f"Bearer {token}")] if token else None
    channel = grpc.insecure_channel(server)
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
    except grpc.FutureTimeoutError:
        raise SystemExit(f"error: cannot connect to {server} within 10 s")
    issues = pb_grpc.IssueServiceStub(channel)
    run = uuid.uuid4().hex[:12]
    meeting_id = f"walk-{run}"

    def call(method_name, request):
        try:
            return getattr(issues, method_name)(request, metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            raise Mismatch(f"{method_name} failed: {error.code().name}: {error.details()}") from None

    issue_id = ""
    # (rpc, request factory, expected status after); requests are built once the id is known.
    steps = [
        ("ReportIssue", lambda: pb.ReportIssueRequest(
            meta=meta(), issue_id="", grid_code=GRID, category="environment",
            title=f"Overflowing bins behind building 3 ({run})",
            description="The bins behind building 3 have not been emptied for four days.",
            reporter_id="grid-worker-1"), ev.REPORTED),
        ("DispatchIssue", lambda: pb.DispatchIssueRequest(
            meta=meta(), issue_id=issue_id, assignee_id="responder-1", due_at=timestamp_in(3)), ev.IN_PROGRESS),
        ("AcceptAssignment", lambda: pb.AcceptAssignmentRequest(
            meta=meta(), issue_id=issue_id, assignee_id="responder-1"), ev.IN_PROGRESS),
        ("ConveneDeliberation", lambda: pb.ConveneDeliberationRequest(
            meta=meta(), issue_id=issue_id, meeting_id=meeting_id, forum=ev.RESIDENT_REPRESENTATIVE_MEETING,
            parties=["residents", "property company"]), ev.IN_DELIBERATION),
        ("ConcludeDeliberation", lambda: pb.ConcludeDeliberationRequest(
            meta=meta(), issue_id=issue_id, meeting_id=meeting_id, participants=12,
            outcome="The property company empties the bins daily; residents sort waste.",
            minutes="12 residents and the property company attended; agreed a daily collection."), ev.IN_PROGRESS),
        ("EscalateIssue", lambda: pb.EscalateIssueRequest(
            meta=meta(), issue_id=issue_id, reason=ev.CROSS_JURISDICTION,
            note="The collection route is run by the district sanitation department."), ev.ESCALATED),
        ("RecordCommitteeDecision", lambda: pb.RecordCommitteeDecisionRequest(
            meta=meta(), issue_id=issue_id, decision="Add the building to the daily collection route.",
            lead_department="district sanitation", supporting_departments=["street office", "property company"],
            due_at=timestamp_in(14)), ev.ESCALATED),
        ("ResolveIssue", lambda: pb.ResolveIssueRequest(
            meta=meta(), issue_id=issue_id, summary="The route now includes building 3."), ev.RESOLVED),
        ("EvaluateResolution", lambda: pb.EvaluateResolutionRequest(
            meta=meta(), issue_id=issue_id, satisfaction=ev.SATISFIED, evaluator_id="grid-worker-1",
            comment="Residents confirm the bins are emptied."), ev.RESOLVED),
        ("ReopenIssue", lambda: pb.ReopenIssueRequest(
            meta=meta(), issue_id=issue_id, reason="Bins overflowed again after a holiday."), ev.REOPENED),
        ("HandleInGrid", lambda: pb.HandleInGridRequest(
            meta=meta(), issue_id=issue_id, summary="The grid worker had the bins emptied on the spot."),
         ev.RESOLVED),
    ]

    last_position = 0
    last_request = last_ack = None
    for revision, (method_name, make_request, expected_status) in enumerate(steps):
        request = make_request()
        ack = call(method_name, request)
        if revision == 0:
            if not ack.issue_id:
                raise Mismatch("ReportIssue: the ack carries no issue_id although the server was to choose one")
            try:
                uuid.UUID(ack.issue_id)
            except ValueError:
                raise Mismatch(f"ReportIssue: issue_id {ack.issue_id!r} is not a UUID") from None
            issue_id = ack.issue_id
        problems = []
        if ack.issue_id != issue_id:
            problems.append(f"issue_id {ack.issue_id!r}, expected {issue_id!r}")
        if ack.revision != revision:
            problems.append(f"revision {ack.revision}, expected {revision}")
        if ack.status != expected_status:
            problems.append(f"status {ev.IssueStatus.Name(ack.status)}, expected {ev.IssueStatus.Name(expected_status)}")
        if ack.duplicate:
            problems.append("duplicate is true for a fresh request id")
        if ack.position <= last_position:
            problems.append(f"position {ack.position} is not after the previous {last_position}")
        if len(ack.event_hash) != 32:
            problems.append(f"event_hash has {len(ack.event_hash)} bytes, expected 32")
        if problems:
            raise Mismatch(f"{method_name}: " + "; ".join(problems))
        print(f"{revision + 1:2} {method_name:<24} revision {ack.revision:<2} {ev.IssueStatus.Name(ack.status):<16}"
              f" position {ack.position} hash {ack.event_hash.hex()[:16]}")
        last_position = ack.position
        last_request, last_ack = request, ack

    try:
        issue = issues.GetIssue(pb.GetIssueRequest(issue_id=issue_id), metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        raise Mismatch(f"GetIssue failed: {error.code().name}: {error.details()}") from None
    expected = {
        "issue_id": issue_id, "grid_code": GRID, "community_code": "runzhou.s1.c01", "street_code": "runzhou.s1",
        "district_code": "runzhou", "category": "environment", "status": ev.RESOLVED, "resolution_level": ev.GRID,
        "revision": 10, "meetings_concluded": 1, "escalations": 1, "committee_decisions": 1, "reopens": 1,
    }
    problems = [f"{field} {getattr(issue, field)!r}, expected {value!r}"
                for field, value in expected.items() if getattr(issue, field) != value]
    if problems:
        raise Mismatch("GetIssue: " + "; ".join(problems))
    print(f"   GetIssue                 revision {issue.revision:<2} {ev.IssueStatus.Name(issue.status):<16}"
          f" level {ev.ResolutionLevel.Name(issue.resolution_level)}")

    # The retry of the last command, same request id: the original ack, marked duplicate.
    retry = call("HandleInGrid", last_request)
    problems = []
    if not retry.duplicate:
        problems.append("duplicate is false")
    for field in ("issue_id", "revision", "position", "event_hash", "status"):
        if getattr(retry, field) != getattr(last_ack, field):
            problems.append(f"{field} {getattr(retry, field)!r}, the original ack said {getattr(last_ack, field)!r}")
    if problems:
        raise Mismatch("HandleInGrid retried with the same request id: " + "; ".join(problems))
    print(f"   HandleInGrid (retry)     revision {retry.revision:<2} duplicate")
    try:
        again = issues.GetIssue(pb.GetIssueRequest(issue_id=issue_id), metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        raise Mismatch(f"GetIssue failed: {error.code().name}: {error.details()}") from None
    if again.revision != 10:
        raise Mismatch(f"the duplicate retry wrote something: the issue is at revision {again.revision}")
    channel.close()
    return issue_id


def main(argv=None):
    parser = argparse.ArgumentParser(description="Walk one issue through its lifecycle over gRPC.")
    parser.add_argument("--server", help="HOST:PORT of the gridledger gRPC server (plaintext)")
    parser.add_argument("--proto-root", default=str(DEFAULT_PROTO_ROOT),
                        help=f"directory holding gridledger/v1/*.proto (default {DEFAULT_PROTO_ROOT})")
    parser.add_argument("--token", help="bearer token, sent as `authorization: Bearer TOKEN` (when --auth is on)")
    parser.add_argument("--check-stubs", action="store_true", help="only compile the protos and import the stubs")
    args = parser.parse_args(argv)
    if not args.check_stubs and not args.server:
        parser.error("--server HOST:PORT is required (or --check-stubs)")

    with tempfile.TemporaryDirectory(prefix="gridledger-stubs-") as out_dir:
        pb, ev, pb_grpc = compile_stubs(args.proto_root, out_dir)
        if args.check_stubs:
            missing = [f"{module.__name__}.{name}" for module, names in used_names(pb, ev, pb_grpc)
                       for name in names if not hasattr(module, name)]
            if missing:
                raise SystemExit(f"error: the generated code lacks {', '.join(missing)}")
            print(f"ok: compiled {', '.join(PROTO_FILES)} and imported the stubs")
            return 0
        try:
            issue_id = walk(pb, ev, pb_grpc, args.server, args.token)
        except Mismatch as mismatch:
            print(f"FAILED: {mismatch}")
            return 1
    print(f"ok: walked issue {issue_id} through 11 commands")
    return 0


if __name__ == "__main__":
    sys.exit(main())
