"""Human labels as versioned data, and what the pipeline does with them.

A security team's reviewers label warnings (`iacsieve review` -> a filled sheet -> `iacsieve labels
add`); the labels live in `data/human/labels.jsonl`, one record per warning and reviewer, tracked by
DVC (`data/human.dvc`). This module is the one place that knows that store:

- the warning key (`warning_key`: script name, line, canonical smell) that ties a human label to the
  same warning in the LLM-labelled splits, in a review sheet and in a detector's output;
- reading / writing / merging the store (a relabel by another reviewer is kept: a disagreement);
- resolving several reviewers into one label per warning (majority; a tie is left out as disputed);
- the guard that no warning of the test split (the human oracle) ever enters the store or training;
- the pipeline side (`HumanSettings`, `apply_human_labels`, `human_validation_split`,
  `build_training_data`): override LLM train labels, form a human validation split. With no human
  labels every function returns its input unchanged, so the pipeline behaves exactly as without them.
"""

from iacsieve.data.human_store import (
    HUMAN_DIR,
    LABELS_FILE,
    HumanLabel,
    MergeResult,
    check_date,
    check_reviewer,
    load_human_labels,
    merge_labels,
    parse_label_row,
    refuse_test_rows,
    resolve_labels,
    save_human_labels,
    store_lock,
)
from iacsieve.data.human_training import (
    REPORT_FILE,
    TRAIN_MODES,
    VALIDATION_MODES,
    HumanSettings,
    apply_human_labels,
    assign_split,
    build_training_data,
    held_out_for_validation,
    human_validation_split,
)
from iacsieve.data.warning_keys import (
    key_id,
    record_key,
    script_name,
    split_keys,
    test_split_keys,
    warning_key,
)

__all__ = [
    "HUMAN_DIR",
    "LABELS_FILE",
    "REPORT_FILE",
    "TRAIN_MODES",
    "VALIDATION_MODES",
    "HumanLabel",
    "HumanSettings",
    "MergeResult",
    "apply_human_labels",
    "assign_split",
    "build_training_data",
    "check_date",
    "check_reviewer",
    "held_out_for_validation",
    "human_validation_split",
    "key_id",
    "load_human_labels",
    "merge_labels",
    "parse_label_row",
    "record_key",
    "refuse_test_rows",
    "resolve_labels",
    "save_human_labels",
    "store_lock",
    "script_name",
    "split_keys",
    "test_split_keys",
    "warning_key",
]
