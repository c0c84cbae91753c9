#!/usr/bin/env python3
"""Independently verify gridledger's signed checkpoints and Merkle proofs.

Needs Python 3 with hashlib (standard) and the `cryptography` package (for Ed25519:
`python3 -m pip install cryptography`), and nothing of gridledger's: every format is read
here from its description in docs/audit.md.

A proof bundle is one JSON object (what `gridledger --json audit prove` prints):

    {
      "checkpoint": "<the signed note, exactly as signed>",
      "inclusion": {                                  (optional)
        "position": 7,                                the event's log position (leaf 6)
        "record": "<base64 of the stored record bytes>",
        "prev_hash": "<base64>", "hash": "<base64>",  (optional: the event's chain link)
        "tree_size": 10,                              the tree the proof is for
        "hashes": ["<base64>", ...],                  the inclusion proof
        "consistency": ["<base64>", ...]              tree_size -> the checkpoint's size
      },
      "consistency": {                                (optional: what a witness checks)
        "old_checkpoint": "<an older signed note>",
        "hashes": ["<base64>", ...]                   old size -> the checkpoint's size
      }
    }

Checks, with the verifier key given by --vkey (`name+keyid+base64(0x01 || public key)`):

  * the checkpoint is a signed note with a valid Ed25519 signature by that key (the key id
    is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)), and its text is a
    checkpoint: origin, tree size, base64 RFC 6962 root, `chain-head <hex>`;
  * inclusion: SHA-256(prev_hash || record) == hash when given; the leaf hash
    SHA-256(0x00 || record) with the proof leads to the checkpoint's root (tree_size equal to
    the checkpoint's size), or to a root that the `consistency` hashes prove to be the first
    tree_size leaves of the checkpoint's tree (a smaller tree_size); when the event is the
    checkpoint's last, its hash is the chain head;
  * consistency: the old checkpoint is signed by the same key, of the same origin, no larger,
    and the proof shows its tree to be a prefix of the checkpoint's (RFC 9162 2.1.4.2).

Usage:
    python3 verify_proofs.py --vkey VKEY BUNDLE.json
        prints `ok: ...` and exits 0, or `FAILED: reason` and exits 1.
    python3 verify_proofs.py --vkey VKEY --jsonl BUNDLES.jsonl
        one bundle a line; prints `ok: ...` or `FAILED: reason` for each line, in order, and
        exits 0 if every line verified, else 1.
"""

import argparse
import base64
import binascii
import hashlib
import json
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - said once, plainly
    print("FAILED: this verifier needs the `cryptography` package: python3 -m pip install cryptography")
    sys.exit(2)

EM_DASH_PREFIX = "\u2014 "
ED25519 = 0x01
EMPTY_ROOT = hashlib.sha256(b"").digest()


class Failure(Exception):
    """Something did not verify; the message says what."""


# --------------------------------------------------------------------------------------
# Signed notes and checkpoints
# --------------------------------------------------------------------------------------


