"""`iacsieve kfp compile|submit|run-local|pull-champion`: the stages as Kubeflow Pipelines."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

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
                                 $KF_PIPELINES_ENDPOINT: in-cluster config, else ~/.kube/config
"""

STAGE_INPUTS_HELP = """\
stage inputs (URIs of earlier runs' artifacts: KFP UI -> run -> task -> Output artifacts; or the
paths `run-local` prints):
  stage 1: --data-uri            stages 2-3: + --selection-uri (previous stage's select `selection`)
  stage 4: + --champion-uri (stage 3's freeze `champion`: its config is re-seeded, its frozen
           threshold applied)
"""


def register(sub: argparse._SubParsersAction) -> None:
    kfp = sub.add_parser("kfp", help="compile / submit / run-local the stages as Kubeflow Pipelines",
                         description="The four training stages as Kubeflow Pipelines v2: one pipeline per "
                                     "stage, built from params.yaml (a profile's grids), one train task per "
                                     "grid point in parallel.")
    ksub = kfp.add_subparsers(dest="kfp_command", metavar="<subcommand>", required=True)
    fmt = argparse.RawDescriptionHelpFormatter

    c = ksub.add_parser("compile", help="write a stage's pipeline YAML", formatter_class=fmt,
                        description="Compile stage N's pipeline (IR YAML) for upload in the KFP UI or `kfp`.")
    _stage_args(c, default_profile="cluster")
    c.add_argument("-o", "--output", help="output file (default: iacsieve-stage<N>-<profile>.yaml)")
    c.add_argument("--no-cluster-resources", dest="cluster", action="store_false", default=None,
                   help="leave out GPU/CPU/memory, node selector, tolerations and /dev/shm on train tasks "
                        "(default: added for every profile but `local`)")
    c.set_defaults(func=_compile)

    s = ksub.add_parser("submit", help="submit a stage's run to a KFP cluster", formatter_class=fmt,
                        description="Compile stage N and create a run on a Kubeflow Pipelines (v2) server.",
                        epilog=STAGE_INPUTS_HELP + "\n" + AUTH_HELP)
    _stage_args(s, default_profile="cluster")
    _input_args(s, data_default=None)
    s.add_argument("--host", default=os.environ.get("KF_PIPELINES_ENDPOINT"),
                   help="KFP API endpoint, e.g. https://kubeflow.example.org/pipeline (default: $KF_PIPELINES_ENDPOINT)")
    s.add_argument("--experiment", default="iacsieve", help="experiment name (created if missing; default: %(default)s)")
    s.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    s.add_argument("--run-name", help="run name (default: pipeline name + time)")
    s.add_argument("--pipeline-root", help="where artifacts go (default: the server's, e.g. minio://mlpipeline/v2/artifacts)")
    s.add_argument("--no-cache", dest="enable_caching", action="store_false", default=None,
                   help="re-run every task (default: caching on, as compiled)")
    s.add_argument("--token", default=os.environ.get("KFP_TOKEN"), help="bearer token (default: $KFP_TOKEN)")
    s.add_argument("--sa-token-path", help="service-account token file (default: $KF_PIPELINES_SA_TOKEN_PATH)")
    s.add_argument("--cookies", help="session cookie string, e.g. 'authservice_session=...'")
    s.set_defaults(func=_submit)

    r = ksub.add_parser("run-local", help="run a stage here with kfp.local (no cluster, no Docker)",
                        formatter_class=fmt, epilog=STAGE_INPUTS_HELP,
                        description="Run stage N's pipeline on this machine: kfp.local's SubprocessRunner runs "
                                    "each task as a subprocess of this venv. GPU and pod settings are ignored.")
    _stage_args(r, default_profile="local")
    _input_args(r, data_default="data/raw")
    r.add_argument("--pipeline-root", default="kfp-local", help="where task outputs go (default: %(default)s)")
    r.add_argument("--cache", action="store_true", help="reuse outputs of identical tasks from earlier local runs")
    r.add_argument("--champion-out", help="also copy the run's champion (stages 3-4) into this folder, "
                                          "e.g. models/champion")
    r.set_defaults(func=_run_local)

    p = ksub.add_parser("pull-champion", help="copy a run's champion into models/champion/", formatter_class=fmt,
                        description="Fetch a finished run's champion (the freeze task's `champion` output "
                                    "artifact) into a folder, checked and swapped in atomically; then "
                                    "`dvc commit` versions it.",
                        epilog="SOURCE: the artifact's URI from the KFP UI (run -> freeze -> Output artifacts -> "
                               "champion), e.g.\n  minio://mlpipeline/v2/artifacts/iacsieve-stage3/<run-id>/freeze/"
                               "<id>/champion\n  gs://BUCKET/..., s3://BUCKET/..., or a local path (run-local output).\n"
                               "Remote URIs need the fsspec backend (s3fs for s3:// and minio://, gcsfs for gs://)\n"
                               "and its usual credentials (AWS_* / GOOGLE_APPLICATION_CREDENTIALS). For the\n"
                               "in-cluster MinIO: kubectl port-forward -n kubeflow svc/minio-service 9000:9000.\n"
                               "A stage-4 champion is THE champion (models/champion, as `dvc repro` writes it); "
                               "a stage-3 one\nbelongs in models/champions/stage3 (--out).")
    p.add_argument("source", metavar="SOURCE", help="URI or path of the freeze task's `champion` artifact")
    p.add_argument("--out", default="models/champion", help="destination folder (default: %(default)s)")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                   help="S3 endpoint for s3:// / minio:// (default: $AWS_ENDPOINT_URL; minio:// else http://localhost:9000)")
    p.set_defaults(func=_pull)


