"""One KFP pipeline per stage (built from params.yaml), plus compile / submit / run-local / pull.

- `build_pipeline(stage, params_path, profile)`: the stage's pipeline (stages.py)
- `compile_stage`, `submit_stage`, `run_local`: what `iacsieve kfp ...` calls (run.py)
- `pull_champion(source, dest)`: a run's champion into models/champion/ (pull.py)
"""

from iacsieve.kfp.pull import pull_champion
from iacsieve.kfp.run import StageInputs, compile_stage, make_client, run_local, submit_stage
from iacsieve.kfp.settings import STAGES, StageSettings, stage_settings
from iacsieve.kfp.graph import build_pipeline, pipeline_name

__all__ = ["STAGES", "StageInputs", "StageSettings", "build_pipeline", "compile_stage", "make_client",
           "pipeline_name", "pull_champion", "run_local", "stage_settings", "submit_stage"]
