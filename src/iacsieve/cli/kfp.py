"""`iacsieve kfp compile|submit|run-local|pull-champion`: the stages as Kubeflow Pipelines."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iacsieve.cli.env_options import env_option
from iacsieve.core import layout

if TYPE_CHECKING:
    from iacsieve.kfp.run import StageInputs

AUTH_HELP = """\
authentication (kfp.Client, first that applies):
  --token TOKEN / $KFP_TOKEN     a bearer token made outside the SDK (e.g. `gcloud auth print-access-token`,
                                 or a Kubeflow service-account token)
  --sa-token-path / $KF_PIPELINES_SA_TOKEN_PATH
                                 a projected service-account token file (inside a cluster; default file
                                 /var/run/secrets/kubeflow/pipelines/token)
  --cookies 'authservice_session=...'
                                 a Kubeflow session cookie (dex / oauth2-proxy login in the browser)
  none of these                  --host as is (e.g. `kubectl port-forward -n kubeflow svc/ml-pipeline-ui
                                 8080:80`, then --host http://localhost:8080); without --host or
                                 $KF_PIPELINES_ENDPOINT: the in-cluster service (inside a pod), else the
                                 API server proxy of ~/.kube/config's current context, else an error
"""

STAGE_INPUTS_HELP = """\
stage inputs (URIs of earlier runs' artifacts: KFP UI -> run -> task -> Output artifacts; or the
paths `run-local` prints):
  stages 1, 2 and all: --data-uri    stage 3: + --selection-uri (stage 2's select `selection`)
  stage 4: + --champion-uri (stage 3's freeze `card`: its config is re-seeded, its frozen
           threshold applied)
"""

RUNNER_HELP = """
--runner docker: kfp.local's DockerRunner (docker-py) runs each task in --image (build it with
  `make image-local`), talking to $DOCKER_HOST, else the default Docker socket, else a podman system
  service started for the run. Local inputs are mounted read-only; tasks run as the calling user.
"""


def register(sub: argparse._SubParsersAction) -> None:
    kfp = sub.add_parser(
        "kfp",
        help="compile / submit / run-local the stages as Kubeflow Pipelines",
        description="The four training stages as Kubeflow Pipelines v2: one pipeline per "
        "stage, built from params.yaml (a profile's grids), one train task per "
        "grid point in parallel.",
    )
    ksub = kfp.add_subparsers(dest="kfp_command", metavar="<subcommand>", required=True)
    _add_compile(ksub)
    _add_submit(ksub)
    _add_run_local(ksub)
    _add_check(ksub)
    _add_specs(ksub)
    _add_pull_champion(ksub)
    _add_push_data(ksub)


def _add_compile(ksub: argparse._SubParsersAction) -> None:
    """`kfp compile`: a stage's pipeline YAML."""
    c = ksub.add_parser(
        "compile",
        help="write a stage's pipeline YAML",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile stage N's pipeline (IR YAML) for upload in the KFP UI or `kfp`.",
    )
    _stage_args(c, default_profile="cluster")
    c.add_argument("-o", "--output", help="output file (default: iacsieve-stage<N>-<profile>.yaml)")
    c.add_argument(
        "--no-cluster-resources",
        dest="cluster",
        action="store_false",
        default=None,
        help="leave out GPU/CPU/memory, node selector, tolerations and /dev/shm on train tasks "
        "(default: added for every profile but `local`)",
    )
    c.set_defaults(func=_compile)


def _add_submit(ksub: argparse._SubParsersAction) -> None:
    """`kfp submit`: a stage's run on a KFP server."""
    s = ksub.add_parser(
        "submit",
        help="submit a stage's run to a KFP cluster",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile stage N and create a run on a Kubeflow Pipelines (v2) server.",
        epilog=STAGE_INPUTS_HELP + "\n" + AUTH_HELP,
    )
    _stage_args(s, default_profile="cluster")
    _input_args(s, data_default=None)
    s.add_argument(
        "--from-run",
        metavar="RUN_ID",
        help="stages 3-4: take the stage-2 selection / the stage-3 champion card from this earlier run "
        "(found where KFP writes task outputs) instead of --selection-uri / --champion-uri",
    )
    s.add_argument(
        "--pipeline-name",
        help="with --from-run: the earlier run's pipeline name (iacsieve-stage<N>), for a run started "
        "from an uploaded pipeline version (the API then returns no pipeline spec to read it from)",
    )
    s.add_argument(
        "--experiment", default="iacsieve", help="experiment name (created if missing; default: %(default)s)"
    )
    s.add_argument("--run-name", help="run name (default: pipeline name + time)")
    s.add_argument(
        "--pipeline-root",
        help="where the launcher writes this run's outputs, recorded on the run so --from-run finds "
        "them: your kfp-launcher ConfigMap's defaultPipelineRoot, e.g. s3://BUCKET/iacsieve/pipelines "
        "(default: params.yaml cluster.pipeline_root; one of them is required); with --from-run also "
        "the earlier run's root when that run records none",
    )
    s.add_argument(
        "--no-cache",
        dest="enable_caching",
        action="store_false",
        default=None,
        help="re-run every task, in every loop body and sub-pipeline (default: as compiled: cached, "
        "but evaluate and select, which always run)",
    )
    _connection_args(s)
    s.set_defaults(func=_submit)


def _add_run_local(ksub: argparse._SubParsersAction) -> None:
    """`kfp run-local`: a stage on this machine with kfp.local."""
    r = ksub.add_parser(
        "run-local",
        help="run a stage here with kfp.local (no cluster)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=STAGE_INPUTS_HELP + RUNNER_HELP,
        description="Run stage N's pipeline on this machine with kfp.local: each task as a "
        "subprocess of this venv, as many at once as there are CPU cores (one "
        "thread each), or (--runner docker) in a container of the component image. "
        "GPU and pod settings are ignored. Prints one line per finished task (for a "
        "failed one, the error it ended with) and where the outputs are; -v shows "
        "kfp.local's full logs.",
    )
    _stage_args(r, default_profile="local")
    r.add_argument(
        "--runner",
        choices=("subprocess", "docker"),
        default="subprocess",
        help="where tasks run (default: %(default)s); docker: --image defaults to iacsieve:<version>",
    )
    _input_args(r, data_default=layout.RAW_DIR)
    r.add_argument(
        "--pipeline-root", default="kfp-local", help="where task outputs go (default: %(default)s)"
    )
    r.add_argument(
        "--cache", action="store_true", help="reuse outputs of identical tasks from earlier local runs"
    )
    r.add_argument(
        "--champion-out",
        help="also copy the run's champion (stages 3-4) into this folder, e.g. a "
        "scratch dir (to version it: `iacsieve kfp pull-champion PATH`)",
    )
    r.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="kfp.local's full output: executor inputs and every task's log (same as `iacsieve -v`)",
    )
    r.set_defaults(func=_run_local)


