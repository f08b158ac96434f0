#!/usr/bin/env python3
"""Build the filter image (container/Dockerfile.filter) with podman or docker: `make image-filter`.

`iacsieve filter` with a champion baked in and only the base install (no torch), for CI jobs that run
GLITCH and filter its output in containers. Built like `make image-local` (container/build_image.py, whose
functions this reuses): a debootstrapped Debian base (no registry), a wheelhouse of the base pins made
by this machine's pip, and an offline build (`--network none`). The champion archive
(`iacsieve champion pack`; `make repro` leaves models/champion.tar.gz) is verified as it is unpacked.
Tagged `iacsieve-filter:<package version>`. Exit 2 with one line for a user-fixable problem.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "container" / "Dockerfile.filter"
IGNOREFILE = REPO / "container" / "Dockerfile.dockerignore"
DEFAULT_CHAMPION = REPO / "models" / "champion.tar.gz"


def _build_image():
    """container/build_image.py as a module: one engine, base and wheelhouse machinery for both images."""
    spec = importlib.util.spec_from_file_location(
        "iacsieve_build_image", REPO / "container" / "build_image.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(path: Path) -> str:
    """The archive's SHA-256: the image build checks the file it mounts against it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_tag() -> str:
    return f"iacsieve-filter:{_build_image().package_version()}"


def main(argv: list[str] | None = None) -> int:
    b = _build_image()
    parser = argparse.ArgumentParser(
        prog="container/build_filter_image.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--engine", choices=("podman", "docker"), help="default: podman if present, else docker"
    )
    parser.add_argument("--tag", default=None, help="image tag (default: iacsieve-filter:<package version>)")
    parser.add_argument(
        "--champion", type=Path, default=DEFAULT_CHAMPION, help="champion archive (default: %(default)s)"
    )
    parser.add_argument(
        "--base-image", help="BASE_IMAGE (default: the debootstrapped localhost/iacsieve-base:<suite>)"
    )
    parser.add_argument("--suite", default="bookworm", help="Debian suite of the base (default: %(default)s)")
    parser.add_argument("--mirror", help="Debian mirror (default: the one apt is configured with)")
    parser.add_argument(
        "--wheelhouse",
        type=Path,
        default=b.CACHE / "wheelhouse-filter",
        help="where to make the base wheelhouse",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter whose pip makes the wheelhouse")
    parser.add_argument("--print-tag", action="store_true", help="print the default tag and exit")
    args = parser.parse_args(argv)
    if args.print_tag:
        print(default_tag())
        return 0
    tag = args.tag or default_tag()
    try:
        if not args.champion.is_file():
            raise b.BuildError(
                f"{args.champion}: no champion archive (`make repro` makes models/champion.tar.gz; "
                f"or `iacsieve champion pack`)"
            )
        engine = b.find_engine(args.engine)
        started = time.monotonic()
        base = args.base_image or b.make_local_base(engine, args.suite, args.mirror, False)
        wheelhouse = b.make_wheelhouse(
            args.python,
            args.wheelhouse.resolve(),
            b.image_python(engine, base),
            requirements=b.runtime_requirements(()),
        )
        with tempfile.TemporaryDirectory(prefix="iacsieve-filter-champion-") as context:
            shutil.copy2(args.champion, Path(context) / "champion.tar.gz")
            cmd = [engine, "build", "-f", str(DOCKERFILE), "-t", tag]
            cmd += ["--label", f"org.opencontainers.image.version={b.package_version()}"]
            if engine == "podman":
                cmd += ["--ignorefile", str(IGNOREFILE)]
            cmd += ["--build-arg", f"BASE_IMAGE={base}", "--build-context", f"wheels={wheelhouse}"]
            cmd += ["--build-context", f"champion={context}", "--network", "none"]
            cmd += ["--build-arg", f"CHAMPION_SHA256={sha256(args.champion)}", str(REPO)]
            b.run(cmd, env={**os.environ, "DOCKER_BUILDKIT": "1"})
        size = subprocess.run(
            [engine, "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True
        ).stdout.strip()
        mb = f"{int(size) / 1e6:.0f} MB" if size.isdigit() else "size unknown"
        b.log(f"{tag} ready in {time.monotonic() - started:.0f} s ({mb})")
    except b.BuildError as exc:
        print(f"build_filter_image: error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(
            f"build_filter_image: error: `{' '.join(map(str, exc.cmd[:3]))} ...` exited {exc.returncode}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
