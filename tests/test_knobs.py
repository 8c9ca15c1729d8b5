"""One channel per knob: every budget field set through run() reaches the stage that uses it (its stage.json)."""
import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
from pathlib import Path

import pytest

from wellread import cache, data, recipes
from wellread.budget import ALIASES, get_budget, override_names

# A valid value for every field, other than the smoke budget's, cheap enough for seconds of training.
PD_RUN = {
    "precision": "fp32", "finetune_after": True,
    "task__train_examples": 256, "task__eval_examples": 128, "task__max_len": 32,
    "pretrain__steps": 6, "pretrain__schedule_steps": 12, "pretrain__batch_size": 4, "pretrain__block_size": 32,
    "pretrain__gradient_accumulation_steps": 2,
    "pretrain__lr": 2e-3, "pretrain__warmup_frac": 0.2, "pretrain__weight_decay": 0.02, "pretrain__mask_prob": 0.2,
    "pretrain__corpus": "movie", "pretrain__vocab_size": 1000, "pretrain__eval_blocks": 8, "pretrain__eval_every": 3,
    "pretrain__seed": 1,
    "teacher__epochs": 0.5, "teacher__lr": 1e-4, "teacher__batch_size": 16, "teacher__gradient_accumulation_steps": 2,
    "teacher__warmup_frac": 0.2,
    "teacher__weight_decay": 0.02, "teacher__seed": 1, "teacher__length_buckets": False, "teacher__layers": 3,
    "logits__transfer": "glosses", "logits__transfer_examples": 64, "logits__include_train": False, "logits__seed": 1,
    "distill__epochs": 0.5, "distill__lr": 1e-4, "distill__batch_size": 16, "distill__gradient_accumulation_steps": 2,
    "distill__warmup_frac": 0.2,
    "distill__weight_decay": 0.02, "distill__length_buckets": False, "distill__temperature": 2.0, "distill__alpha": 0.5,
    "finetune__epochs": 0.5, "finetune__lr": 1e-4, "finetune__batch_size": 16, "finetune__gradient_accumulation_steps": 2,
    "finetune__warmup_frac": 0.2,
    "finetune__weight_decay": 0.02, "finetune__length_buckets": False, "finetune__layers": 1,
}
TRUNCATED_RUN = {"truncated__epochs": 0.5, "truncated__lr": 2e-4, "truncated__batch_size": 16,
                 "truncated__gradient_accumulation_steps": 2,
                 "truncated__warmup_frac": 0.2, "truncated__weight_decay": 0.02, "truncated__length_buckets": False,
                 "truncated__layers": 1, "task__train_examples": 256, "task__eval_examples": 128}
PKD_RUN = {"pkd__epochs": 0.5, "pkd__lr": 2e-4, "pkd__batch_size": 16, "pkd__gradient_accumulation_steps": 2,
           "pkd__warmup_frac": 0.2, "pkd__weight_decay": 0.02, "pkd__length_buckets": False, "pkd__temperature": 2.0,
           "pkd__alpha": 0.5, "pkd__beta": 10.0}
NOT_RUN = {"pretrain__source": "'hub' needs the internet (tested offline in test_pretrained.py)",
           "pretrain__compile": "torch.compile's warm-up takes 15-36 s on two cores",
           "teacher__init": "another teacher is another download; set below to the embedded one's folder"}


def stage_config(folder) -> dict:
    return cache.read_json(folder / "stage.json")["config"]


def test_every_field_is_set_here_or_said_why():
    fields = set(override_names()) - set(recipes.RECIPE_FIELDS)
    assert fields == set(PD_RUN) | set(TRUNCATED_RUN) | set(PKD_RUN) | set(NOT_RUN)


def test_recipe_fields_and_aliases_are_refused_or_resolved_once():
    with pytest.raises(ValueError, match="finetune__seed is set from run\\(\\)'s seed"):
        recipes.run("basic", "tiny", "smoke", finetune__seed=3)
    with pytest.raises(ValueError, match="'temperature' is short for 'distill__temperature'"):
        get_budget("smoke", temperature=2, distill__temperature=3)
    with pytest.raises(ValueError, match="task__name"):
        get_budget("smoke", task__name="glue/sst2")
    for alias, name in ALIASES.items():
        stage, field = name.split("__")
        value = {"temperature": 2.0, "alpha": 0.5, "transfer": "glosses", "transfer_examples": 7,
                 "include_train": False, "corpus": "mixed", "vocab_size": 2000, "layers": 3,
                 "teacher_model": "some/model"}[alias]
        assert getattr(getattr(get_budget("smoke", **{alias: value}), stage), field) == value


def test_every_field_set_through_run_reaches_its_stage():
    teacher_dir = str(data.teacher_dir())
    result = recipes.run("pd", "tiny", "smoke", quiet=True, teacher__init=teacher_dir, **PD_RUN)
    pretraining, distilled, tuned = (Path(p) for p in result.config["stages"])
    folders = {"pretrain": pretraining, "distill": distilled, "finetune": tuned,
               "teacher": recipes.teacher("smoke", teacher__init=teacher_dir, **PD_RUN),
               "logits": recipes.transfer_set("smoke", teacher__init=teacher_dir, **PD_RUN)}
    for name, value in PD_RUN.items():
        stage, _, field = name.partition("__")
        if stage == "task":
            for other in ("teacher", "logits", "distill", "finetune"):
                assert stage_config(folders[other])["task"][field] == value, (name, other)
        elif stage in folders:
            assert stage_config(folders[stage])[field] == value, name
    assert stage_config(folders["teacher"])["init"] == teacher_dir
    assert all(stage_config(f)["precision"] == "fp32" for f in folders.values())
    assert stage_config(tuned)["init"] == str(distilled)  # finetune_after: fine-tuned from the distilled student
    assert result.latency_ms > 0 and result.size == "L1/H128" and result.precision == "fp32"

    truncated = recipes.run("truncated", "tiny", "smoke", quiet=True, **TRUNCATED_RUN)
    for name, value in TRUNCATED_RUN.items():
        stage, _, field = name.partition("__")
        config = stage_config(Path(truncated.config["stages"][-1]))
        assert (config["task"][field] if stage == "task" else config[field]) == value, name
    assert truncated.size == "L1/H384"

    # PD's small teacher and its soft labels again: only PKD's own stages are built (~11 s less than the smoke teacher)
    upstream = {k: v for k, v in PD_RUN.items() if k.startswith(("task__", "teacher__", "logits__"))}
    patient = recipes.run("pkd", "tiny", "smoke", quiet=True, teacher__init=teacher_dir, **upstream, **PKD_RUN)
    config = stage_config(Path(patient.config["stages"][-1]))
    for name, value in PKD_RUN.items():
        assert config[name.partition("__")[2]] == value, name
    assert patient.size == "L2/H384" and patient.pretrained == "teacher"  # the teacher's bottom layers, its width
