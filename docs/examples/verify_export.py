#!/usr/bin/env python3
"""Independently verify a gridledger log export, with nothing but a stock Python 3.

An export is JSON Lines, one line per event in position order (docs/events.md#export-format):

    {"position": 1, "record": "<base64 of the stored EventRecord bytes>",
     "prev_hash": "<64 hex>", "hash": "<64 hex>", "decoded": {...}, "event": {...}}

The hash chain covers only the `record` bytes, so this script trusts nothing but those
bytes and SHA-256 (hashlib). It checks that:

  * positions run 1, 2, 3, ... without gaps;
  * each line's prev_hash is the previous line's hash (32 zero bytes before position 1)
    and hash = SHA-256(prev_hash || record);
  * the record is a well-formed gridledger.v1.EventRecord (proto/gridledger/v1/record.proto)
    whose position is the line's position, and recorded_at never decreases;
  * per stream, revisions run 0, 1, 2, ... and stream_prev_hash is the hash of the
    stream's previous event (32 zero bytes for revision 0);
  * the convenience `decoded` object, which the hash does not cover, agrees with the
    record wherever it names a field (position, stream_id, revision, event_id, event_type,
    recorded_at, occurred_at, actor_id, request_id, stream_prev_hash);
  * optionally, that the last hash is the head hash you obtained elsewhere;
  * optionally (--evidence DIR), the photos and videos the events reference, as
    `gridledger audit export --evidence DIR` writes them: for every EvidenceRef in every
    event body (read from the hashed record, proto/gridledger/v1/events.proto), the file
    DIR/<64 hex of its SHA-256> exists, has the ref's size, and its SHA-256 is the ref's.

No third-party module is needed. The record's fields are read by the small protobuf
wire-format reader below (an EventRecord has only varint and length-delimited fields).
If the `protobuf` package happens to be installed, every record is also decoded with it
and the two decodes must agree; if it is not, the script says how to install it
(`python3 -m pip install protobuf`) on standard error and verifies without it.

Usage:
    python3 verify_export.py EXPORT.jsonl [--expect-head-hash HEX] [--evidence DIR]

Prints `ok: N events verified, head position P, head hash H` (and, with --evidence,
`ok: B evidence blobs verified (S bytes) in DIR`) and exits 0, or prints
`FAILED at position P: reason` (or `FAILED: reason` for an unreadable or empty file) and
exits 1. With --evidence, every blob that is missing or damaged gets a line of its own,
`FAILED at position P: evidence <hex> ...` with P the first event that references it, and
a last line `FAILED: K of B evidence blobs missing or damaged ...`.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

ZERO_HASH = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# gridledger.v1.EventRecord, field by field, as in proto/gridledger/v1/record.proto:
# (name, field number, protobuf type).
EVENT_RECORD_FIELDS = [
    ("position", 1, "uint64"),
    ("stream_id", 2, "string"),
    ("revision", 3, "uint64"),
    ("event_id", 4, "bytes"),
    ("event_type", 5, "string"),
    ("recorded_at", 6, "int64"),
    ("occurred_at", 7, "int64"),
    ("actor_id", 8, "string"),
    ("request_id", 9, "string"),
    ("stream_prev_hash", 10, "bytes"),
    ("event", 11, "bytes"),
]
_FIELDS_BY_NUMBER = {number: (name, kind) for name, number, kind in EVENT_RECORD_FIELDS}
_DEFAULTS = {"uint64": 0, "int64": 0, "string": "", "bytes": b""}

# Protobuf wire types.
_VARINT, _FIXED64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_U64 = (1 << 64) - 1
_MAX_FIELD_NUMBER = (1 << 29) - 1


class Failure(Exception):
    """A check that did not pass, at a position (None when no position applies)."""

    def __init__(self, position, reason):
        super().__init__(reason)
        self.position = position
        self.reason = reason


class RecordDecodeError(Exception):
    """The record bytes are not a well-formed EventRecord."""


# ---------------------------------------------------------------------------------------
# The record, read with the standard library only.
# ---------------------------------------------------------------------------------------


def _read_varint(data, offset):
    """Reads a base-128 varint at `offset`; returns (value as uint64, next offset)."""
    value = 0
    for index in range(10):
        if offset >= len(data):
            raise RecordDecodeError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value & _U64, offset
    raise RecordDecodeError("varint longer than 10 bytes")


def _wire_fields(data):
    """Yields (field number, wire type, value) for each field of the protobuf message in
    `data`: an int for a varint, bytes otherwise. A truncated field, a group or a field
    number out of range is a RecordDecodeError."""
    offset = 0
    while offset < len(data):
        key, offset = _read_varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number > _MAX_FIELD_NUMBER:
            raise RecordDecodeError(f"field number {number} is out of range")
        if wire_type == _VARINT:
            value, offset = _read_varint(data, offset)
        elif wire_type == _FIXED64:
            if offset + 8 > len(data):
                raise RecordDecodeError(f"field {number} is truncated")
            value, offset = data[offset : offset + 8], offset + 8
        elif wire_type == _FIXED32:
            if offset + 4 > len(data):
                raise RecordDecodeError(f"field {number} is truncated")
            value, offset = data[offset : offset + 4], offset + 4
        elif wire_type == _LENGTH_DELIMITED:
            length, offset = _read_varint(data, offset)
            if offset + length > len(data):
                raise RecordDecodeError(f"field {number} is truncated")
            value, offset = bytes(data[offset : offset + length]), offset + length
        else:
            raise RecordDecodeError(f"field {number} has wire type {wire_type}, which gridledger never uses")
        yield number, wire_type, value


def decode_event_record(data):
    """Decodes EventRecord bytes into a dict of its eleven fields (proto3 defaults when absent).

    As protobuf readers do, it takes fields in any order, lets the last occurrence of a
    field win and skips unknown fields. It is stricter in one respect: a known field with
    the wrong wire type is an error (protobuf would keep it as an unknown field), as are a
    truncated field, a group, a field number out of range and a string that is not UTF-8.
    """
    record = {name: _DEFAULTS[kind] for name, _number, kind in EVENT_RECORD_FIELDS}
    for number, wire_type, value in _wire_fields(data):
        if number not in _FIELDS_BY_NUMBER:
            continue  # unknown fields are skipped, as protobuf readers do
        name, kind = _FIELDS_BY_NUMBER[number]
        expected_wire_type = _VARINT if kind in ("uint64", "int64") else _LENGTH_DELIMITED
        if wire_type != expected_wire_type:
            raise RecordDecodeError(f"field {name} ({number}) has wire type {wire_type}, expected {expected_wire_type}")
        if kind == "int64" and value >= 1 << 63:
            value -= 1 << 64
        elif kind == "string":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as error:
                raise RecordDecodeError(f"field {name} is not UTF-8: {error}") from None
        record[name] = value
    return record


# gridledger.v1.IssueEventBody (proto/gridledger/v1/events.proto): the variants of its
# `body` oneof that carry evidence, and the number of their `repeated EvidenceRef evidence`.
EVIDENCE_FIELD_OF_VARIANT = {
    1: ("IssueReported", 9),
    2: ("IssueHandledInGrid", 3),
    9: ("IssueResolved", 3),
}


def decode_evidence_refs(event_body):
    """The EvidenceRefs of an encoded IssueEventBody (the record's `event` bytes), in order,
    each a dict with `sha256` (32 bytes), `size` and `media_type`. A body whose variant
    carries no evidence has none."""
    variant = None
    for number, wire_type, value in _wire_fields(event_body):
        if number in EVIDENCE_FIELD_OF_VARIANT:
            if wire_type != _LENGTH_DELIMITED:
                raise RecordDecodeError(f"event body field {number} has wire type {wire_type}, expected 2")
            variant = (number, value)
        elif 1 <= number <= 12:
            variant = None  # another member of the oneof: the last one set wins
    if variant is None:
        return []
    number, message = variant
    name, evidence_field = EVIDENCE_FIELD_OF_VARIANT[number]
    refs = []
    for field, wire_type, value in _wire_fields(message):
        if field != evidence_field:
            continue
        if wire_type != _LENGTH_DELIMITED:
            raise RecordDecodeError(f"{name}.evidence has wire type {wire_type}, expected 2")
        ref = {"sha256": b"", "size": 0, "media_type": ""}
        for ref_field, ref_wire_type, ref_value in _wire_fields(value):
            if ref_field == 1 and ref_wire_type == _LENGTH_DELIMITED:
                ref["sha256"] = ref_value
            elif ref_field == 2 and ref_wire_type == _VARINT:
                ref["size"] = ref_value
            elif ref_field == 3 and ref_wire_type == _LENGTH_DELIMITED:
                try:
                    ref["media_type"] = ref_value.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise RecordDecodeError(f"{name}.evidence media_type is not UTF-8: {error}") from None
            elif ref_field in (1, 2, 3):
                raise RecordDecodeError(f"{name}.evidence field {ref_field} has wire type {ref_wire_type}")
        if len(ref["sha256"]) != 32:
            raise RecordDecodeError(f"{name}.evidence sha256 is {len(ref['sha256'])} bytes, not 32")
        refs.append(ref)
    return refs


# ---------------------------------------------------------------------------------------
# Optional: a second decode with the `protobuf` package, imported only if present.
# ---------------------------------------------------------------------------------------

INSTALL_HINT = "python3 -m pip install protobuf"


def protobuf_decoder():
    """A function decoding record bytes with the official protobuf library, or None with
    the reason when the library is not available."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        from google.protobuf.message import DecodeError
    except ImportError as error:
        return None, f"the protobuf package is not installed ({error})"
    try:
        field_types = {
            "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
            "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
            "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
        }
        file_proto = descriptor_pb2.FileDescriptorProto(
            name="verify_export/gridledger/v1/record.proto", package="gridledger.v1", syntax="proto3"
        )
        message = file_proto.message_type.add(name="EventRecord")
        for name, number, kind in EVENT_RECORD_FIELDS:
            message.field.add(
                name=name,
                number=number,
                type=field_types[kind],
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
            )
        pool = descriptor_pool.DescriptorPool()
        pool.AddSerializedFile(file_proto.SerializeToString())
        descriptor = pool.FindMessageTypeByName("gridledger.v1.EventRecord")
        if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
            event_record = message_factory.GetMessageClass(descriptor)
        else:
            event_record = message_factory.MessageFactory(pool).GetPrototype(descriptor)
    except Exception as error:  # an unusable (e.g. very old) protobuf package
        return None, f"the installed protobuf package cannot be used ({error})"

    def decode(data):
        message = event_record()
        try:
            message.ParseFromString(data)
        except DecodeError as error:
            raise RecordDecodeError(str(error)) from None
        return {name: getattr(message, name) for name, _number, _kind in EVENT_RECORD_FIELDS}

    return decode, None


# ---------------------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------------------


def parse_hash(value, what, position):
    if not isinstance(value, str) or len(value) != 64:
        raise Failure(position, f"{what} is not 64 hex characters: {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Failure(position, f"{what} is not 64 hex characters: {value!r}") from None


def _bytes_forms(value):
    """The ways an export or a JSON tool may write a bytes field: hex, base64, or a UUID."""
    forms = {value.hex(), base64.b64encode(value).decode("ascii")}
    if len(value) == 16:
        forms.add(str(uuid.UUID(bytes=value)))
    return forms


def _time_forms(micros):
    """The ways a microsecond timestamp may be written: the integer (as protobuf JSON tools
    print an int64), or RFC 3339 in UTC with microseconds (as the export writes it)."""
    forms = {str(micros), f"{micros}us before 1970"}
    try:
        instant = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return forms
    forms.add(instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    if instant.microsecond == 0:
        forms.add(instant.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return forms


def check_decoded_agrees(decoded, record, position):
    """The `decoded` object is a convenience the hash does not cover: where it names a
    field of the record (snake_case as the export writes it, or lowerCamelCase as protobuf
    JSON tools do), it must say what the record says."""
    if not isinstance(decoded, dict):
        return
    for name, _number, kind in EVENT_RECORD_FIELDS:
        if name == "event":
            continue  # the export leaves the body bytes out; they are in `record`
        camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
        for key in {name, camel}:
            if key not in decoded:
                continue
            claimed = decoded[key]
            actual = record[name]
            if kind == "bytes":
                agrees = isinstance(claimed, str) and (claimed in _bytes_forms(actual) or claimed.lower() in _bytes_forms(actual))
                shown = actual.hex()
            elif kind == "int64" and name.endswith("_at"):
                agrees = str(claimed) in _time_forms(actual)
                shown = actual
            else:
                agrees = str(claimed) == str(actual)
                shown = actual
            if not agrees:
                raise Failure(position, f"decoded.{key} is {claimed!r} but the record says {shown!r}")


def check_event_evidence_agrees(event, refs, position):
    """The convenience `event` object is not hashed either: where it lists evidence, it
    must list the record's, in order (digest and size)."""
    if not isinstance(event, dict) or "evidence" not in event:
        return
    claimed = event["evidence"]
    actual = [(ref["sha256"].hex(), ref["size"]) for ref in refs]
    listed = None
    if isinstance(claimed, list) and all(isinstance(item, dict) for item in claimed):
        listed = [(str(item.get("sha256", "")).lower(), item.get("size")) for item in claimed]
    if listed != actual:
        raise Failure(position, f"event.evidence is {claimed!r} but the record references {actual!r}")


def verify(lines, expect_head_hash=None, second_decoder=None, evidence=None):
    """Verifies the export; returns (count, head position, head hash) or raises Failure.

    With `evidence` (a list), appends (position, ref) for every EvidenceRef of every
    event, read from the hashed record bytes (see decode_evidence_refs)."""
    expected_position = 1
    prev_hash = ZERO_HASH
    last_recorded_at = None
    streams = {}  # stream_id -> (revision, hash) of its latest event
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        position = expected_position
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise Failure(position, f"line {line_number} is not valid JSON: {error}") from None
        if not isinstance(entry, dict):
            raise Failure(position, f"line {line_number} is not a JSON object")
        missing = [key for key in ("position", "record", "prev_hash", "hash") if key not in entry]
        if missing:
            raise Failure(position, f"line {line_number} lacks {', '.join(missing)}")

        if type(entry["position"]) is not int or entry["position"] != expected_position:
            raise Failure(
                position, f"line {line_number} has position {entry['position']!r}, expected {expected_position}"
            )
        line_prev_hash = parse_hash(entry["prev_hash"], "prev_hash", position)
        line_hash = parse_hash(entry["hash"], "hash", position)
        if not isinstance(entry["record"], str):
            raise Failure(position, "record is not a base64 string")
        try:
            record_bytes = base64.b64decode(entry["record"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise Failure(position, f"record is not valid base64: {error}") from None

        # The global chain: hashlib alone.
        if line_prev_hash != prev_hash:
            raise Failure(position, f"prev_hash {line_prev_hash.hex()} is not the previous hash {prev_hash.hex()}")
        computed = hashlib.sha256(prev_hash + record_bytes).digest()
        if computed != line_hash:
            raise Failure(
                position,
                f"hash mismatch: SHA-256(prev_hash || record) is {computed.hex()}, the export says {line_hash.hex()}",
            )

        # The record itself, from the hashed bytes.
        try:
            record = decode_event_record(record_bytes)
        except RecordDecodeError as error:
            raise Failure(position, f"record does not decode as an EventRecord: {error}") from None
        if second_decoder is not None:
            try:
                again = second_decoder(record_bytes)
            except RecordDecodeError as error:
                raise Failure(position, f"record does not decode as an EventRecord (protobuf package): {error}") from None
            if again != record:
                differing = sorted(name for name in record if record[name] != again[name])
                raise Failure(position, f"the protobuf package decodes {', '.join(differing)} differently")
        if record["position"] != position:
            raise Failure(position, f"record says it is position {record['position']}")
        if last_recorded_at is not None and record["recorded_at"] < last_recorded_at:
            raise Failure(position, f"recorded_at {record['recorded_at']} is before the previous {last_recorded_at}")
        check_decoded_agrees(entry.get("decoded"), record, position)
        if evidence is not None:
            try:
                refs = decode_evidence_refs(record["event"])
            except RecordDecodeError as error:
                raise Failure(position, f"the record's event body does not decode: {error}") from None
            check_event_evidence_agrees(entry.get("event"), refs, position)
            evidence.extend((position, ref) for ref in refs)

        # The stream chain.
        stream_id, revision = record["stream_id"], record["revision"]
        previous = streams.get(stream_id)
        if previous is None:
            if revision != 0:
                raise Failure(position, f"stream {stream_id} starts at revision {revision}, expected 0")
            expected_stream_prev = ZERO_HASH
        else:
            previous_revision, expected_stream_prev = previous
            if revision != previous_revision + 1:
                raise Failure(position, f"stream {stream_id} revision {revision} follows revision {previous_revision}")
        if record["stream_prev_hash"] != expected_stream_prev:
            raise Failure(
                position,
                f"stream chain broken: stream_prev_hash {record['stream_prev_hash'].hex()} of {stream_id} "
                f"revision {revision} is not {expected_stream_prev.hex()}",
            )
        streams[stream_id] = (revision, computed)

        prev_hash = computed
        last_recorded_at = record["recorded_at"]
        expected_position += 1

    count = expected_position - 1
    if count == 0:
        raise Failure(None, "the export holds no events")
    if expect_head_hash is not None:
        expected = parse_hash(expect_head_hash.strip().lower(), "--expect-head-hash", count)
        if expected != prev_hash:
            raise Failure(count, f"head hash {prev_hash.hex()} is not the expected {expected.hex()}")
    return count, count, prev_hash


def sha256_of_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as blob:
        while True:
            chunk = blob.read(1 << 20)
            if not chunk:
                return digest.digest()
            digest.update(chunk)


def check_evidence(directory, references):
    """Checks the blobs `references` ((position, ref) pairs, in log order) name in
    `directory`, each distinct digest once. Returns (blobs, bytes, problems): problems are
    (position of the event referencing the blob, its hex digest, reason), in that order."""
    blobs = {}  # hex -> {"size": ..., "positions": [...]}, in order of first reference
    problems = []
    for position, ref in references:
        name = ref["sha256"].hex()
        blob = blobs.setdefault(name, {"size": ref["size"], "positions": []})
        blob["positions"].append(position)
        if ref["size"] != blob["size"]:
            problems.append(
                (
                    position,
                    name,
                    f"evidence {name} is referenced with size {ref['size']}, "
                    f"but with size {blob['size']} at position {blob['positions'][0]}",
                )
            )
    total = 0
    for name, blob in blobs.items():
        first, others = blob["positions"][0], blob["positions"][1:]
        also = f" (also referenced at position{'s' if len(others) > 1 else ''} {', '.join(map(str, others))})" if others else ""
        path = os.path.join(directory, name)
        try:
            size = os.stat(path).st_size
            if not os.path.isfile(path):
                problems.append((first, name, f"evidence {name} is missing: {path} is not a file{also}"))
                continue
            if size != blob["size"]:
                problems.append(
                    (first, name, f"evidence {name} is damaged: {path} has {size} bytes, the event says {blob['size']}{also}")
                )
                continue
            actual = sha256_of_file(path)
        except FileNotFoundError:
            problems.append((first, name, f"evidence {name} is missing: no file {path}{also}"))
            continue
        except OSError as error:
            problems.append((first, name, f"evidence {name} cannot be read: {error}{also}"))
            continue
        if actual.hex() != name:
            problems.append((first, name, f"evidence {name} is damaged: the SHA-256 of {path} is {actual.hex()}{also}"))
            continue
        total += size
    problems.sort(key=lambda problem: problem[0])
    return len(blobs), total, problems


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a gridledger log export (JSON Lines).")
    parser.add_argument("export", help="the export file, JSON Lines")
    parser.add_argument("--expect-head-hash", metavar="HEX", help="the head hash the export must end at")
    parser.add_argument(
        "--evidence",
        metavar="DIR",
        help="also check the blobs the events reference: DIR/<64 hex> as `audit export --evidence DIR` wrote them",
    )
    args = parser.parse_args(argv)
    expect = args.expect_head_hash
    if expect is not None and (len(expect.strip()) != 64 or any(c not in "0123456789abcdefABCDEF" for c in expect.strip())):
        parser.error(f"--expect-head-hash must be 64 hex characters, got {expect!r}")
    second_decoder, unavailable = protobuf_decoder()
    if second_decoder is None:
        print(
            f"note: {unavailable}; records are decoded by this script's own reader only. "
            f"For a second decode with the official library: {INSTALL_HINT}",
            file=sys.stderr,
        )
    try:
        with open(args.export, encoding="utf-8") as export:
            references = [] if args.evidence is not None else None
            count, head_position, head_hash = verify(export, args.expect_head_hash, second_decoder, references)
    except OSError as error:
        print(f"FAILED: cannot read {args.export}: {error}")
        return 1
    except UnicodeDecodeError as error:
        print(f"FAILED: {args.export} is not UTF-8 text: {error}")
        return 1
    except Failure as failure:
        if failure.position is None:
            print(f"FAILED: {failure.reason}")
        else:
            print(f"FAILED at position {failure.position}: {failure.reason}")
        return 1
    verdict = f"{count} events verified, head position {head_position}, head hash {head_hash.hex()}"
    if args.evidence is None:
        print(f"ok: {verdict}")
        return 0
    if not os.path.isdir(args.evidence):
        print(f"FAILED: the evidence directory {args.evidence} is not a directory ({verdict})")
        return 1
    blobs, total, problems = check_evidence(args.evidence, references)
    if problems:
        for position, _name, reason in problems:
            print(f"FAILED at position {position}: {reason}")
        damaged = len({name for _position, name, _reason in problems})
        print(f"FAILED: {damaged} of {blobs} evidence blobs missing or damaged ({verdict})")
        return 1
    print(f"ok: {verdict}")
    print(f"ok: {blobs} evidence blobs verified ({total} bytes) in {args.evidence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
