#!/usr/bin/env python3
"""Build the component image (container/Dockerfile) with podman or docker: `make image` / `make image-local`.

Two modes:
  default   the cluster image: BASE_IMAGE (a CUDA torch base from a registry), pins from the index
  --local   no registry at all: a minimal Debian base made here (debootstrap from the Debian mirror
            apt is configured with, then `<engine> import`), a wheelhouse of the pinned runtime
            dependencies made by this machine's pip (its configuration picks the CPU torch build),
            and an offline build from them (`pip install --no-index --find-links`, network off)

The image is tagged `iacsieve:<package version>` and `iacsieve:<version>-src.<hash>` (the tag compiled
specs name: src/iacsieve/kfp/image_ref.py) and labelled with a hash of pyproject.toml, the Dockerfile and
src/, so a caller (tests/test_container.py) can tell whether it is current without building.
Exit 2 with one line for a user-fixable problem (no engine, not root for debootstrap, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "container" / "Dockerfile"
IGNOREFILE = REPO / "container" / "Dockerfile.dockerignore"
CACHE = REPO / "build" / "image"  # the local base's rootfs tarball is not kept; the wheelhouse is
HASH_LABEL = "org.iacsieve.source-hash"
IMAGE_REF = REPO / "src" / "iacsieve" / "kfp" / "image_ref.py"
LOCAL_BASE = "localhost/iacsieve-base:{suite}"
# What the local base needs beyond minbase: python3 with venv (the image makes /opt/venv).
BASE_PACKAGES = ("python3", "python3-venv")
# The package's own build requirements ([build-system] requires), for an offline `pip install .`.
BUILD_REQUIREMENTS = ("setuptools>=77", "wheel")
# The extras a KFP component runs with, beyond the base (pyproject.toml): encoders, their data, kfp.
COMPONENT_EXTRAS = ("hf", "train", "component")


class BuildError(Exception):
    """A problem the user can fix: printed as one line, exit 2."""


def log(message: str) -> None:
    print(f"build_image: {message}", file=sys.stderr, flush=True)


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def package_version() -> str:
    return pyproject()["project"]["version"]


def default_tag() -> str:
    return f"iacsieve:{package_version()}"


def _image_ref():
    """src/iacsieve/kfp/image_ref.py, loaded by path (stdlib only): one hash for the build and for compile."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("iacsieve_image_ref", IMAGE_REF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_hash() -> str:
    """What the image is built from that changes its behaviour: pyproject.toml, the Dockerfile and src/."""
    return _image_ref().source_hash(REPO)


def source_tag() -> str:
    """`iacsieve:<version>-src.<hash>`: the tag compiled specs name (a rebuild gets a new one)."""
    return f"iacsieve:{_image_ref().source_tag(package_version(), REPO)}"


def runtime_requirements(extras: tuple[str, ...] = COMPONENT_EXTRAS) -> list[str]:
    """The pinned dependencies an image installs: the base plus `extras` (default: the component image's)."""
    project = pyproject()["project"]
    pins = list(project["dependencies"])
    for extra in extras:
        pins += [pin for pin in project["optional-dependencies"][extra] if pin not in pins]
    return pins


def find_engine(preferred: str | None = None) -> str:
    """`podman` or `docker`, whichever is here and answers (podman first: no daemon needed)."""
    present = [name for name in ([preferred] if preferred else ["podman", "docker"]) if shutil.which(name)]
    for name in present:
        if subprocess.run([name, "info"], capture_output=True).returncode == 0:
            return name
    if present:
        raise BuildError(
            f"{' and '.join(present)} present but not answering (`{present[0]} info` fails: "
            "is the daemon running, containers.conf set? container/install-engine.sh)"
        )
    wanted = preferred or "podman or docker"
    raise BuildError(
        f"no container engine: {wanted} is not on PATH (on Debian, as root: container/install-engine.sh)"
    )


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kwargs)


