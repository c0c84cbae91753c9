#!/usr/bin/env python3
"""Sync a grid app's offline queue to a gridledger server over one SubmitCommands stream, from proto/ alone.

The protocol of docs/api.md#field-sync, as an app written on another stack speaks it. It
compiles proto/gridledger/v1/*.proto at run time with grpc_tools.protoc into a temporary
directory, then:

1. makes a photo (a small PNG) and uploads it with UploadEvidence, in chunks of at most
   1 MiB, the first carrying the size; the server answers its EvidenceRef (SHA-256, size,
   and the media type it found in the bytes), which is checked against the bytes;
2. builds a queue as an app would while offline, each command with its own request id and
   the time it happened: a report (with an issue id chosen by the app, a UUIDv7, a GCJ-02
   location and the photo's ref), a handling in the grid (with the location and the ref),
   a resolution that the lifecycle refuses once the issue is resolved (FAILED_PRECONDITION),
   the handling again with its request id (a retry: answered as a duplicate), and an
   evaluation;
3. sends the queue over one SubmitCommands stream and prints each result, matched to its
   command by request id, as it arrives;
4. sends the same queue again, as an app does after a cut connection: every ack comes back
   as the original (duplicate = true), the refusal is the same;
5. reads the issue back (GetIssue: the location as given, the ref) and the photo's bytes
   (GetEvidence).

Usage:
    python3 field_sync.py --server 127.0.0.1:PORT [--proto-root DIR] [--token TOKEN] [--photo FILE]

Needs: pip install grpcio grpcio-tools protobuf
Exits 0 after `ok: synced issue <id> ...`; 1 with a message on an unexpected answer (a
refusal not expected, a field that differs) or an RPC error.
"""

import argparse
import importlib
import os
import struct
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

DEFAULT_PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO_FILES = ["gridledger/v1/gridledger.proto", "gridledger/v1/events.proto", "gridledger/v1/record.proto"]
GRID = "runzhou.s1.c01.g01"
# The most data one EvidenceChunk may carry.
CHUNK_BYTES = 1024 * 1024
# A spot inside the built-in Runzhou district (its bounding box: latitude 32.08..32.25,
# longitude 119.28..119.50), as an AMap SDK returns it: GCJ-02.
LATITUDE, LONGITUDE, ACCURACY_M = 32.1987654321, 119.4345678901, 7.25
ADDRESS = "润州区 金山路 3 号 B 栋楼道"


class Mismatch(Exception):
    pass


def well_known_protos_dir():
    """The google/protobuf/*.proto files bundled with grpc_tools."""
    from importlib.resources import files

    return str(files("grpc_tools") / "_proto")


def compile_stubs(proto_root, out_dir):
    """Compiles the contract with grpc_tools.protoc; imports (pb, ev, pb_grpc).

    Location, EvidenceRef and the enums live in events.proto (ev), the services and their
    requests in gridledger.proto (pb).
    """
    from grpc_tools import protoc

    proto_root = Path(proto_root)
    for name in PROTO_FILES:
        if not (proto_root / name).is_file():
            raise SystemExit(f"error: {proto_root / name} not found (use --proto-root)")
    args = ["grpc_tools.protoc", f"-I{proto_root}", f"-I{well_known_protos_dir()}",
            f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *PROTO_FILES]
    if protoc.main(args) != 0:
        raise SystemExit(f"error: protoc failed on {proto_root} (see the messages above)")
    sys.path.insert(0, str(out_dir))
    pb = importlib.import_module("gridledger.v1.gridledger_pb2")
    ev = importlib.import_module("gridledger.v1.events_pb2")
    pb_grpc = importlib.import_module("gridledger.v1.gridledger_pb2_grpc")
    return pb, ev, pb_grpc


