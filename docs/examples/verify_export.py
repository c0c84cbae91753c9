#!/usr/bin/env python3
"""Independently verify a gridledger log export.

An export is JSON Lines, one line per event in position order:

    {"position": 1, "record": "<base64 of the stored EventRecord bytes>",
     "prev_hash": "<64 hex>", "hash": "<64 hex>", "decoded": {...}, "event": {...}}

This script trusts nothing but the `record` bytes and SHA-256. It checks that:

  * positions run 1, 2, 3, ... without gaps;
  * each line's prev_hash is the previous line's hash (32 zero bytes before position 1)
    and hash = SHA-256(prev_hash || record);
  * the record decodes as a gridledger.v1.EventRecord (proto/gridledger/v1/record.proto)
    whose position is the line's position, and recorded_at never decreases;
  * per stream, revisions run 0, 1, 2, ... and stream_prev_hash is the hash of the
    stream's previous event (32 zero bytes for revision 0);
  * where the convenience `decoded` object names position, stream_id, revision or
    event_type, it agrees with the record (the hash covers only `record`);
  * optionally, that the last hash is the head hash you obtained elsewhere.

The record is decoded with a message class built at run time from a descriptor written
below, so no generated code and no .proto files are needed: only the `protobuf` package
(4.x or later).

Usage:
    python3 verify_export.py EXPORT.jsonl [--expect-head-hash HEX]

Prints `ok: N events verified, head position P, head hash H` and exits 0, or prints
`FAILED at position P: reason` (or `FAILED: reason` for an unreadable or empty file) and
exits 1.
"""

import argparse
import base64
import binascii
import hashlib
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

ZERO_HASH = bytes(32)

# gridledger.v1.EventRecord, field by field, as in proto/gridledger/v1/record.proto.
_F = descriptor_pb2.FieldDescriptorProto
EVENT_RECORD_FIELDS = [
    ("position", 1, _F.TYPE_UINT64),
    ("stream_id", 2, _F.TYPE_STRING),
    ("revision", 3, _F.TYPE_UINT64),
    ("event_id", 4, _F.TYPE_BYTES),
    ("event_type", 5, _F.TYPE_STRING),
    ("recorded_at", 6, _F.TYPE_INT64),
    ("occurred_at", 7, _F.TYPE_INT64),
    ("actor_id", 8, _F.TYPE_STRING),
    ("request_id", 9, _F.TYPE_STRING),
    ("stream_prev_hash", 10, _F.TYPE_BYTES),
    ("event", 11, _F.TYPE_BYTES),
]


def event_record_class():
    """Builds the EventRecord message class from a descriptor constructed here."""
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="verify_export/gridledger/v1/record.proto", package="gridledger.v1", syntax="proto3"
    )
    message = file_proto.message_type.add(name="EventRecord")
    for name, number, field_type in EVENT_RECORD_FIELDS:
        message.field.add(name=name, number=number, type=field_type, label=_F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file_proto.SerializeToString())
    descriptor = pool.FindMessageTypeByName("gridledger.v1.EventRecord")
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


class Failure(Exception):
    """A check that did not pass, at a position (None when no position applies)."""

    def __init__(self, position, reason):
        super().__init__(reason)
        self.position = position
        self.reason = reason


def parse_hash(value, what, position):
    if not isinstance(value, str) or len(value) != 64:
        raise Failure(position, f"{what} is not 64 hex characters: {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Failure(position, f"{what} is not 64 hex characters: {value!r}") from None


def check_decoded_agrees(decoded, record, position):
    """The `decoded` object is a convenience; where it names a key field, it must agree."""
    if not isinstance(decoded, dict):
        return
    for snake, camel in (
        ("position", "position"),
        ("stream_id", "streamId"),
        ("revision", "revision"),
        ("event_type", "eventType"),
    ):
        for key in (snake, camel):
            if key in decoded and str(decoded[key]) != str(getattr(record, snake)):
                raise Failure(
                    position,
                    f"decoded.{key} is {decoded[key]!r} but the record says {getattr(record, snake)!r}",
                )


def verify(lines, expect_head_hash=None):
    """Verifies the export; returns (count, head position, head hash) or raises Failure."""
    EventRecord = event_record_class()
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

        # The global chain.
        if line_prev_hash != prev_hash:
            raise Failure(position, f"prev_hash {line_prev_hash.hex()} is not the previous hash {prev_hash.hex()}")
        computed = hashlib.sha256(prev_hash + record_bytes).digest()
        if computed != line_hash:
            raise Failure(
                position,
                f"hash mismatch: SHA-256(prev_hash || record) is {computed.hex()}, the export says {line_hash.hex()}",
            )

        # The record itself.
        record = EventRecord()
        try:
            record.ParseFromString(record_bytes)
        except DecodeError as error:
            raise Failure(position, f"record does not decode as an EventRecord: {error}") from None
        if record.position != position:
            raise Failure(position, f"record says it is position {record.position}")
        if last_recorded_at is not None and record.recorded_at < last_recorded_at:
            raise Failure(position, f"recorded_at {record.recorded_at} is before the previous {last_recorded_at}")
        check_decoded_agrees(entry.get("decoded"), record, position)

        # The stream chain.
        previous = streams.get(record.stream_id)
        if previous is None:
            if record.revision != 0:
                raise Failure(
                    position, f"stream {record.stream_id} starts at revision {record.revision}, expected 0"
                )
            expected_stream_prev = ZERO_HASH
        else:
            previous_revision, expected_stream_prev = previous
            if record.revision != previous_revision + 1:
                raise Failure(
                    position,
                    f"stream {record.stream_id} revision {record.revision} follows revision {previous_revision}",
                )
        if record.stream_prev_hash != expected_stream_prev:
            raise Failure(
                position,
                f"stream chain broken: stream_prev_hash {record.stream_prev_hash.hex()} of {record.stream_id} "
                f"revision {record.revision} is not {expected_stream_prev.hex()}",
            )
        streams[record.stream_id] = (record.revision, computed)

        prev_hash = computed
        last_recorded_at = record.recorded_at
        expected_position += 1

    count = expected_position - 1
    if count == 0:
        raise Failure(None, "the export holds no events")
    if expect_head_hash is not None:
        expected = parse_hash(expect_head_hash.strip().lower(), "--expect-head-hash", count)
        if expected != prev_hash:
            raise Failure(count, f"head hash {prev_hash.hex()} is not the expected {expected.hex()}")
    return count, count, prev_hash


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a gridledger log export (JSON Lines).")
    parser.add_argument("export", help="the export file, JSON Lines")
    parser.add_argument("--expect-head-hash", metavar="HEX", help="the head hash the export must end at")
    args = parser.parse_args(argv)
    expect = args.expect_head_hash
    if expect is not None and (len(expect.strip()) != 64 or any(c not in "0123456789abcdefABCDEF" for c in expect.strip())):
        parser.error(f"--expect-head-hash must be 64 hex characters, got {expect!r}")
    try:
        with open(args.export, encoding="utf-8") as export:
            count, head_position, head_hash = verify(export, args.expect_head_hash)
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
    print(f"ok: {count} events verified, head position {head_position}, head hash {head_hash.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