def image_label(engine: str, image: str, label: str) -> str | None:
    """A label of a local image, or None when the image is not there."""
    result = subprocess.run(
        [engine, "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', image],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def image_exists(engine: str, image: str) -> bool:
    return subprocess.run([engine, "image", "inspect", image], capture_output=True).returncode == 0


# ----------------------------------------------------------------------------- the local base


def apt_mirror(suite: str) -> str:
    """The Debian mirror apt is configured with for `suite` (deb822 .sources or one-line .list files)."""
    sources = Path("/etc/apt/sources.list.d")
    files = [Path("/etc/apt/sources.list")] + (
        sorted(sources.glob("*.list")) + sorted(sources.glob("*.sources")) if sources.is_dir() else []
    )
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if (
                    "deb" in fields.get("Types", "").split()
                    and suite in fields.get("Suites", "").split()
                    and fields.get("Enabled", "yes").lower() != "no"
                ):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m and m.group(2) == suite:
                    return m.group(1)
    raise BuildError(
        f"no apt source for Debian {suite!r} in /etc/apt/sources.list{{,.d/}}: pass --mirror URL"
    )


def make_local_base(engine: str, suite: str, mirror: str | None, rebuild: bool) -> str:
    """A minimal Debian image with python3 + venv, made without a registry (debootstrap + import)."""
    tag = LOCAL_BASE.format(suite=suite)
    if image_exists(engine, tag) and not rebuild:
        log(f"base {tag}: present (--rebuild-base to make it again)")
        return tag
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root: run `make image-local` as root, or give --base-image")
    if not shutil.which("debootstrap"):
        raise BuildError(
            "debootstrap is not installed (apt-get install debootstrap, or container/install-engine.sh)"
        )
    mirror = mirror or apt_mirror(suite)
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=CACHE) as rootfs:
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                suite,
                rootfs,
                mirror,
            ],
            stdout=subprocess.DEVNULL,
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):  # downloaded .debs and indexes
            for p in (Path(rootfs) / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        importer = subprocess.Popen(
            [engine, "import", "--change", 'CMD ["/bin/bash"]', "-", tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        with tarfile.open(fileobj=importer.stdin, mode="w|") as tar:
            tar.add(rootfs, arcname=".")
        importer.stdin.close()
        if importer.wait() != 0:
            raise BuildError(f"{engine} import of the debootstrap rootfs failed")
    log(f"base {tag}: Debian {suite} from {mirror} in {time.monotonic() - started:.0f} s")
    return tag


# ----------------------------------------------------------------------------- the wheelhouse


def image_python(engine: str, image: str) -> str:
    out = subprocess.run(
        [
            engine,
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "python3",
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise BuildError(f"{image}: cannot run python3 in it: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout.strip()


def make_wheelhouse(
    python: str, dest: Path, target_python: str, requirements: list[str] | None = None
) -> Path:
    """Wheels of `requirements` (default: the component image's pins) + the build backend, resolved by
    this machine's pip.

    Made again only when the requirements change (a stamp holds their hash). The host's pip
    configuration decides which torch build lands here (on this kind of machine: the CPU one).
    """
    here = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if here != target_python:
        raise BuildError(
            f"{python} is Python {here} but the base image has {target_python}: "
            f"give --python with a {target_python} interpreter (wheels are per Python version)"
        )
    requirements = (runtime_requirements() if requirements is None else requirements) + list(
        BUILD_REQUIREMENTS
    )
    key = hashlib.sha256("\n".join(requirements + [here]).encode()).hexdigest()[:16]
    stamp = dest / f".complete-{key}"
    if stamp.is_file():
        log(f"wheelhouse {dest}: current ({len(list(dest.glob('*.whl')))} wheels)")
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    started = time.monotonic()
    run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(dest),
            *requirements,
        ]
    )
    stamp.touch()
    size = sum(p.stat().st_size for p in dest.glob("*.whl")) / 2**20
    log(
        f"wheelhouse {dest}: {len(list(dest.glob('*.whl')))} wheels, {size:.0f} MiB in {time.monotonic() - started:.0f} s"
    )
    return dest


# ----------------------------------------------------------------------------- the build


def build(engine: str, tag: str, base_image: str | None, wheelhouse: Path | None, extra: list[str]) -> None:
    """`<engine> build` of container/Dockerfile; with a wheelhouse: offline (no index, no network)."""
    cmd = [
        engine,
        "build",
        "-f",
        str(DOCKERFILE),
        "-t",
        tag,
        "-t",
        source_tag(),
        "--label",
        f"{HASH_LABEL}={source_hash()}",
        "--label",
        f"org.opencontainers.image.version={package_version()}",
    ]
    if engine == "podman":  # BuildKit finds <Dockerfile>.dockerignore by itself; buildah needs it named
        cmd += ["--ignorefile", str(IGNOREFILE)]
    if base_image:
        cmd += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if wheelhouse:
        cmd += ["--build-context", f"wheels={Path(wheelhouse).resolve()}", "--network", "none"]
    env = dict(os.environ, DOCKER_BUILDKIT="1")  # docker: RUN --mount and --build-context need BuildKit
    previous = image_id(engine, tag)
    started = time.monotonic()
    run(cmd + extra + [str(REPO)], env=env)
    log(f"built {tag} in {time.monotonic() - started:.0f} s")
    if previous and previous != image_id(
        engine, tag
    ):  # the replaced build, now untagged (layers it shares stay)
        subprocess.run([engine, "rmi", previous], capture_output=True)


def image_id(engine: str, image: str) -> str | None:
    result = subprocess.run(
        [engine, "image", "inspect", "--format", "{{.Id}}", image], capture_output=True, text=True
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="container/build_image.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="no registry: debootstrap base + host-made CPU wheelhouse, offline build",
    )
    parser.add_argument(
        "--engine", choices=("podman", "docker"), help="default: podman if present, else docker"
    )
    parser.add_argument("--tag", default=None, help="image tag (default: iacsieve:<package version>)")
    parser.add_argument(
        "--base-image",
        help="BASE_IMAGE build argument (default: the Dockerfile's CUDA base; "
        "--local: the debootstrapped localhost/iacsieve-base:<suite>)",
    )
    parser.add_argument(
        "--suite", default="bookworm", help="--local: Debian suite of the base (default: %(default)s)"
    )
    parser.add_argument("--mirror", help="--local: Debian mirror (default: the one apt is configured with)")
    parser.add_argument("--rebuild-base", action="store_true", help="--local: debootstrap the base again")
    parser.add_argument(
        "--wheelhouse",
        type=Path,
        help="--local: where to make the wheelhouse (default: build/image/wheelhouse); "
        "otherwise: an existing wheelhouse to build from offline (air-gapped)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="--local: interpreter whose pip makes the wheelhouse (default: this one)",
    )
    parser.add_argument("--print-tag", action="store_true", help="print the default tag and exit")
    parser.add_argument(
        "--print-source-tag",
        action="store_true",
        help="print the source tag (iacsieve:<version>-src.<hash>) every build also gets, and exit",
    )
    parser.add_argument(
        "--print-source-hash",
        action="store_true",
        help=f"print the hash the image is labelled with ({HASH_LABEL}) and exit",
    )
    parser.add_argument("engine_args", nargs="*", help="extra arguments for `<engine> build` (after --)")
    args = parser.parse_args(argv)
    if args.print_tag or args.print_source_hash or args.print_source_tag:
        print(default_tag() if args.print_tag else source_tag() if args.print_source_tag else source_hash())
        return 0
    tag = args.tag or default_tag()
    try:
        engine = find_engine(args.engine)
        started = time.monotonic()
        base, wheelhouse = args.base_image, args.wheelhouse
        if args.local:
            base = base or make_local_base(engine, args.suite, args.mirror, args.rebuild_base)
            wheelhouse = make_wheelhouse(
                args.python, (wheelhouse or CACHE / "wheelhouse").resolve(), image_python(engine, base)
            )
        elif wheelhouse and not any(wheelhouse.glob("*.whl")):
            raise BuildError(
                f"{wheelhouse}: no wheels in it (make one with --local, or pip wheel --wheel-dir)"
            )
        build(engine, tag, base, wheelhouse, args.engine_args)
        log(f"{tag} ready in {time.monotonic() - started:.0f} s (label {HASH_LABEL}={source_hash()})")
    except BuildError as exc:
        print(f"build_image: error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        hint = "" if args.local else " (no registry reachable? `make image-local` builds without one)"
        print(
            f"build_image: error: `{' '.join(map(str, exc.cmd[:3]))} ...` exited {exc.returncode}{hint}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
