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
every listed file must be present, else one line naming the member (exit 2). Nothing is extracted
with tarfile's own extract: each member is read and written by us. The manifest proves integrity
against corruption and edits; that the archive is *the* published one is what its own SHA-256
(printed by pack and verify, published beside it) proves.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from iacsieve import __version__
from iacsieve.core.champion_card import load_champion
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import CHAMPION_FILE
from iacsieve.io.atomic import atomic_directory, atomic_write_stream
from iacsieve.io.output_policy import check_file_output
from iacsieve.models import META_FILE, read_meta

FORMAT = 1
ROOT = "champion"  # the one folder the archive holds
MANIFEST = "SHA256SUMS"
CARD = "archive.json"
GENERATED: frozenset[str] = frozenset({MANIFEST, CARD})  # written by pack; an unpacked copy's are remade
MTIME = 315532800  # 1980-01-01 UTC: fixed, so the bytes depend on the content only
CARD_KEYS: tuple[str, ...] = ("family", "run", "threshold", "threshold_source", "data_md5", "val_f1", "test")
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 8 << 30  # an encoder champion's weights are a few GB at most
MAX_TOTAL_BYTES = 16 << 30
MAX_MANIFEST_BYTES = 4 << 20
CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _champion_files(champion_dir: Path) -> list[tuple[str, Path]]:
    """(archive-relative name, path) of every file to pack, sorted; refuses links and special files."""
    files = []
    for path in sorted(champion_dir.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            continue
        name = path.relative_to(champion_dir).as_posix()
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
    if raw.startswith("/") or "\\" in raw or ".." in parts or not parts or parts[0] != ROOT:
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


def _read(archive: str | Path, dest: Path | None) -> dict:
    """Walk the archive once: check every member against the manifest; write files under `dest` if given.

    Long because the tar stream is read once, in order: each member's type, path, size and hash is
    checked as it passes, against state (manifest, names seen) that split helpers would all share."""
    archive = Path(archive)
    try:
        mode = archive.stat().st_mode
    except OSError as exc:
        raise IacsieveError(f"{archive}: cannot read the champion archive: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise IacsieveError(f"{archive}: not a regular file (a champion archive is a .tar.gz)")
    sums: dict[str, str] | None = None
    seen: set[str] = set()
    total = 0
    card_bytes = b""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
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
                if name == CARD:  # small: kept in memory, parsed after the walk
                    card_sink = io.BytesIO()
                    digest, size = _copy_hashing(source, card_sink, min(member.size, MAX_MANIFEST_BYTES))
                    card_bytes = card_sink.getvalue()
                    if dest is not None:
                        (dest / CARD).write_bytes(card_bytes)
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
    return {
        "archive": str(archive),
        "sha256": _sha256_file(archive),
        "members": len(seen),
        "card": _card(archive, card_bytes),
    }


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


def verify(archive: str | Path) -> dict:
    """Check every member against the manifest, extracting nothing; return the summary with the card."""
    return _read(archive, None)


def unpack(archive: str | Path, dest: str | Path) -> dict:
    """Verify `archive` and write its champion into `dest` (atomically: all files or none)."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise IacsieveError(f"{dest}: exists and is not an empty folder; unpack into a new one")
    with atomic_directory(dest) as tmp:
        summary = _read(archive, tmp)
        load_champion(tmp)  # a champion the filter can read
    summary["champion"] = str(dest)
    return summary


@contextlib.contextmanager
def opened(model: str | Path) -> Iterator[Path]:
    """A champion directory for `model`: the folder itself, or an archive verified and unpacked into a
    temporary folder that is removed afterwards."""
    model = Path(model)
    if model.is_dir():
        yield model
        return
    if not model.exists():
        raise IacsieveError(f"{model}: model directory not found (nor a champion archive)")
    tmp = Path(tempfile.mkdtemp(prefix="iacsieve-champion-"))
    try:
        champion_dir = tmp / ROOT
        champion_dir.mkdir()
        _read(model, champion_dir)
        yield champion_dir
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
