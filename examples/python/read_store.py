#!/usr/bin/env python3
"""Read a ckpt store (format v2 or v1, docs/format.md) with the Python standard library only.

Usage:
  read_store.py STORE ls                          list checkpoints, oldest first
  read_store.py STORE extract SEQ|latest PATH OUT  write the committed file PATH to OUT
  read_store.py STORE value SEQ|latest            print the value document (JSON)

From Python (a session, a notebook):
  import sys; sys.path.insert(0, "path/to/examples/python")
  from read_store import load_value
  state = load_value("ckpt-store", "latest")   # dicts, lists, numbers; arrays as numpy arrays
  state["field"].mean()                       # (array.array when numpy is not installed)

`ls` checks each manifest (checksum, shape, format version) without reading chunks.
`latest` is the newest checkpoint whose manifest verifies (newer damaged ones are named on
stderr). `extract` and `value` check the entry hash and every chunk's size and SHA-256; OUT
appears only once all of them verified, so a damaged chunk is an error, never output.
zstd-compressed chunks need the `zstd` command on PATH.

Exit codes: 0 ok, 1 error (including damage), 2 usage.
"""
from __future__ import annotations

import argparse
import array
import base64
import datetime
import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import tempfile

FORMAT_VERSION = 2  # the newest store / manifest format this reader understands
VALUE_ENCODING = "ckpt-value/1"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_NAME = re.compile(r"^(\d{10})\.json$")
PACK_ID = re.compile(r"^[0-9a-f]{32}$")


class Damaged(Exception):
    """A manifest or chunk that fails verification."""


class Failure(Exception):
    """Anything else that stops a command (exit 1)."""


# --- store and manifests ------------------------------------------------------------------


MAX_CHUNK_BYTES = 64 << 20
MAX_MANIFEST_BYTES = 256 << 20
MAX_SMALL_FILE_BYTES = 64 << 10