def _add_check(ksub: argparse._SubParsersAction) -> None:
    """`kfp check`: compiled specs against a real KFP backend's rules."""
    ck = ksub.add_parser(
        "check",
        help="check compiled pipeline specs against what a real KFP backend runs",
        description="Check compiled pipeline specs (IR YAML) against the KFP backend's rules "
        "(docs/kfp-backend-rules.md): importer URI sources, schemes and conditions, dsl.Collected and "
        "caching, retry fields and deadlines, GPU loops against the budget (in GPUs), resource "
        "requests and quantities, the image reference and its registry, parameter types, the schema "
        "version and pipeline name, and the platform document (node selectors, emptyDir sizes, PVC "
        "names). One line per violation, naming the task and input; exit 2 when there is any. "
        "`kfp compile` and `kfp submit` run the same check with --cluster.",
    )
    ck.add_argument("specs", nargs="+", metavar="SPEC.yaml", help="compiled pipeline specs")
    ck.add_argument(
        "--gpu-budget",
        type=int,
        default=None,
        help="GPUs the pipeline may hold at once, counted in GPUs (a loop's parallelism limit times "
        "its tasks' GPUs per pod; default: the largest loop's)",
    )
    ck.add_argument(
        "--train-time-budget",
        default=None,
        metavar="DURATION",
        help="the longest one attempt of a retried task may take, e.g. 4h: a retry deadline below "
        "(retries + 1) x this is refused (default: params.yaml's cluster.retry default)",
    )
    ck.add_argument(
        "--cluster",
        action="store_true",
        help="check as a spec about to run on a cluster (what compile and submit do): the checked-in "
        "specs' placeholder image is refused too",
    )
    ck.set_defaults(func=_check)


