"""A champion as one file a user can fetch and trust: `iacsieve champion pack | verify | unpack`.

The archive is a gzipped tar of one folder, `champion/`: every file of the champion directory (model,
`model_meta.json`, `champion.json`, whatever else freeze put there), plus

- `archive.json`: archive format, package version, and the card (family, run, threshold, the training
  data's md5, validation F1, test metrics) copied from champion.json;
- `SHA256SUMS`: the SHA-256 of every other member, in `sha256sum` format (so `tar xzf` then
  `cd champion && sha256sum -c SHA256SUMS` checks it without iacsieve). It is the first member.

Packing is reproducible: members in name order, fixed mtime/owner/mode, a gzip header without name or
time, so the same champion gives the same bytes (DVC caches it; a published hash stays valid).

Reading is defensive: only regular files (and folders) under `champion/`, no absolute paths, no `..`,
no links or devices, no duplicates, bounded sizes; every member's hash must match the manifest and
every listed file must be present, and archive.json's card must say what champion.json says, else
one line naming the member (exit 2). Before `tarfile` parses anything, `_prescan` walks the raw
512-byte blocks itself: pax and GNU long-name headers, member counts and sizes, and the
decompressed size against the compressed one are bounded there (tarfile reads a header of any size
into memory, and Python 3.11.7's pax parser is quadratic in a header's digits: a 1 KB archive kept
`verify` busy for half an hour). Nothing is extracted with tarfile's own extract: each member is read
and written by us. The manifest proves integrity
against corruption and edits; that the archive is *the* published one is what its own SHA-256
(printed by pack and verify, published beside it) proves.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from iacsieve import __version__
from iacsieve.core import layout
from iacsieve.core.champion_card import load_champion
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import CHAMPION_FILE
from iacsieve.io.atomic import LEFTOVER_AGE_S, atomic_directory, atomic_write_stream, pid_alive
from iacsieve.io.output_policy import check_file_output, check_folder_output
from iacsieve.models import META_FILE, read_meta

FORMAT = 1
ROOT = "champion"  # the one folder the archive holds
MANIFEST = layout.ARCHIVE_MANIFEST
CARD = layout.ARCHIVE_CARD
GENERATED: frozenset[str] = frozenset({MANIFEST, CARD})  # written by pack; an unpacked copy's are remade
MTIME = 315532800  # 1980-01-01 UTC: fixed, so the bytes depend on the content only
CARD_KEYS: tuple[str, ...] = ("family", "run", "threshold", "threshold_source", "data_md5", "val_f1", "test")
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 8 << 30  # an encoder champion's weights are a few GB at most
MAX_TOTAL_BYTES = 16 << 30
MAX_MANIFEST_BYTES = 4 << 20
MAX_HEADER_BYTES = 64 << 10  # a pax or GNU long-name header: a path of a few KB at most
# Decompressed bytes may exceed this many times the compressed bytes read so far (plus the slack) only
# in a gzip bomb: weights barely compress, JSON and text about 10x.
MAX_RATIO, RATIO_SLACK = 100, 64 << 20
PAX_KEYWORDS = frozenset(
    {"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "linkpath", "comment"}
)
TEMP_PREFIX = "iacsieve-champion-"  # + pid: `opened`'s folders; a killed run's are removed by the next
STALE_TEMP_S = 3 * 24 * 3600  # a temp folder this old goes even if its pid looks alive (reused pids)
CHUNK = 1 << 20
BLOCK = 512


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def name_problem(name: str) -> str | None:
    """Why a member name cannot travel in an archive (pack and the reader share this rule), or None:
    SHA256SUMS holds one name per line, so no line breaks or other unprintable characters; no
    backslash (a path separator elsewhere); UTF-8 only (tar stores bytes; the reader decodes UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "not UTF-8"
    if "\\" in name:
        return "a backslash"
    if not all(ch.isprintable() or ch == " " for ch in name):
        return "an unprintable character (a line break, tab or control character)"
    return None


def _champion_files(champion_dir: Path) -> list[tuple[str, Path]]:
    """(archive-relative name, path) of every file to pack, sorted; refuses links and special files,
    and names the reader would refuse."""
    files = []
    for path in sorted(champion_dir.rglob("*")):
        mode = path.lstat().st_mode
        name = path.relative_to(champion_dir).as_posix()
        problem = name_problem(name)
        if problem:
            raise IacsieveError(f"{ascii(str(path))}: its name has {problem}; rename it before packing")
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise IacsieveError(f"{path}: not a regular file (a link, FIFO or device); refusing to pack it")
        if name not in GENERATED:
            files.append((name, path))
    return files


def card_of(champion_dir: str | Path) -> dict:
    """What archive.json records: format, package version, and the champion's card."""
    champion_dir = Path(champion_dir)
    info = load_champion(champion_dir)
    meta = read_meta(champion_dir)
    return {
        "format": FORMAT,
        "package": "iacsieve",
        "package_version": __version__,
        "kind": meta.get("kind"),
        **{key: info.get(key) for key in CARD_KEYS},
    }


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{ROOT}/{name}")
    info.size, info.mtime, info.mode = size, MTIME, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(champion_dir: str | Path, out: str | Path) -> dict:
    """Write `out` (.tar.gz) from the champion directory; return its summary (sha256, members, card)."""
    champion_dir = Path(champion_dir)
    if not champion_dir.is_dir():
        raise IacsieveError(f"{champion_dir}: champion directory not found (freeze one with `make repro`)")
    check_file_output(out, inputs={"--champion": champion_dir})
    out = Path(out)
    card = card_of(champion_dir)
    files = _champion_files(champion_dir)
    card_bytes = (json.dumps(card, indent=2, sort_keys=True) + "\n").encode()
    sums = {name: _sha256_file(path) for name, path in files}
    sums[CARD] = hashlib.sha256(card_bytes).hexdigest()
    manifest = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums)).encode()

    def fill(raw: BinaryIO) -> None:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.addfile(_tarinfo(MANIFEST, len(manifest)), io.BytesIO(manifest))
            tar.addfile(_tarinfo(CARD, len(card_bytes)), io.BytesIO(card_bytes))
            for name, path in files:
                with path.open("rb") as handle:
                    tar.addfile(_tarinfo(name, path.stat().st_size), handle)

    atomic_write_stream(out, fill)
    return {"archive": str(out), "sha256": _sha256_file(out), "members": len(sums) + 1, "card": card}