def read_regular(path: str, what: str, max_bytes: int) -> bytes:
    """Reads a store file without following a symlink or blocking on a FIFO, within a size bound."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise Damaged(f"the {what} {path} cannot be opened: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Damaged(f"the {what} {path} is not a regular file")
        if st.st_size > max_bytes:
            raise Damaged(f"the {what} {path} is {st.st_size} bytes, more than a valid one can have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)
    finally:
        os.close(fd)


def parse_json(data: bytes, what: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise Damaged(f"{what} is not valid JSON: {type(e).__name__}") from None


def open_store(root: str) -> str:
    """Checks ckpt-store.json; returns the store root."""
    path = os.path.join(root, "ckpt-store.json")
    try:
        ident = parse_json(read_regular(path, "store identity file", MAX_SMALL_FILE_BYTES), path)
    except FileNotFoundError:
        raise Failure(f"{root} is not a ckpt store (no ckpt-store.json)") from None
    except (OSError, Damaged) as e:
        raise Failure(f"cannot read {path}: {e}") from None
    if not isinstance(ident, dict) or ident.get("format") != "ckpt-store" or not is_int(ident.get("version")):
        raise Failure(f"{path} does not describe a ckpt store")
    if ident["version"] > FORMAT_VERSION:
        raise Failure(
            f"store format version {ident['version']} is newer than this reader supports "
            f"({FORMAT_VERSION}); use a newer reader"
        )
    return root


def list_seqs(root: str) -> list[int]:
    """Sequence numbers of all manifest files, oldest first (temp files are ignored)."""
    try:
        names = os.listdir(os.path.join(root, "manifests"))
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(MANIFEST_NAME.match, names) if m)


def read_manifest(root: str, seq: int) -> dict:
    """Reads and verifies one manifest; raises Damaged (with the reason) if it does not verify."""
    path = os.path.join(root, "manifests", f"{seq:010d}.json")
    try:
        data = read_regular(path, "manifest", MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise Failure(f"checkpoint {seq} does not exist") from None
    body, sep, trailer = data[:-1].rpartition(b"\n") if data.endswith(b"\n") else data.rpartition(b"\n")
    trailer = trailer.decode("ascii", "replace").strip()
    if not sep or not trailer.startswith("sha256:"):
        raise Damaged("no checksum line (torn write or not a manifest)")
    if hashlib.sha256(body).hexdigest() != trailer[len("sha256:"):]:
        raise Damaged("manifest does not match its checksum (corrupt or torn)")
    m = parse_json(body, "manifest")
    if not isinstance(m, dict) or m.get("format") != "ckpt-manifest":
        raise Damaged('format is not "ckpt-manifest"')
    if not is_int(m.get("version")) or m["version"] < 1:
        raise Damaged("version is missing")
    if m["version"] > FORMAT_VERSION:
        raise Damaged(f"format version {m['version']} is newer than this reader supports ({FORMAT_VERSION})")
    if not is_int(m.get("seq")) or m["seq"] != seq:
        raise Damaged(f"manifest says it is #{m.get('seq')}")
    if not is_number(m.get("step")) or not isinstance(m.get("time"), str):
        raise Damaged("step or time is missing")
    if not isinstance(m.get("writer"), dict) or not isinstance(m.get("meta"), dict):
        raise Damaged("writer or meta is not an object")
    if not isinstance(m.get("entries"), list):
        raise Damaged("entries is not an array")
    seen = set()
    for i, entry in enumerate(m["entries"]):
        problem = entry_problem(entry)
        if problem:
            raise Damaged(f"entry {i}: {problem}")
        name = ("blob", entry["key"]) if entry["type"] == "blob" else ("path", entry["path"])
        if name in seen:
            raise Damaged(f"entry {i}: {name[1]!r} appears twice")
        seen.add(name)
    return m


def stored_size(c: dict) -> int:
    """Bytes a chunk occupies in its pack (format v2)."""
    return c["s"] if c.get("z") == 1 else c["n"]


def chunks_problem(root: str, m: dict) -> str | None:
    """Whether every chunk is present in a regular file of a possible size (no bytes read)."""
    for e in m["entries"]:
        for c in e.get("chunks", []) if e["type"] in ("file", "blob") else []:
            path = chunk_path(root, c)
            what = f"pack {c['p']} of chunk {c['h']}" if "p" in c else f"chunk {c['h']}"
            try:
                if not stat.S_ISDIR(os.lstat(os.path.dirname(path)).st_mode):
                    return f"the directory of {what} is not a directory"
                st = os.lstat(path)
            except FileNotFoundError:
                return f"{what} is missing"
            except OSError as err:
                return f"{what} cannot be checked: {err.strerror}"
            if not stat.S_ISREG(st.st_mode):
                return f"{what} is not a regular file"
            if "p" in c:
                if st.st_size < c["o"] + stored_size(c):
                    return f"{what} is {st.st_size} bytes, too short (truncated)"
            elif c.get("z") == 1:
                if st.st_size == 0 or st.st_size > max_packed(c["n"]):
                    return f"compressed chunk {c['h']} is {st.st_size} bytes, impossible for {c['n']}"
            elif st.st_size != c["n"]:
                return f"chunk {c['h']} is {st.st_size} bytes, expected {c['n']} (truncated)"
    return None


def max_packed(n: int) -> int:
    return n + (n >> 8) + 1024


def chunk_path(root: str, c: dict) -> str:
    """The file holding a chunk: its pack (format v2) or a file of its own (format v1)."""
    if "p" in c:
        return os.path.join(root, "packs", c["p"] + ".pack")
    return os.path.join(root, "chunks", c["h"][:2], c["h"] + (".zst" if c.get("z") == 1 else ""))


def pack_ref_ok(c: dict) -> bool:
    """A v2 reference names a pack id and an offset, and a stored size exactly when compressed."""
    if "p" not in c:
        return "o" not in c and "s" not in c
    if not isinstance(c["p"], str) or not PACK_ID.match(c["p"]) or not is_int(c.get("o")) or c["o"] < 0:
        return False
    if c.get("z") == 1:
        return is_int(c.get("s")) and 1 <= c["s"] <= max_packed(c["n"])
    return "s" not in c


def entry_problem(e: object) -> str | None:
    if not isinstance(e, dict):
        return "not an object"
    kind = e.get("type")
    if kind in ("file", "dir", "symlink"):
        p = e.get("path")
        if not isinstance(p, str):
            return "path is not a string"
        try:
            if safe_relative_path(p) != p:
                return f"path {p!r} is not in normal form"
        except Failure:
            return f"unsafe path {p!r}"
        if any(part.startswith(".ckpt-") for part in p.split("/")):
            return f"path {p!r} uses a name reserved for ckpt"
    if kind == "symlink":
        t = e.get("target")
        if not isinstance(t, str) or not t or t.startswith("/") or ".." in t.split("/"):
            return "symlink target may point outside the restore directory"
    if kind in ("file", "blob"):
        name = "path" if kind == "file" else "key"
        if not isinstance(e.get(name), str):
            return f"{name} is not a string"
        if not is_int(e.get("size")) or e["size"] < 0:
            return "size is not a size"
        if not isinstance(e.get("hash"), str) or not SHA256_HEX.match(e["hash"]):
            return "hash is not a SHA-256"
        chunks = e.get("chunks")
        if not isinstance(chunks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("h"), str) and SHA256_HEX.match(c["h"])
            and is_int(c.get("n")) and 1 <= c["n"] <= MAX_CHUNK_BYTES and c.get("z", 1) == 1
            and pack_ref_ok(c)
            for c in chunks
        ):
            return "a chunk reference is malformed"
        if sum(c["n"] for c in chunks) != e["size"]:
            return "chunks do not add up to size"
        return "mode is missing" if kind == "file" and not is_int(e.get("mode")) else None
    if kind == "dir":
        return None if isinstance(e.get("path"), str) and is_int(e.get("mode")) else "path or mode missing"
    if kind == "symlink":
        return None if isinstance(e.get("path"), str) and isinstance(e.get("target"), str) else "path or target missing"
    return f"unknown type {kind!r}"


def resolve(root: str, ref: str) -> dict:
    """`latest` (newest manifest that verifies) or a sequence number (`12` or `#12`)."""
    if ref == "latest":
        for seq in reversed(list_seqs(root)):
            try:
                m = read_manifest(root, seq)
                problem = chunks_problem(root, m)
                if problem is None:
                    return m
                print(f"skipping #{seq}: {problem}", file=sys.stderr)
            except (Damaged, Failure) as e:  # Failure: removed by a prune meanwhile
                print(f"skipping #{seq}: {e}", file=sys.stderr)
        raise Failure("no checkpoint in the store verifies")
    seq = ref.lstrip("#")
    if not seq.isdigit() or int(seq) < 1:
        raise Failure(f"{ref!r} is not a checkpoint id (use a sequence number or 'latest')")
    try:
        return read_manifest(root, int(seq))
    except Damaged as e:
        raise Failure(f"checkpoint #{seq} is damaged: {e}") from None


# --- chunks -------------------------------------------------------------------------------


def read_chunk(root: str, ref: dict) -> bytes:
    """The raw bytes of one chunk, verified against its size and SHA-256."""
    h, n, packed = ref["h"], ref["n"], ref.get("z") == 1
    path = chunk_path(root, ref)
    try:
        if not stat.S_ISDIR(os.lstat(os.path.dirname(path)).st_mode):
            raise Damaged(f"the directory of chunk {h} is not a directory")
        if "p" in ref:
            data = read_range(path, ref["o"], stored_size(ref))
        else:
            data = read_regular(path, "chunk", max_packed(n) if packed else n)
    except FileNotFoundError:
        raise Damaged(f"the file of chunk {h} is missing ({path})") from None
    if packed:
        data = zstd_decompress(data, h, n)
    if len(data) != n:
        raise Damaged(f"chunk {h} is {len(data)} bytes, expected {n} ({path})")
    actual = hashlib.sha256(data).hexdigest()
    if actual != h:
        raise Damaged(f"chunk {h} is corrupt: its content hashes to {actual} ({path})")
    return data


def read_range(path: str, offset: int, length: int) -> bytes:
    """`length` bytes at `offset` of a pack, which must be a regular file (never a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise Damaged(f"pack {path} cannot be opened: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Damaged(f"pack {path} is not a regular file")
        data = os.pread(fd, length, offset)
    finally:
        os.close(fd)
    if len(data) != length:
        raise Damaged(f"pack {path} ends before the chunk at {offset} (truncated)")
    return data


def zstd_decompress(data: bytes, h: str, n: int) -> bytes:
    """Decompresses with the zstd tool, reading at most n + 1 bytes of output (no bomb)."""
    zstd = shutil.which("zstd")
    if zstd is None:
        raise Failure(f"chunk {h} is zstd-compressed: install the `zstd` command-line tool to read it")
    with tempfile.TemporaryFile() as src:
        src.write(data)
        src.seek(0)
        proc = subprocess.Popen([zstd, "-d", "-c", "-q"], stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = proc.stdout.read(n + 1)
        proc.kill() if len(out) > n else None
        err = proc.stderr.read()
        code = proc.wait()
    if len(out) > n:
        raise Damaged(f"chunk {h} decompresses to more than its declared {n} bytes")
    if code != 0:
        raise Damaged(f"chunk {h} does not decompress: {err.decode(errors='replace').strip()}")
    return out


def entry_chunks(root: str, entry: dict):
    """Yields the verified chunks of a file or blob entry, after checking its entry hash."""
    digests = b"".join(bytes.fromhex(c["h"]) for c in entry["chunks"])
    if hashlib.sha256(digests).hexdigest() != entry["hash"]:
        raise Damaged("the entry hash does not match its chunk list")
    for ref in entry["chunks"]:
        yield read_chunk(root, ref)


# --- paths --------------------------------------------------------------------------------


def safe_relative_path(path: str) -> str:
    """The normalized `/`-separated form of a stored path; refuses absolute paths and `..` escapes."""
    p = path.replace("\\", "/")
    if not p or "\0" in p or p.startswith("/") or re.match(r"^[A-Za-z]:/", p):
        raise Failure(f"refusing unsafe path {path!r}: empty, absolute or contains NUL")
    normal = posixpath.normpath(p)
    if normal == "." or normal == ".." or normal.startswith("../"):
        raise Failure(f"refusing unsafe path {path!r}: it leaves (or is) the checkpoint root")
    return normal


# --- commands -----------------------------------------------------------------------------


def cmd_ls(root: str) -> None:
    rows = [("SEQ", "STEP", "TIME", "ENTRIES", "STATUS")]
    for seq in list_seqs(root):
        try:
            m = read_manifest(root, seq)
            problem = chunks_problem(root, m)
            status = "OK" if problem is None else f"DAMAGED: {problem}"
            rows.append((str(seq), json.dumps(m["step"]), m["time"], str(len(m["entries"])), status))
        except Damaged as e:
            rows.append((str(seq), "?", "?", "?", f"DAMAGED: {e}"))
        except Failure:
            pass  # removed by a prune since it was listed
    if len(rows) == 1:
        print("no checkpoints")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])


def cmd_extract(root: str, ref: str, path: str, out: str) -> None:
    wanted = safe_relative_path(path)
    m = resolve(root, ref)
    entry = next(
        (e for e in m["entries"] if e["type"] != "blob" and normalized_or_none(e["path"]) == wanted), None
    )
    if entry is None:
        raise Failure(f"checkpoint #{m['seq']} has no entry {wanted!r}")
    if entry["type"] != "file":
        raise Failure(f"{wanted!r} in checkpoint #{m['seq']} is a {entry['type']}, not a regular file")
    # Write to a temp file beside OUT and rename it into place only once every chunk verified.
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".tmp", dir=os.path.dirname(out) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            for data in entry_chunks(root, entry):
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, entry["mode"] & 0o777)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"extracted {wanted} from #{m['seq']} (step {json.dumps(m['step'])}): {entry['size']} bytes", file=sys.stderr)