def _add_specs(ksub: argparse._SubParsersAction) -> None:
    """`kfp specs`: the checked-in component and pipeline specs."""
    sp = ksub.add_parser(
        "specs",
        help="regenerate components/*/component.yaml and pipelines/*.yaml",
        description="Compile every step component and every pipeline (stages 1-4 and all "
        "four, cluster profile) into the repo's components/ and pipelines/ "
        "(what `make kfp-specs` runs; a test fails when they are stale).",
    )
    sp.add_argument("--root", default=".", help="repository root (default: %(default)s)")
    sp.add_argument("--params", default=layout.PARAMS_FILE, help="params file (default: %(default)s)")
    sp.set_defaults(func=_specs)


def _add_pull_champion(ksub: argparse._SubParsersAction) -> None:
    """`kfp pull-champion`: a run's champion into its own DVC-tracked folder."""
    p = ksub.add_parser(
        "pull-champion",
        help="bring a run's champion home: models/cluster-champion, dvc add-ed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fetch a finished run's champion (the freeze task's `champion` output artifact) "
        "into its own DVC-tracked folder (checked, swapped in atomically, `dvc add`-ed; "
        "never freeze4's models/champion), and write its metrics JSON (the shape of "
        "reports/metrics.json) for git and `dvc metrics diff`.",
        epilog="SOURCE: the artifact's URI from the KFP UI (run -> freeze -> Output artifacts -> "
        "champion), e.g.\n  minio://mlpipeline/v2/artifacts/iacsieve-stage4/<run-id>/freeze/"
        "<id>/champion\n  gs://BUCKET/..., s3://BUCKET/..., or a local path (run-local output); "
        "or --from-run RUN_ID.\nRemote URIs need the fsspec backend (`pip install .[cluster]`: "
        "s3fs for s3:// and minio://, gcsfs for gs://)\nand its usual credentials (AWS_* / "
        "GOOGLE_APPLICATION_CREDENTIALS). For the in-cluster MinIO:\n  kubectl port-forward -n "
        "kubeflow svc/minio-service 9000:9000\nThen: git add dvc.yaml models/cluster-champion.dvc "
        "models/.gitignore reports/cluster-champion && git commit && dvc push models/cluster-champion.dvc\n\n"
        + AUTH_HELP,
    )
    p.add_argument(
        "source", metavar="SOURCE", nargs="?", help="URI or path of the freeze task's `champion` artifact"
    )
    p.add_argument(
        "--from-run",
        metavar="RUN_ID",
        help="take the champion (and selection) of this run, found where KFP writes task outputs",
    )
    p.add_argument(
        "--pipeline-name",
        help="with --from-run: the earlier run's pipeline name (iacsieve-stage<N>), for a run started "
        "from an uploaded pipeline version (the API then returns no pipeline spec to read it from)",
    )
    p.add_argument("--selection-uri", help="also keep the run's `selection` (stage-4 seeds) for report/plots")
    p.add_argument(
        "--out",
        default=str(Path(layout.CLUSTER_CHAMPION_DIR)),
        help="destination folder (default: %(default)s)",
    )
    p.add_argument(
        "--reports",
        default=str(Path(layout.CLUSTER_REPORTS_DIR)),
        help="where metrics.json (+ selection.json) go, git-tracked (default: %(default)s)",
    )
    p.add_argument(
        "--no-dvc-add", dest="track", action="store_false", help="copy only; do not `dvc add` the folder"
    )
    p.add_argument(
        "--pipeline-root",
        help="with --from-run: the run's pipeline root (default: the one the run records; a run "
        "submitted without one records none: then this is required)",
    )
    env_option(
        p,
        "--endpoint-url",
        var="AWS_ENDPOINT_URL",
        help="S3 endpoint for s3:// / minio:// (default: $AWS_ENDPOINT_URL; minio:// else http://localhost:9000)",
    )
    _connection_args(p)
    p.set_defaults(func=_pull)