# ----------------------------------------------------------------------------- reading


def _member_name(archive: Path, member: tarfile.TarInfo) -> str | None:
    """The member's path below champion/ (None for the champion/ folder itself); refuses unsafe ones."""
    raw = member.name
    parts = PurePosixPath(raw).parts
    if name_problem(raw) or raw.startswith("/") or ".." in parts or not parts or parts[0] != ROOT:
        raise IacsieveError(f"{archive}: member {raw!r}: not a path inside {ROOT}/; refusing the archive")
    if not (member.isreg() or member.isdir()):
        kind = "link" if member.issym() or member.islnk() else "special file"
        raise IacsieveError(f"{archive}: member {raw!r}: a {kind}; refusing the archive")
    if member.isdir():
        return None
    if len(parts) < 2:
        raise IacsieveError(f"{archive}: member {raw!r}: a file outside {ROOT}/; refusing the archive")
    return "/".join(parts[1:])


def _copy_hashing(source: IO[bytes], sink: IO[bytes] | None, limit: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: source.read(CHUNK), b""):
        size += len(block)
        if size > limit:
            break
        digest.update(block)
        if sink is not None:
            sink.write(block)
    return digest.hexdigest(), size


def _parse_manifest(archive: Path, text: bytes) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise IacsieveError(f"{archive}: {ROOT}/{MANIFEST}:{number}: not a '<sha256>  <file>' line")
        if name in sums or name == MANIFEST:
            raise IacsieveError(f"{archive}: {ROOT}/{MANIFEST}:{number}: {name!r} listed twice")
        sums[name] = digest
    return sums