def normalized_or_none(path: str) -> str | None:
    try:
        return safe_relative_path(path)
    except Failure:
        return None  # an unsafe entry path never matches anything


def cmd_value(root: str, ref: str) -> None:
    m = resolve(root, ref)
    entry = next((e for e in m["entries"] if e["type"] == "blob" and e["key"] == "value"), None)
    if entry is None:
        raise Failure(f"checkpoint #{m['seq']} holds files, not a value")
    doc = b"".join(entry_chunks(root, entry))
    parsed = parse_json(doc, "the value document")
    if not isinstance(parsed, dict) or parsed.get("encoding") != VALUE_ENCODING:
        encoding = parsed.get("encoding") if isinstance(parsed, dict) else None
        raise Failure(f"value encoding {encoding!r} is not {VALUE_ENCODING!r}; use a newer reader")
    sys.stdout.write(doc.decode("utf-8") + "\n")


# --- a library checkpoint's value as Python objects -------------------------------------------

# Typed-array types of the value encoding: numpy dtype (little-endian), array.array typecode
# (None: by item size, below), element size.
ARRAY_TYPES = {
    "Int8Array": ("<i1", "b", 1),
    "Uint8Array": ("<u1", "B", 1),
    "Uint8ClampedArray": ("<u1", "B", 1),
    "Int16Array": ("<i2", "h", 2),
    "Uint16Array": ("<u2", "H", 2),
    "Int32Array": ("<i4", None, 4),
    "Uint32Array": ("<u4", None, 4),
    "Float32Array": ("<f4", "f", 4),
    "Float64Array": ("<f8", "d", 8),
    "BigInt64Array": ("<i8", "q", 8),
    "BigUint64Array": ("<u8", "Q", 8),
}
RAW_BYTES_TYPES = ("Buffer", "ArrayBuffer", "DataView")
SPECIAL_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}


