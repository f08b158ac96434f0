"""Every command in the ```bash blocks of README.md and docs/*.md is executed here or mapped to what exercises it.

`README_COMMANDS` below is the one reviewed map, keyed by the command as written (comments and
line continuations removed, spaces collapsed). A README command missing from it fails
`test_every_readme_command_is_mapped`, and a map entry whose command left the README fails
`test_the_map_has_no_stale_entries`: change both together. The kinds of entry:

- `Runs()`: executed by this test, in README order, in a fresh clone of this repository (the
  working versions of its files laid over it, `.venv/bin` first on PATH as `activate` does, the
  raw data copied in); it must exit 0 and, all of them together, leave `git status` as it was.
- `Target(name)`: a Makefile target (the command is `make <name>`); checked to exist.
- `CoveredBy("tests/test_x.py::test_name", why)`: a test that runs the same code path on test data
  (a trained champion, a fake KFP server...); checked to exist.
- `External(why, test=...)`: needs what this machine lacks (a Docker daemon, a registry, a bucket,
  a cluster, GLITCH); `test`, when given, covers iacsieve's part of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from worktree import REPO

BIN = Path(sys.executable).parent  # the venv's bin: iacsieve, dvc


@dataclass(frozen=True)
class Runs:
    timeout_s: int = 300


@dataclass(frozen=True)
class Target:
    name: str


@dataclass(frozen=True)
class CoveredBy:
    node: str
    why: str


@dataclass(frozen=True)
class External:
    why: str
    test: str | None = None


README_COMMANDS: dict[str, Runs | Target | CoveredBy | External] = {
    # Two commands
    "make test": Target("test"),
    "make repro": Target("repro"),
    # using the tools
    ". .venv/bin/activate": CoveredBy(
        "tests/test_readme.py::test_readme_commands_run_in_a_fresh_clone",
        "this test runs every command with .venv/bin first on PATH, which is all activate does",
    ),
    "iacsieve --help": Runs(),
    # Data
    "iacsieve prepare": Runs(),
    "iacsieve data stats": Runs(),
    "dvc remote add -d -f storage s3://my-bucket/iacsieve && dvc push": External(
        "needs an S3 bucket and its credentials"
    ),
    # The pipeline
    "iacsieve params": Runs(),
    "iacsieve params --profile cluster": Runs(),
    "dvc exp run -S 'stage2.weight_decays=[0,0.01]'": CoveredBy(
        "tests/test_dvc_pipeline.py::test_one_changed_value_reruns_only_its_run",
        "a grid value changed in params.yaml reruns only its runs in a real `dvc repro`; `exp run -S` sets the value "
        "and runs that same repro",
    ),
    "dvc metrics diff HEAD~1": Runs(),
    "dvc plots diff HEAD~1": Runs(),
    "make bench": Target("bench"),
    # Filter a detector's output
    "glitch --tech puppet --csv tests/fixtures/glitch-puppet/scripts glitch.csv": External(
        "GLITCH is a separate tool; its recorded output on these scripts is tests/fixtures/glitch-puppet/glitch-puppet.csv",
        "tests/test_filter.py::test_glitch_csv_every_row_in_order_with_smell_score_keep",
    ),
    "iacsieve filter --detections tests/fixtures/glitch-puppet/glitch-puppet.csv "
    "--scripts tests/fixtures/glitch-puppet/scripts --out kept.sarif": CoveredBy(
        "tests/test_sarif.py::test_readme_sarif_example_on_the_bundled_fixture",
        "this very command (parsed from README.md) with a trained champion, from the repository root",
    ),
    # docs/filter.md: the filter in CI
    "git clone https://github.com/iacsieve/iacsieve && pip install ./iacsieve": External(
        "clones from GitHub, which this machine cannot reach; `pip install .` of this checkout is the wheel test's",
        "tests/test_install.py::test_the_wheel_installs_light_and_filters_real_glitch_output",
    ),
    'pip install "iacsieve @ git+https://github.com/iacsieve/iacsieve@COMMIT_SHA"': External(
        "fetches from GitHub; the same build of this checkout carries the bundled champion",
        "tests/test_bundled_champion.py::test_the_wheel_carries_the_bundled_champion",
    ),
    "iacsieve champion verify --expect-sha256 SHA256": CoveredBy(
        "tests/test_bundled_champion.py::test_verify_expect_sha256_accepts_what_it_printed",
        "verify of the bundled champion against the SHA-256 it printed, and refusals of others",
    ),
    "iacsieve scan --tech puppet infra/ --glitch ~/.venvs/glitch/bin/glitch --out kept.sarif --fail-on kept": CoveredBy(
        "tests/test_scan.py::test_could_not_parse_and_tracebacks_name_files_and_fail_the_gate",
        "scan with a stand-in GLITCH replaying real output and GLITCH's stderr messages",
    ),
    "iacsieve scan --tech puppet repo/ --out kept.sarif --fail-on kept": CoveredBy(
        "tests/test_scan.py::test_scan_without_model_uses_the_bundled_champion",
        "scan with the bundled champion and a stand-in GLITCH on PATH",
    ),
    "git clone https://github.com/sr-lab/GLITCH ~/glitch && git -C ~/glitch checkout 19c5020": External(
        "clones GLITCH from GitHub, which this machine cannot reach"
    ),
    "python3 -m venv ~/.venvs/glitch && ~/.venvs/glitch/bin/pip install ~/glitch": External(
        "installs the GLITCH clone above"
    ),
    "~/.venvs/glitch/bin/glitch --tech puppet --csv --folder-strategy include-all infra/ glitch.csv": External(
        "GLITCH is not installed here; tests/fixtures/glitch-real holds its output from this command",
        "tests/test_filter_ci.py::test_docs_glitch_command_is_how_the_fixtures_were_made",
    ),
    "iacsieve filter --detections glitch.csv --scripts infra/ --out kept.csv": CoveredBy(
        "tests/test_filter_ci.py::test_docs_filter_commands_run_on_real_output",
        "this very command (parsed from docs/filter.md) on GLITCH's real output for each technology",
    ),
    "iacsieve filter --detections glitch.csv --scripts infra/ --out iacsieve.sarif "
    "--sarif-category iacsieve-puppet --json-summary summary.json --on-missing keep --fail-on kept": CoveredBy(
        "tests/test_filter_ci.py::test_docs_filter_commands_run_on_real_output",
        "the CI job (parsed from docs/filter.md) on GLITCH's real output: SARIF, summary and exit code",
    ),
    # Teach it your policy
    "iacsieve review --model models/champion --detections glitch.csv --scripts repo/ --budget 50 --out sheet.csv": CoveredBy(
        "tests/test_review.py::test_review_picks_the_documented_rows",
        "the review queue on a hand-made example",
    ),
    "iacsieve review --model models/champion --from-train --budget 50 --out audit.csv": CoveredBy(
        "tests/test_review.py::test_label_audit_lists_the_training_rows_the_model_doubts_most",
        "the label audit through the CLI on trimmed training data: LLM label, out-of-fold score, reason",
    ),
    "iacsieve labels add sheet.csv --reviewer alice": CoveredBy(
        "tests/test_labels.py::test_two_reviewers_disagreement_is_kept_and_reported",
        "filled sheets recorded by the CLI",
    ),
    "iacsieve labels stats": CoveredBy(
        "tests/test_labels.py::test_stats_kappa_against_llm_labels",
        "counts and Cohen's kappa on a labels store",
    ),
    'git add data/human.dvc && git commit -m "labels: alice" && dvc push': CoveredBy(
        "tests/test_labels.py::test_labels_add_updates_data_human_dvc_in_a_dvc_repo",
        "`labels add` updates data/human.dvc in a DVC repo; committing and pushing it are plain git/DVC",
    ),
    # docs/labels.md
    "iacsieve repair-dvc-lock": CoveredBy(
        "tests/test_hostile.py::test_a_corrupt_dvc_rwlock_is_repaired_only_when_no_dvc_holds_the_repo",
        "the command on an empty/corrupt rwlock, with and without a process holding DVC's lock",
    ),
    # docs/cluster.md
    'pip install ".[cluster]"': External("installs the cloud-storage extras from the package index"),
    "make image": Target("image"),
    "TAG=$(python container/build_image.py --print-source-tag | cut -d: -f2)": Runs(),
    "IMAGE=ghcr.io/acme/iacsieve:0.1.0": External("a shell variable naming your registry"),
    "ROOT=s3://BUCKET/iacsieve/pipelines": External(
        "a shell variable naming your kfp-launcher pipeline root"
    ),
    "docker tag iacsieve:$TAG ghcr.io/acme/iacsieve:$TAG && docker push ghcr.io/acme/iacsieve:$TAG": External(
        "needs a registry to push to; the image itself: make image-local",
        "tests/test_container.py::test_the_image_runs_its_cli",
    ),
    "dvc remote add -d -f storage s3://BUCKET/iacsieve/dvc && dvc push data.dvc": CoveredBy(
        "tests/test_kfp_s3.py::test_docs_cluster_commands_round_trip_through_s3",
        "this command (from docs/cluster.md) against moto's S3 server on localhost",
    ),
    "DATA=$(iacsieve kfp push-data --to s3://BUCKET/iacsieve/data)": CoveredBy(
        "tests/test_kfp_s3.py::test_docs_cluster_commands_round_trip_through_s3",
        "this command (from docs/cluster.md) against moto's S3 server on localhost",
    ),
    'iacsieve kfp submit --stage all --host https://KFP_HOST/pipeline --image $IMAGE --pipeline-root $ROOT --data-uri "$DATA"': CoveredBy(
        "tests/test_kfp_submit.py::test_submit_all_stages_in_one_run",
        "submit against a loopback KFP REST server",
    ),
    'iacsieve kfp submit --stage 3 --host … --image $IMAGE --pipeline-root $ROOT --data-uri "$DATA" --from-run <stage-2 run id>': CoveredBy(
        "tests/test_kfp_from_run.py::test_submit_from_run_sends_the_earlier_runs_selection",
        "--from-run against a loopback KFP REST server",
    ),
    'iacsieve kfp submit --stage 4 --host … --image $IMAGE --pipeline-root $ROOT --data-uri "$DATA" --from-run <stage-3 run id>': CoveredBy(
        "tests/test_kfp_all_stages_run.py::test_the_cli_pulls_and_submits_from_an_all_stages_run",
        "stage 4 submitted --from-run against a loopback KFP REST server and moto's S3",
    ),
    "iacsieve kfp pull-champion --host … --from-run <stage-4 or all-stages run id>": CoveredBy(
        "tests/test_kfp_s3.py::test_docs_cluster_commands_round_trip_through_s3",
        "this command (from docs/cluster.md): the run from a loopback KFP API, its champion from moto's S3",
    ),
    'git add dvc.yaml models/.gitignore models/cluster-champion.dvc reports/cluster-champion && git commit -m "cluster '
    'champion" && dvc push models/cluster-champion.dvc': CoveredBy(
        "tests/test_kfp_s3.py::test_docs_cluster_commands_round_trip_through_s3",
        "this command (from docs/cluster.md) after the pull, then `dvc status` and `dvc metrics diff`",
    ),
    "iacsieve kfp check pipelines/*.yaml": Runs(),
    "iacsieve report --cluster": CoveredBy(
        "tests/test_pull_champion.py::test_filter_report_and_plots_on_the_pulled_champion",
        "on a pulled champion in a fresh clone",
    ),
    "iacsieve plots --cluster": CoveredBy(
        "tests/test_pull_champion.py::test_filter_report_and_plots_on_the_pulled_champion",
        "on a pulled champion in a fresh clone",
    ),
    "iacsieve filter --model models/cluster-champion --detections glitch.csv --scripts repo/ --out kept.csv": CoveredBy(
        "tests/test_pull_champion.py::test_filter_report_and_plots_on_the_pulled_champion",
        "on a pulled champion in a fresh clone",
    ),
    # docs/explain.md: why was this warning dropped?
    "iacsieve filter --model models/champion --detections glitch.csv --scripts repo/ --out kept.csv "
    "--explain why.jsonl": CoveredBy(
        "tests/test_evidence.py::test_reason_column_and_explain_jsonl",
        "the reason column and --explain on the bundled fixture with a frozen champion",
    ),
    "iacsieve filter --model models/champion --detections glitch.csv --scripts repo/ --out all.sarif "
    "--sarif-suppressed": CoveredBy(
        "tests/test_evidence.py::test_sarif_with_suppressed_validates_against_the_sarif_schema",
        "the same run, its SARIF validated against the OASIS SARIF 2.1.0 schema",
    ),
    "iacsieve explain --model models/champion --detections tests/fixtures/glitch-puppet/glitch-puppet.csv "
    "--row 170 --scripts tests/fixtures/glitch-puppet/scripts": CoveredBy(
        "tests/test_evidence.py::test_explain_on_the_puppet_fixture_shows_a_dropped_secrets_neighbours",
        "`iacsieve explain --detections --row` on a dropped hard-coded secret of the fixture",
    ),
    "iacsieve explain --model models/champion --scripts repo/ --file manifests/init.pp --line 40 "
    "--smell hard_coded_secret": CoveredBy(
        "tests/test_evidence.py::test_explain_by_file_line_smell",
        "--file/--line/--smell on the fixture's scripts",
    ),
    "python -m iacsieve.reporting.bench_filter --model models/champion --scale-rows 400000": CoveredBy(
        "tests/test_filter.py::test_scale_benchmark_runs_the_cli_and_reports_peak_memory",
        "the scale run (a fresh `iacsieve filter` process); the with/without comparison: "
        "tests/test_evidence.py::test_evidence_cost_is_the_time_ratio_at_scale",
    ),
    # docs/champion.md: the light install (pip install iacsieve: above), the champion archive, publishing it,
    # the filter image
    "iacsieve champion pack": CoveredBy(
        "tests/test_champion_archive.py::test_pack_is_reproducible_and_holds_every_file_with_a_sha256sum_manifest",
        "pack of a trained champion (dvc.yaml's champion-archive stage runs the same command)",
    ),
    "iacsieve champion verify models/champion.tar.gz": CoveredBy(
        "tests/test_champion_archive.py::test_a_malformed_archive_is_refused_in_one_line",
        "verify on a packed champion and on altered copies of it",
    ),
    "iacsieve filter --model champion.tar.gz --detections glitch.csv --scripts repo/ --out kept.sarif": CoveredBy(
        "tests/test_champion_archive.py::test_filter_takes_the_archive_and_gives_the_folders_output",
        "filter with the archive on real GLITCH output, byte-identical to the folder's",
    ),
    "iacsieve champion unpack champion.tar.gz --out champion/": CoveredBy(
        "tests/test_champion_archive.py::test_unpack_writes_a_champion_folder_and_repacks_to_the_same_bytes",
        "unpack, then pack the folder again to the same bytes",
    ),
    "sha256sum models/champion.tar.gz > champion.tar.gz.sha256": CoveredBy(
        "tests/test_champion_archive.py::test_pack_is_reproducible_and_holds_every_file_with_a_sha256sum_manifest",
        "the SHA-256 pack prints is the file's (hashlib), as sha256sum prints it",
    ),
    'gh release create "champion-$(git rev-parse --short HEAD)" models/champion.tar.gz champion.tar.gz.sha256': External(
        "needs a GitHub repository and a token"
    ),
    "curl -fLO https://github.com/ORG/REPO/releases/download/TAG/champion.tar.gz": External(
        "needs the team's published release"
    ),
    "dvc push champion-archive": External("pushes to the team's DVC remote"),
    "dvc get https://github.com/ORG/REPO models/champion.tar.gz --rev COMMIT_SHA": External(
        "needs the team's repository and its DVC remote"
    ),
    "oras push ghcr.io/ORG/iacsieve-champion:0.1.0 champion.tar.gz:application/vnd.iacsieve.champion.v1.tar+gzip": External(
        "needs oras and an OCI registry"
    ),
    "oras pull ghcr.io/ORG/iacsieve-champion:0.1.0": External("needs oras and an OCI registry"),
    "make image-filter": Target("image-filter"),
    'podman run --rm -v "$PWD:/src:ro" -v "$PWD/out:/out" iacsieve-filter:0.1.0 --detections glitch.csv --scripts . --out /out/kept.sarif': CoveredBy(
        "tests/test_filter_image.py::test_the_filter_image_filters_real_glitch_output_without_torch",
        "the image built offline and run on real GLITCH output (where podman or docker answers)",
    ),
}


# ----------------------------------------------------------------------------- reading the README


def strip_comment(line: str) -> str:
    """`line` without a shell comment (a `#` after whitespace, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def readme_commands(text: str) -> list[str]:
    """The commands of the ```bash blocks, in order: continuations joined, comments dropped, spaces collapsed."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        pending = ""
        for raw in block.splitlines():
            line = strip_comment(raw).rstrip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command = " ".join((pending + line).split())
            pending = ""
            if command:
                commands.append(command)
    return commands


# README.md first, then every page under docs/ that shows commands: one map covers them all.
DOC_PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMANDS = list(
    dict.fromkeys(c for page in DOC_PAGES for c in readme_commands(page.read_text(encoding="utf-8")))
)
RUNS = [c for c in COMMANDS if isinstance(README_COMMANDS.get(c), Runs)]


def test_every_readme_command_is_mapped():
    unmapped = [c for c in COMMANDS if c not in README_COMMANDS]
    assert not unmapped, (
        "README.md commands with no entry in tests/test_readme.py README_COMMANDS "
        f"(say how each is exercised): {unmapped}"
    )


def test_the_map_has_no_stale_entries():
    stale = [c for c in README_COMMANDS if c not in COMMANDS]
    assert not stale, f"README_COMMANDS entries no longer in README.md (remove or update them): {stale}"


def test_what_the_map_points_to_exists():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for command, check in README_COMMANDS.items():
        if isinstance(check, Target):
            assert command == f"make {check.name}" and re.search(
                rf"^{re.escape(check.name)}:", makefile, re.M
            ), command
        nodes = (
            [check.node]
            if isinstance(check, CoveredBy)
            else [check.test]
            if isinstance(check, External) and check.test
            else []
        )
        for node in nodes:
            path, _, name = node.partition("::")
            assert re.search(rf"^def {re.escape(name)}\(", (REPO / path).read_text(encoding="utf-8"), re.M), (
                f"{command}: {node} does not exist"
            )


def test_readme_parsing():
    text = (
        "```bash\nfoo --a 'x # y'   # a comment\n# only a comment\nbar \\\n    --b 1  # two lines\n```\n"
        "```\nnot bash\n```\n```bash\nbaz\n```\n"
    )
    assert readme_commands(text) == ["foo --a 'x # y'", "bar --b 1", "baz"]


# ----------------------------------------------------------------------------- running them


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone of this repository (its history: `HEAD~1` works) with the working files laid over it."""
    if subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: the README's commands run in a clone of one")
    root = tmp_path_factory.mktemp("readme") / "iacsieve"
    _git("clone", "-q", "--no-hardlinks", str(REPO), str(root), cwd=REPO)
    tracked = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).split("\0")
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
        elif not source.exists() and (root / name).exists():
            (root / name).unlink()  # deleted in the working tree
    shutil.copytree(REPO / "data" / "raw", root / "data" / "raw")  # what `dvc pull data.dvc` brings
    return root


@pytest.fixture(scope="module")
def ran(clone) -> dict[str, subprocess.CompletedProcess]:
    """Every `Runs` command, in README order, in the clone; `git status` before and after."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}
    results = {"<status before>": _git("status", "--porcelain", cwd=clone)}
    for command in RUNS:
        results[command] = subprocess.run(
            command,
            shell=True,
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=README_COMMANDS[command].timeout_s,
        )
    results["<status after>"] = _git("status", "--porcelain", cwd=clone)
    return results


@pytest.mark.parametrize("command", RUNS)
def test_readme_commands_run_in_a_fresh_clone(ran, command):
    proc = ran[command]
    assert proc.returncode == 0, (
        f"{command}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )


def test_readme_commands_leave_git_status_as_it_was(ran):
    assert ran["<status after>"] == ran["<status before>"], "README commands left files git does not ignore"