class _Inflated:
    """The archive's decompressed bytes in order, never more than the bounds allow: the total, and
    the ratio to the compressed bytes read so far (a gzip bomb is refused after ~64 MB, not 2 GB)."""

    def __init__(self, archive: Path, raw: BinaryIO) -> None:
        self.archive, self.raw = archive, raw
        self.inflater = zlib.decompressobj(wbits=31)  # gzip
        self.pending, self.buffer = b"", bytearray()
        self.consumed = self.produced = 0

    def _more(self) -> bool:
        if not self.pending:
            self.pending = self.raw.read(CHUNK)
            self.consumed += len(self.pending)
            if not self.pending:
                return False
        if self.inflater.eof:  # a next gzip member (gzip allows several)
            self.inflater = zlib.decompressobj(wbits=31)
        out = self.inflater.decompress(self.pending, CHUNK)
        self.pending = self.inflater.unused_data if self.inflater.eof else self.inflater.unconsumed_tail
        self.produced += len(out)
        self.buffer += out
        if self.produced > MAX_RATIO * self.consumed + RATIO_SLACK or self.produced > MAX_TOTAL_BYTES + CHUNK:
            raise IacsieveError(
                f"{self.archive}: decompresses to more than {MAX_RATIO} times its size ({self.produced} bytes "
                f"from {self.consumed}; a gzip bomb?); refusing the archive"
            )
        return True

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size and self._more():
            pass
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def skip(self, size: int) -> bool:
        """Drop `size` bytes; False when the stream ends first."""
        while size > 0:
            if not self.buffer and not self._more():
                return False
            step = min(size, len(self.buffer))
            del self.buffer[:step]
            size -= step
        return True


def _header_number(archive: Path, field: bytes, what: str) -> int:
    """A tar header's numeric field: octal text, or GNU's base-256 (first byte 0x80 / 0xff)."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value if field[:1] == b"\x80" else -1
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    if any(c not in b"01234567" for c in text):
        raise IacsieveError(f"{archive}: a tar header's {what} is not a number; not a champion archive")
    return int(text, 8)


def _pax_records(archive: Path, data: bytes) -> dict[str, bytes]:
    """A pax header's `<length> <keyword>=<value>\\n` records, parsed in one linear pass (tarfile's own
    regex is quadratic in a long run of digits); refuses anything else."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 12)
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise IacsieveError(
                f"{archive}: a malformed pax header (record at byte {pos}); refusing the archive"
            )
        end = pos + int(digits)
        record = data[space + 1 : end]
        keyword, equals, value = record.partition(b"=")
        if end > len(data) or end <= space or not equals or not record.endswith(b"\n"):
            raise IacsieveError(
                f"{archive}: a malformed pax header (record at byte {pos}); refusing the archive"
            )
        name = keyword.decode("utf-8", errors="replace")
        if name not in PAX_KEYWORDS:
            raise IacsieveError(
                f"{archive}: pax keyword {name[:40]!r}: not one `champion pack` writes; refusing the archive"
            )
        records[name] = value[:-1]
        pos = end
    return records