def _add_push_data(ksub: argparse._SubParsersAction) -> None:
    """`kfp push-data`: data/raw to a bucket under its DVC md5."""
    d = ksub.add_parser(
        "push-data",
        help="upload data/raw under its DVC md5, for the cluster to read",
        description="Upload the raw data folder to <ROOT>/<md5>/ (md5: data.dvc's, checked against "
        "the folder first; nothing re-sent when a complete copy is there) and print "
        "that URI: the --data-uri every run then reads, so the data's identity "
        "travels with it.",
    )
    d.add_argument(
        "--to", required=True, metavar="ROOT", help="bucket prefix, e.g. s3://BUCKET/iacsieve/data"
    )
    d.add_argument("--raw", default=layout.RAW_DIR, help="the data folder (default: %(default)s)")
    d.add_argument(
        "--dvc-file", default="data.dvc", help="the .dvc file naming its md5 (default: %(default)s)"
    )
    env_option(
        d,
        "--endpoint-url",
        var="AWS_ENDPOINT_URL",
        help="S3 endpoint (MinIO etc.; default: $AWS_ENDPOINT_URL)",
    )
    d.set_defaults(func=_push_data)


def _connection_args(p: argparse.ArgumentParser) -> None:
    env_option(
        p,
        "--host",
        var="KF_PIPELINES_ENDPOINT",
        help="KFP API endpoint, e.g. https://kubeflow.example.org/pipeline (default: "
        "$KF_PIPELINES_ENDPOINT; without either: the in-cluster ml-pipeline service inside a pod, "
        "else the current context of ~/.kube/config or $KUBECONFIG, else an error)",
    )
    p.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    env_option(p, "--token", var="KFP_TOKEN", help="bearer token (default: $KFP_TOKEN)")
    p.add_argument(
        "--sa-token-path", help="service-account token file (default: $KF_PIPELINES_SA_TOKEN_PATH)"
    )
    p.add_argument("--cookies", help="session cookie string, e.g. 'authservice_session=...'")


def _client(args: argparse.Namespace) -> Any:
    from iacsieve.kfp import make_client

    return make_client(
        args.host,
        namespace=args.namespace,
        token=args.token,
        cookies=args.cookies,
        sa_token_path=args.sa_token_path,
    )


def _stage_arg(text: str) -> int | str:
    return text if text == "all" else int(text) if text.isdigit() else text


def _stage_args(p: argparse.ArgumentParser, *, default_profile: str) -> None:
    p.add_argument(
        "--stage",
        required=True,
        type=_stage_arg,
        choices=(1, 2, 3, 4, "all"),
        help="which stage's pipeline, or `all`: the four stages chained in one pipeline",
    )
    p.add_argument(
        "--profile",
        default=default_profile,
        help="params.yaml grids: `local` (the top-level ones dvc repro runs) or a name under "
        "`profiles:` (default: %(default)s)",
    )
    p.add_argument("--params", default=layout.PARAMS_FILE, help="params file (default: %(default)s)")
    p.add_argument(
        "--image",
        help="component image, with its registry host: host[:port]/path:tag or a digest (default: "
        "params.yaml cluster.image, which starts unset: compile and submit need one of them; "
        "run-local --runner docker: iacsieve:<version>, the local build)",
    )


def _input_args(p: argparse.ArgumentParser, *, data_default: str | None) -> None:
    p.add_argument(
        "--data-uri",
        default=data_default,
        required=data_default is None,
        help="the raw data folder (<tech>/<tech>_<split>.jsonl): a bucket URI on a cluster"
        + (f" (default: {data_default})" if data_default else ""),
    )
    p.add_argument("--selection-uri", help="stage 3: stage 2's select task `selection` artifact")
    p.add_argument("--champion-uri", help="stage 4: stage 3's freeze task `card` (or `champion`) artifact")
    p.add_argument(
        "--human-uri",
        help="your reviewers' labels store (data/human, pushed where pods read it): "
        "applied before training as params.yaml's `human:` says, as `dvc repro` does",
    )
    p.add_argument(
        "--data-md5",
        default=None,
        help="the data's DVC md5: the prepare task refuses data that differs (default for submit: "
        "data.dvc's, when it exists; '' = no check)",
    )