def load_value(store: str, ref: str = "latest", use_numpy: bool = True):
    """A library checkpoint's value as Python objects, every byte verified first.

    Objects become dicts, Arrays lists, Maps dicts (a list of (key, value) pairs when a key is
    not hashable), Sets sets (or lists), Dates timezone-aware datetimes (None if invalid),
    BigInts ints, `undefined` None, NaN/Infinity/-0 floats. Typed arrays become numpy arrays of
    the same dtype when numpy is installed (and `use_numpy`), else `array.array`; Buffer,
    ArrayBuffer and DataView become `bytes`.
    """
    root = open_store(store)
    m = resolve(root, ref)
    blobs = {e["key"]: e for e in m["entries"] if e["type"] == "blob"}
    if "value" not in blobs:
        raise Failure(f"checkpoint #{m['seq']} holds files, not a value")
    parsed = parse_json(b"".join(entry_chunks(root, blobs["value"])), "the value document")
    if not isinstance(parsed, dict) or parsed.get("encoding") != VALUE_ENCODING or "value" not in parsed:
        raise Failure(f"the value document is not {VALUE_ENCODING!r}; use a newer reader")
    numpy = None
    if use_numpy:
        try:
            import numpy  # noqa: F811 (optional)
        except ImportError:
            numpy = None

    def blob(key: object) -> bytes:
        if not isinstance(key, str) or key not in blobs or key == "value":
            raise Damaged(f"the value refers to a blob {key!r} that checkpoint #{m['seq']} does not hold")
        return b"".join(entry_chunks(root, blobs[key]))

    return _decode(parsed["value"], blob, numpy)