def _prescan(archive: Path, raw: BinaryIO) -> None:
    """Walk the raw tar blocks before tarfile parses them: every header bounded, every member a regular
    file or folder of bounded size, the member count bounded, the whole stream bounded (`_Inflated`).

    Long because it follows tar's grammar in one pass: an extended header (pax `x`, GNU `L`/`K`)
    changes the name or size of the member after it, so the walk carries that state (a global one
    would change every later member: refused)."""
    stream = _Inflated(archive, raw)
    members = headers = total = 0
    size_override: int | None = None
    name_override: bytes | None = None
    while True:
        block = stream.read(BLOCK)
        if not block or block == b"\0" * BLOCK:
            return  # the end-of-archive blocks (tarfile stops at the first, as here)
        if len(block) < BLOCK:
            raise IacsieveError(
                f"{archive}: truncated (a partial tar header); not a readable champion archive"
            )
        kind, size = block[156:157], _header_number(archive, block[124:136], "size")
        name = name_override or (
            (block[345:500].split(b"\0", 1)[0] + b"/" if block[257:262] == b"ustar" and block[345] else b"")
            + block[:100].split(b"\0", 1)[0]
        )
        label = f"{ROOT}/..." if not name else repr(name.decode("utf-8", errors="replace"))
        headers += 1
        if headers > 2 * MAX_MEMBERS + 2:
            raise IacsieveError(f"{archive}: more than {MAX_MEMBERS} members; refusing the archive")
        if kind == b"g":  # a global pax header changes every later member (tarfile applies it so)
            raise IacsieveError(
                f"{archive}: a global pax header: not one `champion pack` writes; refusing the archive"
            )
        if kind in (b"x", b"L", b"K"):
            if not 0 <= size <= MAX_HEADER_BYTES:
                raise IacsieveError(
                    f"{archive}: an extended tar header of {size} bytes (at most {MAX_HEADER_BYTES}: "
                    f"it holds a file name); refusing the archive"
                )
            data = stream.read(-(-size // BLOCK) * BLOCK)[:size]
            if len(data) < size:
                raise IacsieveError(f"{archive}: truncated; not a readable champion archive")
            if kind == b"x":
                records = _pax_records(archive, data)
                if "size" in records:
                    if not records["size"].isdigit() or len(records["size"]) > 20:
                        raise IacsieveError(
                            f"{archive}: a pax size that is not a number; refusing the archive"
                        )
                    size_override = int(records["size"])
                name_override = records.get("path", name_override)
            elif kind == b"L":
                name_override = data.split(b"\0", 1)[0]
            continue
        if size_override is not None:
            size = size_override
        size_override = name_override = None
        members += 1
        if members > MAX_MEMBERS:
            raise IacsieveError(f"{archive}: more than {MAX_MEMBERS} members; refusing the archive")
        if kind == b"5" or (kind == b"\0" and block[:100].split(b"\0", 1)[0].endswith(b"/")):
            continue  # a folder (old tar: a file named x/, as tarfile reads it): no data blocks
        if kind not in (b"0", b"\0", b"7"):
            what = "link" if kind in (b"1", b"2") else "special file"
            raise IacsieveError(f"{archive}: member {label}: a {what}; refusing the archive")
        if not 0 <= size <= MAX_MEMBER_BYTES or total + size > MAX_TOTAL_BYTES:
            raise IacsieveError(f"{archive}: member {label}: too large ({size} bytes); refusing the archive")
        total += size
        if not stream.skip(-(-size // BLOCK) * BLOCK):
            raise IacsieveError(f"{archive}: member {label}: truncated; not a readable champion archive")


def _read(archive: str | Path, dest: Path | None) -> dict:
    """Check the archive: every member against the manifest, the card against champion.json; write
    the files under `dest` if given."""
    archive = Path(archive)
    try:
        mode = archive.stat().st_mode
    except OSError as exc:
        raise IacsieveError(f"{archive}: cannot read the champion archive: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise IacsieveError(f"{archive}: not a regular file (a champion archive is a .tar.gz)")
    with archive.open("rb") as handle:  # one open file for every pass: the path may not be swapped
        return _walk(archive, handle, dest)


def _walk(archive: Path, handle: BinaryIO, dest: Path | None) -> dict:
    """`_read` over the open archive: the raw pre-scan, then tarfile's pass, then its SHA-256.

    Long because the tar stream is read in order: each member's type, path, size and hash is
    checked as it passes, against state (manifest, names seen) that split helpers would all share."""
    sums: dict[str, str] | None = None
    seen: set[str] = set()
    total = 0
    small: dict[str, bytes] = {}  # the cards, read into memory and compared after the walk
    try:
        _prescan(archive, handle)
        handle.seek(0)
        with tarfile.open(fileobj=handle, mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise IacsieveError(f"{archive}: more than {MAX_MEMBERS} members; refusing the archive")
                name = _member_name(archive, member)
                if name is None:
                    continue
                label = f"{ROOT}/{name}"
                if name in seen:
                    raise IacsieveError(f"{archive}: member {label}: present twice; refusing the archive")
                seen.add(name)
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                if sums is None:
                    if name != MANIFEST or member.size > MAX_MANIFEST_BYTES:
                        raise IacsieveError(
                            f"{archive}: the first member must be {ROOT}/{MANIFEST} (not an archive made by "
                            f"`iacsieve champion pack`)"
                        )
                    text = source.read(MAX_MANIFEST_BYTES + 1)
                    sums = _parse_manifest(archive, text)
                    if dest is not None:
                        (dest / MANIFEST).write_bytes(text)
                    continue
                if name not in sums:
                    raise IacsieveError(
                        f"{archive}: member {label}: not listed in {MANIFEST}; refusing the archive"
                    )
                if member.size > MAX_MEMBER_BYTES or total + member.size > MAX_TOTAL_BYTES:
                    raise IacsieveError(f"{archive}: member {label}: too large ({member.size} bytes)")
                total += member.size
                if name in (CARD, CHAMPION_FILE, META_FILE):  # small: kept in memory
                    memory = io.BytesIO()
                    digest, size = _copy_hashing(source, memory, min(member.size, MAX_MANIFEST_BYTES))
                    small[name] = memory.getvalue()
                    if dest is not None:
                        (dest / name).write_bytes(small[name])
                elif dest is None:
                    digest, size = _copy_hashing(source, None, member.size)
                else:
                    target = dest / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with target.open("xb") as sink:
                        digest, size = _copy_hashing(source, sink, member.size)
                if size != member.size or digest != sums[name]:
                    raise IacsieveError(
                        f"{archive}: member {label}: SHA-256 does not match {MANIFEST} (tampered or corrupt); "
                        f"refusing the archive"
                    )
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise IacsieveError(f"{archive}: not a readable champion archive (.tar.gz): {exc}") from None
    if sums is None:
        raise IacsieveError(f"{archive}: empty, or no {ROOT}/{MANIFEST}; not a champion archive")
    missing = sorted(set(sums) - seen)
    if missing:
        raise IacsieveError(
            f"{archive}: member {ROOT}/{missing[0]}: listed in {MANIFEST} but missing; refusing the archive"
        )
    for required in (CARD, CHAMPION_FILE, META_FILE):
        if required not in seen:
            raise IacsieveError(f"{archive}: member {ROOT}/{required}: missing; not a champion archive")
    card = _card(archive, small[CARD])
    _same_card(archive, card, small[CHAMPION_FILE], small[META_FILE])
    handle.seek(0)
    whole = hashlib.sha256()
    for block in iter(lambda: handle.read(CHUNK), b""):
        whole.update(block)
    return {"archive": str(archive), "sha256": whole.hexdigest(), "members": len(seen), "card": card}


def _card(archive: Path, data: bytes) -> dict:
    try:
        card = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise IacsieveError(f"{archive}: member {ROOT}/{CARD}: not JSON: {exc}") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise IacsieveError(
            f"{archive}: member {ROOT}/{CARD}: archive format {card.get('format') if isinstance(card, dict) else '?'}"
            f"; this iacsieve {__version__} reads format {FORMAT}"
        )
    return card


def _same_card(archive: Path, card: dict, champion_bytes: bytes, meta_bytes: bytes) -> None:
    """archive.json's card is what `verify` prints and people trust: it must say what champion.json
    and model_meta.json, the files the filter reads, say (a card claiming another family, threshold
    or model kind is refused)."""
    champion, meta = (
        _json_object(archive, CHAMPION_FILE, champion_bytes),
        _json_object(archive, META_FILE, meta_bytes),
    )
    claims = [(key, champion.get(key), CHAMPION_FILE) for key in CARD_KEYS] + [
        ("kind", meta.get("kind"), META_FILE)
    ]
    for key, truth, source in claims:
        if card.get(key) != truth:
            raise IacsieveError(
                f"{archive}: member {ROOT}/{CARD}: {key} {_short(card.get(key))} but {source} says "
                f"{_short(truth)}; the card does not describe this champion: refusing the archive"
            )


def _json_object(archive: Path, name: str, data: bytes) -> dict:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise IacsieveError(f"{archive}: member {ROOT}/{name}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise IacsieveError(f"{archive}: member {ROOT}/{name}: expected a JSON object")
    return value


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def verify(archive: str | Path) -> dict:
    """Check every member against the manifest, extracting nothing; return the summary with the card."""
    return _read(archive, None)


def unpack(archive: str | Path, dest: str | Path) -> dict:
    """Verify `archive` and write its champion into `dest` (atomically: all files or none)."""
    archive = Path(archive)
    # the policy: not a link, not inside a model or the labels store, not the archive's own folder
    dest = check_folder_output(dest, inputs={"ARCHIVE": archive})
    if dest.exists() and any(dest.iterdir()):
        raise IacsieveError(f"--out {dest}: exists and is not an empty folder; unpack into a new one")
    with atomic_directory(dest) as tmp:
        summary = _read(archive, tmp)
        load_champion(tmp)  # a champion the filter can read
    summary["champion"] = str(dest)
    return summary


@contextlib.contextmanager
def opened(model: str | Path, verified: dict | None = None) -> Iterator[Path]:
    """A champion directory for `model`: the folder itself, or an archive verified and unpacked into a
    temporary folder that is removed afterwards (and, if this run is killed, by the next run;
    `verified`, when given, receives `verify`'s summary: the archive's SHA-256 for provenance)."""
    model = Path(model)
    if model.is_dir():
        yield model
        return
    if not model.exists():
        raise IacsieveError(f"{model}: model directory not found (nor a champion archive)")
    clean_stale_temps()
    base = tempfile.gettempdir()
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
    except OSError as exc:
        raise _temp_error(model, base, exc) from None
    try:
        champion_dir = tmp / ROOT
        try:
            champion_dir.mkdir()
            summary = _read(model, champion_dir)
        except OSError as exc:  # the temp folder's disk, not the command's output
            raise _temp_error(model, base, exc) from None
        if verified is not None:
            verified.update(summary)
        yield champion_dir
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _temp_error(model: Path, base: str, exc: OSError) -> IacsieveError:
    return IacsieveError(
        f"{model}: cannot unpack the champion archive into the temporary folder {base}: "
        f"{exc.strerror or exc} (set TMPDIR to a folder with room, or unpack it once with "
        f"`iacsieve champion unpack`)"
    )


_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-")


def clean_stale_temps(folder: str | Path | None = None) -> list[Path]:
    """Remove `opened`'s temp folders that killed runs left in `folder` (default: the temp folder):
    only ours (this user's folders), only stale ones: the pid in the name is gone and the folder is
    older than a minute (a pid from another container may look dead), or it is older than
    `STALE_TEMP_S` (an old name without a pid, or a reused pid). Returns what was removed."""
    base = Path(folder or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        age = now - info.st_mtime
        match = _TEMP_NAME.match(entry.name)
        dead = match is not None and not pid_alive(int(match.group(1))) and age > LEFTOVER_AGE_S
        if dead or age > STALE_TEMP_S:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def format_summary(summary: dict, verb: str) -> str:
    """What pack / verify / unpack print: the archive's SHA-256 (to publish or compare) and the card."""
    card = summary.get("card") or {}
    lines = [
        f"{verb} {summary['archive']}: {summary['members']} members, SHA-256 {summary['sha256']}",
        f"  champion {card.get('run')} ({card.get('family')}), threshold {card.get('threshold')}, "
        f"data md5 {card.get('data_md5')}, packed by iacsieve {card.get('package_version')}",
    ]
    if summary.get("champion"):
        lines.append(f"  unpacked into {summary['champion']}")
    return "\n".join(lines)