def b64decode(text, what):
    if not isinstance(text, str):
        raise Failure(f"{what} is not a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Failure(f"{what} is not base64: {error}") from None
    if base64.b64encode(data).decode() != text:
        raise Failure(f"{what} is not canonical base64")
    return data


def hash32(text, what):
    data = b64decode(text, what)
    if len(data) != 32:
        raise Failure(f"{what} has {len(data)} bytes, a hash has 32")
    return data


def check_name(name, what):
    if not name or any(c.isspace() for c in name) or "+" in name or any(ord(c) < 0x20 for c in name):
        raise Failure(f"{what} {name!r} is empty or holds white space, '+' or a control character")


def key_id(name, public_key):
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def parse_vkey(text):
    """`name+keyid+base64(0x01 || 32-byte public key)` -> (name, key id, public key)."""
    # The name has no "+", nor the key id; base64 may: split at the first two only.
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise Failure("the verifier key is not name+keyid+base64")
    name, id_hex, material = parts
    check_name(name, "the key name")
    if len(id_hex) != 8:
        raise Failure("the key id is not 8 hex digits")
    try:
        wanted_id = bytes.fromhex(id_hex)
    except ValueError:
        raise Failure("the key id is not 8 hex digits") from None
    key = b64decode(material, "the verifier key")
    if len(key) != 33 or key[0] != ED25519:
        raise Failure("the verifier key is not 0x01 followed by a 32-byte Ed25519 key")
    if key_id(name, key[1:]) != wanted_id:
        raise Failure("the verifier key's id does not match its name and key")
    return name, wanted_id, key[1:]


def open_note(note, vkey):
    """The note's text once a signature line by the key verifies (the signed-note rules)."""
    name, wanted_id, public_key = vkey
    if not isinstance(note, str):
        raise Failure("the note is not a string")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise Failure("the note holds a control character other than newline")
    if not note.endswith("\n"):
        raise Failure("the note does not end with a newline")
    blank = note.rfind("\n\n")
    if blank < 0:
        raise Failure("the checkpoint is not signed")
    text, block = note[: blank + 1], note[blank + 2 :]
    if not block:
        raise Failure("a blank line but no signature line")
    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    verified = False
    for line in block[:-1].split("\n"):
        if not line.startswith(EM_DASH_PREFIX):
            raise Failure(f"signature line {line!r} does not start with an em dash and a space")
        signer, _, encoded = line[len(EM_DASH_PREFIX) :].partition(" ")
        check_name(signer, "the signature's key name")
        signature = b64decode(encoded, f"the signature of {signer}")
        if len(signature) < 5:
            raise Failure(f"the signature of {signer} is too short")
        if signer != name or signature[:4] != wanted_id:
            continue  # another key: ignored
        try:
            verifier.verify(signature[4:], text.encode())
        except InvalidSignature:
            raise Failure(f"the signature by {name} does not verify") from None
        verified = True
    if not verified:
        raise Failure(f"no signature by the key {name}+{wanted_id.hex()}")
    return text


def parse_checkpoint(text):
    """origin, size, base64 root, `chain-head <hex>`: exactly four lines."""
    lines = text[:-1].split("\n")
    if len(lines) != 4:
        raise Failure(f"a checkpoint has 4 lines, this one {len(lines)}")
    origin, size_text, root_text, chain_line = lines
    check_name(origin, "the origin")
    if not size_text.isdigit() or not size_text.isascii() or (size_text != "0" and size_text.startswith("0")):
        raise Failure(f"tree size {size_text!r} is not a decimal without leading zeros")
    root = hash32(root_text, "the root hash")
    keyword, _, chain_hex = chain_line.partition(" ")
    if keyword != "chain-head" or len(chain_hex) != 64 or chain_hex != chain_hex.lower():
        raise Failure(f"line 4 {chain_line!r} is not `chain-head <64 lower-case hex digits>`")
    try:
        chain_head = bytes.fromhex(chain_hex)
    except ValueError:
        raise Failure(f"line 4 {chain_line!r} is not `chain-head <64 lower-case hex digits>`") from None
    return {"origin": origin, "size": int(size_text), "root": root, "chain_head": chain_head}


# --------------------------------------------------------------------------------------
# RFC 6962 / RFC 9162 Merkle proofs
# --------------------------------------------------------------------------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(leaf, index, size, proof):
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2, steps 1-5 but the compare)."""
    if index >= size:
        raise Failure(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Failure("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Failure("the inclusion proof is too short")
    return r


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2, with the cases it leaves out (empty first tree, equal sizes)."""
    if first > second:
        raise Failure(f"the first tree ({first}) is larger than the second ({second})")
    if first == 0 or first == second:
        if proof:
            raise Failure("the consistency proof is too long")
        expected = EMPTY_ROOT if first == 0 else second_root
        if first_root != expected:
            raise Failure(f"the roots differ at size {first}" if first else "the first root is not the empty tree's")
        return
    if not proof:
        raise Failure("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Failure("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Failure("the consistency proof is too short")
    if fr != first_root:
        raise Failure("the consistency proof does not lead to the first root")
    if sr != second_root:
        raise Failure("the consistency proof does not lead to the second root")


# --------------------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------------------


def size_field(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Failure(f"{what} is not a non-negative integer")
    return value


def hash_list(value, what):
    if not isinstance(value, list):
        raise Failure(f"{what} is not a list")
    return [hash32(item, f"{what}[{index}]") for index, item in enumerate(value)]


def verify_bundle(bundle, vkey):
    if not isinstance(bundle, dict):
        raise Failure("the bundle is not a JSON object")
    checkpoint = parse_checkpoint(open_note(bundle.get("checkpoint"), vkey))
    said = [f"checkpoint of {checkpoint['origin']} at size {checkpoint['size']} verified"]
    inclusion = bundle.get("inclusion")
    if inclusion is not None:
        if not isinstance(inclusion, dict):
            raise Failure("inclusion is not an object")
        position = size_field(inclusion.get("position"), "inclusion.position")
        size = size_field(inclusion.get("tree_size"), "inclusion.tree_size")
        record = b64decode(inclusion.get("record"), "inclusion.record")
        proof = hash_list(inclusion.get("hashes"), "inclusion.hashes")
        consistency = hash_list(inclusion.get("consistency", []), "inclusion.consistency")
        if position == 0 or position > size:
            raise Failure(f"position {position} is not in the tree of size {size}")
        if size > checkpoint["size"]:
            raise Failure(f"tree size {size} is beyond the checkpoint's size {checkpoint['size']}")
        if "hash" in inclusion or "prev_hash" in inclusion:
            prev_hash = hash32(inclusion.get("prev_hash"), "inclusion.prev_hash")
            event_hash = hash32(inclusion.get("hash"), "inclusion.hash")
            if hashlib.sha256(prev_hash + record).digest() != event_hash:
                raise Failure(f"the event at position {position} does not hash to its chain hash")
            if position == checkpoint["size"] and event_hash != checkpoint["chain_head"]:
                raise Failure(f"the event at position {position} is the checkpoint's last, but not its chain head")
        root = inclusion_root(leaf_hash(record), position - 1, size, proof)
        if size == checkpoint["size"]:
            if root != checkpoint["root"]:
                raise Failure("the inclusion proof does not lead to the checkpoint's root")
            if consistency:
                raise Failure("a consistency proof for a tree of the checkpoint's own size")
        else:
            verify_consistency(size, checkpoint["size"], root, checkpoint["root"], consistency)
        said.append(f"position {position} included")
    witness = bundle.get("consistency")
    if witness is not None:
        if not isinstance(witness, dict):
            raise Failure("consistency is not an object")
        old = parse_checkpoint(open_note(witness.get("old_checkpoint"), vkey))
        proof = hash_list(witness.get("hashes"), "consistency.hashes")
        if old["origin"] != checkpoint["origin"]:
            raise Failure(f"the checkpoints are of different logs: {old['origin']!r} and {checkpoint['origin']!r}")
        if old["size"] > checkpoint["size"]:
            raise Failure(f"fork: the tree shrank from {old['size']} to {checkpoint['size']}")
        if old["size"] == checkpoint["size"] and old["root"] != checkpoint["root"]:
            raise Failure(f"fork: two different roots at size {old['size']}")
        verify_consistency(old["size"], checkpoint["size"], old["root"], checkpoint["root"], proof)
        said.append(f"consistent with the checkpoint at size {old['size']}")
    return "; ".join(said)


def verdict(text, vkey):
    """`ok: ...` or `FAILED: reason` for the bundle in `text`."""
    try:
        try:
            bundle = json.loads(text)
        except ValueError as error:
            raise Failure(f"not JSON: {error}") from None
        return True, "ok: " + verify_bundle(bundle, vkey)
    except Failure as failure:
        return False, f"FAILED: {failure}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify gridledger checkpoints and Merkle proofs.")
    parser.add_argument("--vkey", required=True, help="the log's verifier key, name+keyid+base64")
    parser.add_argument("--jsonl", action="store_true", help="the file holds one bundle a line")
    parser.add_argument("bundle", help="the bundle file (JSON), or - for standard input")
    args = parser.parse_args(argv)
    try:
        vkey = parse_vkey(args.vkey)
    except Failure as failure:
        print(f"FAILED: --vkey: {failure}")
        return 1
    try:
        if args.bundle == "-":
            text = sys.stdin.read()
        else:
            with open(args.bundle, encoding="utf-8") as source:
                text = source.read()
    except (OSError, UnicodeDecodeError) as error:
        print(f"FAILED: cannot read {args.bundle}: {error}")
        return 1
    bundles = text.splitlines() if args.jsonl else [text]
    every = True
    for bundle in bundles:
        good, line = verdict(bundle, vkey)
        every = every and good
        print(line)
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main())