def _inputs(args: argparse.Namespace, *, local: bool) -> StageInputs:
    from iacsieve.kfp import StageInputs

    def norm(value: str | None) -> str | None:  # kfp.local reads local paths; make them absolute
        return str(Path(value).resolve()) if local and value and "://" not in value else value

    md5 = args.data_md5
    if md5 is None and not local and Path("data.dvc").is_file():  # what `kfp push-data` uploaded
        from iacsieve.data.identity import data_md5_from_dvc_file

        md5 = data_md5_from_dvc_file("data.dvc")
    return StageInputs(
        norm(args.data_uri),
        norm(args.selection_uri),
        norm(args.champion_uri),
        data_md5=md5 or None,
        human_uri=norm(args.human_uri),
    )


def _compile(args: argparse.Namespace) -> int:
    from iacsieve.io.output_policy import check_file_output
    from iacsieve.kfp import compile_stage

    out = args.output or f"iacsieve-stage{args.stage}-{args.profile}.yaml"
    target = check_file_output(out, flag="--output", inputs={"--params": args.params}, stream_ok=True)
    if target is None:  # `-o -`: the spec on stdout
        import tempfile

        with tempfile.TemporaryDirectory(prefix="iacsieve-compile-") as tmp, _violations_per_line():
            spec = Path(tmp) / "pipeline.yaml"
            compile_stage(args.stage, spec, args.params, args.profile, image=args.image, cluster=args.cluster)
            sys.stdout.write(spec.read_text(encoding="utf-8"))
        return 0
    with _violations_per_line():
        compile_stage(args.stage, target, args.params, args.profile, image=args.image, cluster=args.cluster)
    print(f"wrote {out}")
    return 0


@contextlib.contextmanager
def _violations_per_line() -> Iterator[None]:
    """A spec the backend rules refuse: one stderr line per violation, then the usual error line (exit 2)."""
    from iacsieve.core.errors import IacsieveError
    from iacsieve.kfp.check import RULES_DOC, SpecViolations

    try:
        yield
    except SpecViolations as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        raise IacsieveError(
            f"refused: {len(exc.lines)} violation(s) of the KFP backend's rules ({RULES_DOC}) above"
        ) from None


def _submit(args: argparse.Namespace) -> int:
    from iacsieve.kfp.from_run import stage_inputs_from_run
    from iacsieve.kfp.run import check_cluster_image, submit_pipeline_root

    inputs = _inputs(args, local=False)
    if not args.from_run:
        inputs.arguments(args.stage)  # a missing stage input fails before any request
    check_cluster_image(args.params, args.profile, args.image)  # so does a placeholder image
    submit_pipeline_root(args.params, args.profile, args.pipeline_root)  # and a missing pipeline root
    if not args.verbose:  # urllib3 logs each retry of an unreachable host (the error says it once); a
        # filter, because kfp_server_api resets urllib3's log level when it builds its configuration
        logging.getLogger("urllib3.connectionpool").addFilter(_errors_only)
    client = _client(args)
    if args.from_run:
        inputs = dataclasses.replace(
            inputs,
            **stage_inputs_from_run(
                client,
                args.from_run,
                args.stage,
                pipeline_root=args.pipeline_root,
                pipeline_name=args.pipeline_name,
                endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            ),
        )
    with _violations_per_line():
        run_id = _submit_checked(args, inputs, client)
    where = f" ({args.host.rstrip('/')}/#/runs/details/{run_id})" if args.host else ""
    print(f"submitted stage {args.stage}: run {run_id}{where}")
    return 0