def _decode(node, blob, numpy):
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        return [_decode(x, blob, numpy) for x in node]
    if not isinstance(node, dict):
        raise Damaged(f"unexpected node {node!r} in the value document")
    if "$" not in node:
        return {k: _decode(v, blob, numpy) for k, v in node.items()}
    tag = node["$"]
    if tag == "number" and node.get("v") in SPECIAL_NUMBERS:
        return SPECIAL_NUMBERS[node["v"]]
    if tag == "undefined":
        return None
    if tag == "bigint" and isinstance(node.get("v"), str):
        return int(node["v"])
    if tag == "date":
        ms = node.get("v")
        return None if ms is None else datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    if tag == "object" and isinstance(node.get("v"), dict):
        return {k: _decode(v, blob, numpy) for k, v in node["v"].items()}
    if tag == "map" and isinstance(node.get("v"), list):
        pairs = [(_decode(k, blob, numpy), _decode(v, blob, numpy)) for k, v in node["v"]]
        try:
            return dict(pairs)
        except TypeError:
            return pairs
    if tag == "set" and isinstance(node.get("v"), list):
        items = [_decode(x, blob, numpy) for x in node["v"]]
        try:
            return set(items)
        except TypeError:
            return items
    if tag == "bytes" and isinstance(node.get("b64"), str):
        return _array(node.get("type"), base64.b64decode(node["b64"], validate=True), numpy)
    if tag == "blob":
        data = blob(node.get("key"))
        if len(data) != node.get("length"):
            raise Damaged(f"blob {node.get('key')!r} holds {len(data)} bytes, the value says {node.get('length')}")
        return _array(node.get("type"), data, numpy)
    raise Damaged(f"unknown node {node!r} in the value document")