def uuid7():
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered,
    chosen by the app so that the commands queued after a report can name its issue."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    rand_a, rand_b = random >> 68, random & ((1 << 62) - 1)
    return uuid.UUID(int=(milliseconds & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)


def small_png(text):
    """A 1x1 PNG with `text` in a tEXt chunk (so each run's photo has bytes of its own)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\x00" + text.encode())
            + chunk(b"IDAT", zlib.compress(b"\x00\x2e\x8b\x57"))
            + chunk(b"IEND", b""))


def now_timestamp():
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def upload_evidence(pb, issues, data, claimed_media_type, metadata):
    """UploadEvidence: the first chunk says the size (and may say the media type the app
    believes, which the server checks against the bytes); the server stores the bytes
    durably, once per SHA-256, before it answers."""
    import hashlib

    def chunks():
        for offset in range(0, len(data), CHUNK_BYTES):
            first = offset == 0
            yield pb.EvidenceChunk(size=len(data) if first else 0, media_type=claimed_media_type if first else "",
                                   data=data[offset:offset + CHUNK_BYTES])

    reference = issues.UploadEvidence(chunks(), metadata=metadata, timeout=30)
    if reference.sha256 != hashlib.sha256(data).digest() or reference.size != len(data):
        raise Mismatch(f"UploadEvidence answered {reference.sha256.hex()} ({reference.size} bytes) "
                       f"for {len(data)} bytes hashing to {hashlib.sha256(data).hexdigest()}")
    return reference


def code_names():
    import grpc

    return {status.value[0]: status.name for status in grpc.StatusCode}


def describe(response, ev):
    """A result for people: what happened to the command with this request id."""
    if response.WhichOneof("result") == "ack":
        ack = response.ack
        return (f"acked    {response.request_id}  revision {ack.revision}  {ev.IssueStatus.Name(ack.status)}"
                f"  position {ack.position}{'  (duplicate: applied before)' if ack.duplicate else ''}")
    error = response.error
    field = f" (field {error.field})" if error.field else ""
    retry = "; retryable" if error.retryable else ""
    return f"refused  {response.request_id}  {code_names().get(error.code, error.code)}: {error.message}{field}{retry}"


def submit(issues, requests, metadata, ev):
    """Sends `requests` over one SubmitCommands stream; their results by request id, each
    list in the order the results came.

    The request iterator is consumed as the server takes commands (it takes at most a window
    of them at a time, then stops reading until it has answered some: HTTP/2 flow control
    holds the rest), so a long queue needs no more memory than a short one. Results come in
    the order commands complete; those on one issue complete in stream order.
    """
    results = {}
    for response in issues.SubmitCommands(iter(requests), metadata=metadata, timeout=60):
        print(describe(response, ev))
        results.setdefault(response.request_id, []).append(response)
    return results


def expect(results, expected, ev):
    """Checks each request id's results against what was expected of them, in order:
    ("ack", status, revision, duplicate) or ("error", code name)."""
    names = code_names()
    problems = []
    for request_id, wanted in expected.items():
        got = results.get(request_id, [])
        if len(got) != len(wanted):
            problems.append(f"{request_id}: {len(got)} results, expected {len(wanted)}")
            continue
        for response, want in zip(got, wanted):
            kind = response.WhichOneof("result")
            if want[0] == "error":
                code = names.get(response.error.code) if kind == "error" else None
                if code != want[1]:
                    problems.append(f"{request_id}: {describe(response, ev)}, expected a refusal {want[1]}")
                continue
            if kind != "ack":
                problems.append(f"{request_id}: unexpected refusal: {describe(response, ev)}")
                continue
            ack, (_, status, revision, duplicate) = response.ack, want
            if (ack.status, ack.revision, ack.duplicate) != (status, revision, duplicate):
                problems.append(f"{request_id}: {describe(response, ev)}, expected {ev.IssueStatus.Name(status)} "
                                f"revision {revision} duplicate {duplicate}")
    unknown = set(results) - set(expected)
    if unknown:
        problems.append(f"results for request ids never sent: {sorted(unknown)}")
    if problems:
        raise Mismatch("; ".join(problems))


def sync(pb, ev, pb_grpc, server, token, photo):
    import grpc

    metadata = [("authorization", f"Bearer {token}")] if token else None
    channel = grpc.insecure_channel(server)
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
    except grpc.FutureTimeoutError:
        raise SystemExit(f"error: cannot connect to {server} within 10 s")
    issues = pb_grpc.IssueServiceStub(channel)
    run = uuid.uuid4().hex[:12]

    # 1. The photo, uploaded before any command references it.
    if photo:
        data, claimed = Path(photo).read_bytes(), ""
    else:
        data, claimed = small_png(f"field_sync.py run {run}"), "image/png"
    reference = upload_evidence(pb, issues, data, claimed, metadata)
    print(f"uploaded photo {reference.sha256.hex()} ({reference.media_type}, {reference.size} bytes)")

    # 2. The queue, built offline: every command has its request id and business time now.
    issue_id = str(uuid7())
    location = ev.Location(latitude=LATITUDE, longitude=LONGITUDE, coordinate_system=ev.GCJ02,
                           accuracy_m=ACCURACY_M, address=ADDRESS)

    def meta(request_id):
        return pb.CommandMeta(request_id=request_id, occurred_at=now_timestamp())

    report, handle, resolve, evaluate = (f"{name}-{run}" for name in ("report", "handle", "resolve", "evaluate"))
    queue = [
        pb.SubmitCommandsRequest(report_issue=pb.ReportIssueRequest(
            meta=meta(report), issue_id=issue_id, grid_code=GRID, category="environment",
            title="Overflowing bins behind building 3", description="Not emptied for four days.",
            reporter_id="grid-worker-1", location=location, evidence=[reference])),
        pb.SubmitCommandsRequest(handle_in_grid=pb.HandleInGridRequest(
            meta=meta(handle), issue_id=issue_id, summary="Had the bins emptied on the spot.",
            location=location, evidence=[reference])),
        pb.SubmitCommandsRequest(resolve_issue=pb.ResolveIssueRequest(
            meta=meta(resolve), issue_id=issue_id, summary="Resolved again by mistake.")),
        pb.SubmitCommandsRequest(handle_in_grid=pb.HandleInGridRequest(
            meta=meta(handle), issue_id=issue_id, summary="Had the bins emptied on the spot.",
            location=location, evidence=[reference])),
        pb.SubmitCommandsRequest(evaluate_resolution=pb.EvaluateResolutionRequest(
            meta=meta(evaluate), issue_id=issue_id, satisfaction=ev.SATISFIED, evaluator_id="resident-9")),
    ]
    expected = {
        report: [("ack", ev.REPORTED, 0, False)],
        handle: [("ack", ev.RESOLVED, 1, False), ("ack", ev.RESOLVED, 1, True)],
        resolve: [("error", "FAILED_PRECONDITION")],
        evaluate: [("ack", ev.RESOLVED, 2, False)],
    }

    # 3. One stream.
    first = submit(issues, queue, metadata, ev)
    expect(first, expected, ev)

    # 4. The same queue again, as after a cut connection: the original acks, the same refusal.
    print("replaying the whole queue with the same request ids")
    second = submit(issues, queue, metadata, ev)
    expect(second, {request_id: [("ack", want[1], want[2], True) if want[0] == "ack" else want
                                 for want in wanted]
                    for request_id, wanted in expected.items()}, ev)
    for request_id, responses in first.items():
        for before, after in zip(responses, second[request_id]):
            same = (before.ack.position, before.ack.event_hash) == (after.ack.position, after.ack.event_hash) \
                if before.WhichOneof("result") == "ack" else before.error == after.error
            if not same:
                raise Mismatch(f"{request_id}: replayed as {describe(after, ev)}, first {describe(before, ev)}")
    print("replayed: the same answers, nothing written twice")

    # 5. The issue as the server keeps it, and the photo's bytes.
    issue = issues.GetIssue(pb.GetIssueRequest(issue_id=issue_id), metadata=metadata, timeout=10)
    if issue.location != location:
        raise Mismatch(f"GetIssue: location {issue.location}, expected {location} exactly as sent")
    if list(issue.evidence) != [reference]:
        raise Mismatch(f"GetIssue: evidence {list(issue.evidence)}, expected [{reference}]")
    chunks = issues.GetEvidence(pb.GetEvidenceRequest(sha256=reference.sha256, issue_id=issue_id),
                                metadata=metadata, timeout=30)
    if b"".join(chunk.data for chunk in chunks) != data:
        raise Mismatch("GetEvidence: the bytes differ from the photo uploaded")
    print(f"ok: synced issue {issue_id}: {len(queue)} commands over one stream, "
          f"{sum(len(results) for results in first.values())} results, 1 refused as expected, replayed unchanged")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051", help="host:port of a gridledger server")
    parser.add_argument("--proto-root", default=str(DEFAULT_PROTO_ROOT), help="the repository's proto/ directory")
    parser.add_argument("--token", default=os.environ.get("GRIDLEDGER_TOKEN"), help="bearer token (serve --auth)")
    parser.add_argument("--photo", help="a JPEG, PNG, WebP, HEIC, MP4 or QuickTime file (default: a small PNG made here)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        pb, ev, pb_grpc = compile_stubs(arguments.proto_root, out_dir)
        try:
            sync(pb, ev, pb_grpc, arguments.server, arguments.token, arguments.photo)
        except Mismatch as mismatch:
            print(f"error: {mismatch}", file=sys.stderr)
            return 1
        except Exception as error:  # grpc.RpcError and the like: say what failed
            code = getattr(error, "code", None)
            details = getattr(error, "details", None)
            if callable(code) and callable(details):
                print(f"error: {code().name}: {details()}", file=sys.stderr)
                return 1
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