def _submit_checked(args: argparse.Namespace, inputs: StageInputs, client: Any) -> str:
    from iacsieve.kfp import submit_stage

    return submit_stage(
        args.stage,
        inputs,
        host=args.host,
        params_path=args.params,
        profile=args.profile,
        image=args.image,
        experiment=args.experiment,
        namespace=args.namespace,
        run_name=args.run_name,
        pipeline_root=args.pipeline_root,
        enable_caching=args.enable_caching,
        client=client,
    )


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def _run_local(args: argparse.Namespace) -> int:
    from iacsieve.io.output_policy import check_folder_output
    from iacsieve.kfp import pull_champion, run_local

    if args.champion_out:  # checked before the run, not after it
        check_folder_output(args.champion_out, flag="--champion-out", model=True)
    started = time.monotonic()
    outputs = run_local(
        args.stage,
        _inputs(args, local=True),
        params_path=args.params,
        profile=args.profile,
        pipeline_root=args.pipeline_root,
        enable_caching=args.cache,
        verbose=args.verbose,
        runner=args.runner,
        image=args.image,
    )
    print(
        f"stage {args.stage} finished in {time.monotonic() - started:.0f}s; outputs (next stage's --*-uri):"
    )
    for name, path in outputs.items():
        print(f"  {name}: {path}")
    if args.champion_out and "champion" in outputs:
        champion = pull_champion(outputs["champion"], args.champion_out)
        print(f"champion {champion['run']} (threshold {champion['threshold']:.2f}) -> {args.champion_out}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from iacsieve.core.errors import IacsieveError
    from iacsieve.kfp.check import check_files
    from iacsieve.method.cluster import duration_seconds

    if args.gpu_budget is not None and args.gpu_budget < 1:
        raise IacsieveError(f"--gpu-budget: must be a whole number >= 1, got {args.gpu_budget}")
    try:
        duration_seconds(args.train_time_budget or "0s")
    except ValueError:
        raise IacsieveError(
            f"--train-time-budget: {args.train_time_budget!r} is not a duration (e.g. 4h, 90m)"
        ) from None
    lines = check_files(
        args.specs, args.gpu_budget, train_time_budget=args.train_time_budget, cluster=args.cluster
    )
    for line in lines:
        print(line, file=sys.stderr)
    if lines:
        return 2
    print(f"{len(args.specs)} spec(s): no violations")
    return 0


def _specs(args: argparse.Namespace) -> int:
    from iacsieve.io.output_policy import check_file_output
    from iacsieve.kfp.specs import spec_paths, write_specs

    for path in spec_paths(args.root):
        check_file_output(path, flag="--root", inputs={"--params": args.params})
    written = write_specs(args.root, args.params)
    print(f"wrote {len(written)} specs under {args.root}/components and {args.root}/pipelines")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from iacsieve.core.errors import IacsieveError
    from iacsieve.kfp.from_run import PRODUCERS, resolve_run_outputs
    from iacsieve.kfp.pull import home_champion

    source, selection, origin = args.source, args.selection_uri, {}
    if args.from_run:
        found = resolve_run_outputs(
            _client(args),
            args.from_run,
            {k: PRODUCERS[k] for k in ("selection", "champion")},
            pipeline_root=args.pipeline_root,
            pipeline_name=args.pipeline_name,
            endpoint_url=args.endpoint_url,
        )
        if "champion" not in found:
            raise IacsieveError(f"run {args.from_run}: no champion (only stages 3-4 freeze one)")
        source, selection, origin = (
            source or found["champion"],
            selection or found.get("selection"),
            {"run_id": args.from_run},
        )
    if not source:
        raise IacsieveError(
            "pull-champion needs SOURCE (the champion artifact's URI or path) or --from-run RUN_ID"
        )
    written = home_champion(
        source,
        args.out,
        reports=args.reports,
        selection_source=selection,
        endpoint_url=args.endpoint_url,
        origin=origin,
        track=args.track,
    )
    champion = json.loads((Path(args.out) / layout.CHAMPION_FILE).read_text(encoding="utf-8"))
    print(
        f"champion {champion['run']} (threshold {champion['threshold']:.2f}, val F1 {champion['val_f1']:.4f}) -> {args.out}"
    )
    if "dvc_file" not in written:
        print(f"{args.out}: copied, not DVC-tracked" + (" (outside this DVC project)" if not written else ""))
        return 0
    print(
        "version it: git add "
        + " ".join(sorted({str(p) for p in written.values()} | {str(Path(args.out).parent / ".gitignore")}))
        + f" && git commit -m 'cluster champion' && dvc push {written['dvc_file']}"
    )
    return 0


def _push_data(args: argparse.Namespace) -> int:
    from iacsieve.data.identity import data_md5_from_dvc_file, push_data
    from iacsieve.kfp.store_errors import store_errors

    expected = data_md5_from_dvc_file(args.dvc_file)
    with store_errors(args.to, args.endpoint_url):
        uri = push_data(args.raw, args.to, expected_md5=expected, endpoint_url=args.endpoint_url)
    print(uri)
    return 0