def _array(kind, data: bytes, numpy):
    if kind in RAW_BYTES_TYPES:
        return bytes(data)
    if kind not in ARRAY_TYPES:
        raise Damaged(f"unknown array type {kind!r} in the value document")
    dtype, code, size = ARRAY_TYPES[kind]
    if len(data) % size:
        raise Damaged(f"a {kind} of {len(data)} bytes is not a whole number of {size}-byte elements")
    if numpy is not None:
        return numpy.frombuffer(bytearray(data), dtype=dtype)
    if code is None:  # a 4-byte int: `i`/`I` or `l`/`L`, whichever is 4 bytes here
        code = next(c for c in ("i", "l") if array.array(c).itemsize == 4)
        code = code.upper() if kind == "Uint32Array" else code
    out = array.array(code)
    out.frombytes(data)
    if sys.byteorder == "big":
        out.byteswap()
    return out


# --- helpers and main ---------------------------------------------------------------------


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Read a ckpt store (format v1) with the Python standard library.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage.",
    )
    parser.add_argument("store", metavar="STORE", help="the store directory")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("ls", help="list checkpoints (seq, step, time, entries, OK/DAMAGED)")
    p = sub.add_parser("extract", help="write the committed file PATH of a checkpoint to OUT")
    p.add_argument("ref", metavar="SEQ|latest")
    p.add_argument("path", metavar="PATH", help="the file's path as committed, e.g. out/state.h5")
    p.add_argument("out", metavar="OUT", help="where to write it")
    p = sub.add_parser("value", help="print a checkpoint's value document (JSON)")
    p.add_argument("ref", metavar="SEQ|latest")
    args = parser.parse_args(argv)  # exits 2 on usage errors
    try:
        root = open_store(args.store)
        if args.command == "ls":
            cmd_ls(root)
        elif args.command == "extract":
            cmd_extract(root, args.ref, args.path, args.out)
        else:
            cmd_value(root, args.ref)
    except Damaged as e:
        print(f"read_store: damaged: {e}", file=sys.stderr)
        return 1
    except (Failure, OSError) as e:
        print(f"read_store: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