def _stage_args(p: argparse.ArgumentParser, *, default_profile: str) -> None:
    p.add_argument("--stage", type=int, required=True, choices=(1, 2, 3, 4), help="which stage's pipeline")
    p.add_argument("--profile", default=default_profile,
                   help="params.yaml profile whose grids to use (default: %(default)s; '' = the active top-level grids)")
    p.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    p.add_argument("--image", help="component image (default: params.yaml cluster.image)")


def _input_args(p: argparse.ArgumentParser, *, data_default: str | None) -> None:
    p.add_argument("--data-uri", default=data_default, required=data_default is None,
                   help="the raw data folder (<tech>/<tech>_<split>.jsonl): a bucket URI on a cluster"
                        + (f" (default: {data_default})" if data_default else ""))
    p.add_argument("--selection-uri", help="stages 2-3: the previous stage's `selection` artifact")
    p.add_argument("--champion-uri", help="stage 4: stage 3's `champion` artifact")


def _inputs(args: argparse.Namespace, *, local: bool):
    from ..pipelines import StageInputs

    def norm(value: str | None) -> str | None:  # kfp.local reads local paths; make them absolute
        return str(Path(value).resolve()) if local and value and "://" not in value else value

    return StageInputs(norm(args.data_uri), norm(args.selection_uri), norm(args.champion_uri))


def _compile(args: argparse.Namespace) -> int:
    from ..pipelines import compile_stage

    out = args.output or f"iacsieve-stage{args.stage}-{args.profile or 'active'}.yaml"
    compile_stage(args.stage, out, args.params, args.profile or None, image=args.image, cluster=args.cluster)
    print(f"wrote {out}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from ..errors import IacsieveError
    from ..pipelines import submit_stage

    if not args.host:
        raise IacsieveError("submit needs --host URL (or $KF_PIPELINES_ENDPOINT)")
    run_id = submit_stage(args.stage, _inputs(args, local=False), host=args.host, params_path=args.params,
                          profile=args.profile or None, image=args.image, experiment=args.experiment,
                          namespace=args.namespace, run_name=args.run_name, pipeline_root=args.pipeline_root,
                          enable_caching=args.enable_caching, token=args.token, cookies=args.cookies,
                          sa_token_path=args.sa_token_path)
    print(f"submitted stage {args.stage}: run {run_id} ({args.host.rstrip('/')}/#/runs/details/{run_id})")
    return 0


def _run_local(args: argparse.Namespace) -> int:
    from ..pipelines import pull_champion, run_local

    outputs = run_local(args.stage, _inputs(args, local=True), params_path=args.params, profile=args.profile or None,
                        pipeline_root=args.pipeline_root, enable_caching=args.cache)
    print(json.dumps(outputs, indent=2))
    if args.champion_out and "champion" in outputs:
        champion = pull_champion(outputs["champion"], args.champion_out)
        print(f"champion {champion['run']} (threshold {champion['threshold']:.2f}) -> {args.champion_out}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from ..overlap import refuse_overlap
    from ..pipelines import pull_champion

    if "://" not in args.source:  # a local path: the destination may not be, hold or lie inside it
        refuse_overlap(args.out, {"SOURCE": args.source})
    champion = pull_champion(args.source, args.out, endpoint_url=args.endpoint_url)
    print(f"champion {champion['run']} (threshold {champion['threshold']:.2f}, val F1 {champion['val_f1']:.4f}) "
          f"-> {args.out}; version it with `dvc commit`")
    return 0
