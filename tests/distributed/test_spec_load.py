"""Search-space files (distributed/spec/load.py): loaded, overridden and validated with errors naming file and
key; a spec for your own files: no dataset (or custom), files and columns; the metric any of five."""

import pytest
import yaml

from bertclf.errors import UserError
from bert_hpo_distributed.spec.bind import fix_options, sized_threads
from bert_hpo_distributed.spec.load import SPACES_DIR, load_spec
from bert_hpo_distributed.spec.model import Distribution, expand

MINIMAL = {"name": "t", "dataset": "imdb", "fixed": {"n_epochs": 2},
           "space": {"lr": {"loguniform": ["1e-4", 1e-2]}, "max_length": {"choice": [64, 128]}}}


def write(tmp_path, spec):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.mark.parametrize("name", sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
def test_shipped_spaces_load_in_every_profile(name):
    for profile in ([], ["cpu"], ["smoke"], ["cpu", "smoke"]):
        spec = load_spec(name, profile=profile)
        assert spec.space and spec.num_samples >= 1
        assert spec.trial_config(spec.default_point()).task == spec.task


def test_a_multilabel_spec_states_its_task_once_and_its_metric_its_direction(tmp_path):
    genres = load_spec("genres")
    assert (genres.task, genres.metric, genres.mode) == ("multilabel", "valid_micro_f1", "max")
    assert genres.trial_config({}).label_column == "genres"
    spec = load_spec(write(tmp_path, {**MINIMAL, "dataset": "custom", "task": "multilabel",
                                      "metric": "valid_hamming_loss", "columns": {"labels": ["toxic", "threat"]}}))
    assert (spec.mode, spec.signed(0.25)) == ("min", -0.25)
    assert spec.trial_config({}).label_columns == "toxic,threat"
    assert (load_spec(write(tmp_path, MINIMAL)).mode, load_spec(write(tmp_path, MINIMAL)).task) == ("max", "classification")


def test_yaml_1_1_exponent_strings_become_numbers(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec.space["lr"] == Distribution("loguniform", (1e-4, 1e-2))


def test_set_overrides_fields(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL), ["num_samples=3", "fixed.n_epochs=5",
                                                "space.max_length.choice=[32, 48]"])
    assert spec.num_samples == 3 and spec.trial_config(spec.default_point()).n_epochs == 5
    assert spec.space["max_length"].args == (32, 48)


def test_set_wins_over_the_profile_sections_and_can_edit_them():
    # imdb.yaml's smoke: section sets its own scheduler and num_samples
    spec = load_spec("imdb", ["scheduler.type=pbt", "num_samples=5"], profile=["smoke"])
    assert spec.scheduler.type == "pbt" and spec.num_samples == 5
    assert load_spec("imdb", ["smoke.num_samples=3"], profile=["smoke"]).num_samples == 3
    assert load_spec("imdb", ["smoke.num_samples=3"]).num_samples != 3  # a section applies only in its profile
    with pytest.raises(UserError, match="--set num_sample: unknown key"):
        load_spec("imdb", ["num_sample=3"], profile=["smoke"])


def test_a_profile_sections_space_and_first_trial_replace_the_top_levels(tmp_path):
    # the cpu: section searches other options: the top level's first_trial (a point of its space) is not kept
    spec = {**MINIMAL, "space": {**MINIMAL["space"], "lr_main": {"loguniform": [1e-5, 1e-4]}},
            "first_trial": {"lr_main": 5e-5}, "fixed": {"n_epochs": 2, "pooling": "mean"},
            "cpu": {"space": {"lr": {"loguniform": [1e-3, 1e-2]}}, "first_trial": {"lr": 3e-3},
                    "fixed": {"n_epochs": 4}}}
    cpu = load_spec(write(tmp_path, spec), profile=["cpu"])
    assert set(cpu.space) == {"lr"} and cpu.first_trial == {"lr": 3e-3}
    assert cpu.trial_config({"lr": 3e-3}).pooling == "mean"  # fixed still merges key by key
    assert load_spec(write(tmp_path, spec)).first_trial == {"lr_main": 5e-5}


@pytest.mark.parametrize("sets, profile, message", [
    (["fixed.n_epoch=1"], [], "--set fixed.n_epoch: not a training option a search can fix (did you mean n_epochs?)"),
    (["num_sample=2"], [], "--set num_sample: unknown key 'num_sample' (did you mean num_samples"),
    (["space.lr_man={uniform: [0, 1]}"], [], "--set space.lr_man: not a searchable option (did you mean lr_main"),
    (["scheduler.grace_periods=1"], [], "--set scheduler.grace_periods: unknown key (did you mean grace_period?)"),
    (["resources.gpus_per_workers=1"], [], "--set resources.gpus_per_workers: unknown key (did you mean gpus_per_worker"),
    (["fixed={n_epoch: 1}"], [], "--set fixed: fixed.n_epoch: not a training option a search can fix (did you mean"),
    (["smoke.fixed.n_epoch=1"], ["smoke"], "--set smoke.fixed.n_epoch: not a training option a search can fix (did"),
    (["smoke.num_sample=1"], ["smoke"], "--set smoke.num_sample: unknown key 'num_sample' (did you mean num_samples"),
    (["fixed.task=multilabel"], [], "--set fixed.task: a top-level key of the spec, not a fixed option (--set "
                                    "task=multilabel"),
    (["task=multilabel", "metric=valid_accuracy"], [], "--set metric: multilabel is scored by valid_micro_f1"),
])
def test_a_set_key_is_named_as_typed_with_its_close_matches(sets, profile, message):
    """An error about a key a --set gave names the --set (not the shipped file it was merged into), and an
    unknown key offers its near matches rather than every key."""
    with pytest.raises(UserError) as error:
        load_spec("classify", sets, profile=profile)
    assert str(error.value).startswith(message) and "classify.yaml" not in str(error.value)


@pytest.mark.parametrize("change, message", [
    ({"fixed": {"n_epoch": 1}}, "fixed.n_epoch: not a training option a search can fix (did you mean n_epochs?)"),
    ({"num_sample": 2}, "unknown key 'num_sample' (did you mean num_samples"),
    ({"resources": {"gpus_per_workers": 1}}, "resources.gpus_per_workers: unknown key (did you mean gpus_per_worker"),
    ({"cpu": {"num_sample": 2}}, "unknown key 'num_sample' (did you mean num_samples"),
    ({"fixed": {"zzz": 1}}, "fixed.zzz: not a training option a search can fix (expected one of batch_size,"),
])
def test_a_files_key_is_named_with_the_file_and_its_close_matches(tmp_path, change, message):
    """The file's own key is the file's, though a --set edits another key of the same section."""
    path = write(tmp_path, {**MINIMAL, **change})
    with pytest.raises(UserError) as error:
        load_spec(path, ["fixed.lr=0.001", "resources.cpus_per_worker=1", "space.lr.loguniform=[1e-4, 1e-3]"],
                  profile=["cpu"])
    assert str(error.value).startswith(path) and message in str(error.value)


def test_a_task_set_over_a_file_takes_the_tasks_metric_unless_one_is_given(tmp_path):
    """classify.yaml's metric is a classifier's: a task set on the command line is scored by its own default;
    a metric the user gives is held to the task, and a file stating both is held to its word."""
    assert load_spec("classify", ["task=multilabel"]).metric == "valid_micro_f1"
    assert load_spec("classify", ["task=regression"]).metric == "valid_spearman"
    assert load_spec("classify", ["task=multilabel", "metric=valid_macro_f1"]).metric == "valid_macro_f1"
    assert load_spec("classify", ["metric=valid_mcc"]).metric == "valid_mcc"
    with pytest.raises(UserError, match="metric/metric_mode: multilabel is scored by"):
        load_spec(write(tmp_path, {**MINIMAL, "dataset": "custom", "task": "multilabel", "metric": "valid_accuracy"}))


def test_mode_expands_to_its_booleans():
    assert expand({"mode": "boost", "lr": 0.1}) == {"bert_finetuning": False, "boost": True, "lora": False, "lr": 0.1}
    assert expand({"mode": "lora"}) == {"bert_finetuning": True, "boost": False, "lora": True}


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"space": {"lr": {"loguniform": [1e-2, 1e-4]}}}, "space.lr.loguniform: low 0.01 must be below high 0.0001"),
    ({"space": {"lr": {"loguniform": [0, 1e-4]}}}, "space.lr.loguniform: bounds must be positive"),
    ({"space": {"lr": {"gaussian": [0, 1]}}}, "space.lr: unknown distribution 'gaussian'"),
    ({"space": {"lrr": {"uniform": [0, 1]}}}, "space.lrr: not a searchable option"),
    ({"space": {"mode": {"choice": ["fast"]}}}, "space.mode.choice: modes are"),
    ({"fixed": {"train_path": "x.csv"}}, "fixed.train_path: not a training option a search can fix"),
    ({"fixed": {"batch_size": 10}, "space": {"gradient_accumulation_steps": {"choice": [1, 4]}}},
     "--batch_size 10 is not divisible by --gradient_accumulation_steps 4"),  # the engine's rule, stated once
    ({"space": {"dropout_p": {"uniform": [0.0, 1.5]}}}, "--dropout_p"),
    ({"num_samples": 0}, "num_samples: expected a positive integer"),
    ({"scheduler": {"type": "hyperband"}}, "scheduler.type: expected asha, pbt, none"),
    ({"scheduler": {"type": "pbt"}, "space": {"max_length": {"choice": [64, 128]}}}, "needs a continuous hyperparameter"),
    ({"scheduler": {"grace_period": 0}}, "scheduler.grace_period: expected a positive number of epochs"),
    ({"space": {"batch_size": {"int": [16, 32]}}}, "space.batch_size: use a choice"),
    # inputs are prepared per value: refused as the file is read, before any model's limit is looked at
    ({"space": {"max_length": {"int": [64, 600]}}}, "space.max_length: inputs are prepared once per distinct"),
    ({"space": {"pooling": {"choice": ["mean", "attention"]}}}, "--pooling: expected cls | mean | mean+max"),
    ({"refit": "yes"}, "refit: expected true or false"),
    ({"refit_checkpoint_every": 0}, "refit_checkpoint_every: expected a positive number of seconds"),
    ({"refit_checkpoint_every": "often"}, "refit_checkpoint_every: expected a positive number of seconds"),
    ({"space": {"mode": {"choice": ["lora", "boost"]}, "lora_r": {"int": [0, 8]}}},
     "a configuration of this space is invalid: --lora_r: expected a positive integer"),
    ({"space": {"lora_targets": {"choice": ["attention", "ffn"]}}}, "--lora_targets: expected attention | attention+ffn"),
    ({"max_concurrent": 0}, "max_concurrent: expected a positive integer or null"),
    ({"resources": {"placement": "ANYWHERE"}}, "resources.placement: expected PACK"),
    ({"resources": {"gpus": 2}}, "resources.gpus: unknown key"),
    ({"dataset": "mnist"}, "dataset: expected one of imdb, korquad, nsmc"),
    ({"metric": "valid_f1"}, "metric/metric_mode: imdb is scored by valid_accuracy"),
    ({"metric_mode": "min"}, "metric/metric_mode: imdb is scored by valid_accuracy"),
    ({"task": "multilabel"}, "task: expected classification (the task of imdb), got 'multilabel'"),
    ({"dataset": "custom", "task": "multilabel", "metric": "valid_accuracy"},
     "metric/metric_mode: multilabel is scored by valid_micro_f1 or valid_macro_f1"),
    ({"dataset": "custom", "task": "multilabel", "metric": "valid_hamming_loss", "metric_mode": "max"},
     "min for valid_hamming_loss), got valid_hamming_loss / max"),
    ({"dataset": "custom", "task": "multilabel", "columns": {"labels": "a,b"}}, "columns: expected a mapping of"),
    ({"dataset": "custom", "columns": {"labels": ["a", "b"]}},
     "--label_columns a,b: several 0/1 label columns are read by --task multilabel alone"),
    ({"mode": "max"}, "mode: not a top-level key; the metric's direction is metric_mode"),
    ({"task": "regression"}, "task: expected classification (the task of imdb), got 'regression'"),
    ({"dataset": "custom", "task": "ranking"},
     "task: expected classification | multilabel | qa | regression, got 'ranking'"),
    ({"dataset": "custom", "task": "regression", "metric": "valid_rmse", "metric_mode": "max"},
     "metric/metric_mode: regression is scored by valid_spearman or"),
    # options that decide the validation examples: trials would be ranked on different sets
    ({"space": {"seed": {"choice": [1, 2]}}}, "space.seed: decides which examples are validated on"),
    ({"space": {"valid_fraction": {"uniform": [0.1, 0.2]}}}, "space.valid_fraction: decides which examples"),
    ({"space": {"max_valid_samples": {"choice": [100, 200]}}}, "space.max_valid_samples: decides which examples"),
    ({"space": {"valid_path": {"choice": ["a.csv"]}}}, "space.valid_path: decides which examples"),
    ({"fixed": {"batch_size": 16}, "resources": {"workers_per_trial": 3}},
     "resources.workers_per_trial is 3 workers, but batch_size 16 / gradient_accumulation_steps 1 = micro-batch 16"),
    ({"scheduler": {"type": "pbt"}, "resources": {"workers_per_trial": 2}},
     "restores only its own; use workers_per_trial 1"),
    ({"space": {"truncation": {"choice": ["head+tail", "chunks"]}}, "fixed": {"doc_stride": 1000}},
     "--doc_stride: expected an overlap of neighbouring windows in [0, max_length"),
    ({"space": {"truncation": {"choice": ["head+tail", "chunks"]}}, "fixed": {"max_chunks": 0}},
     "--max_chunks: expected a positive integer"),
])
def test_bad_spaces_name_file_key_and_expectation(tmp_path, change, message):
    spec = {**MINIMAL, **change}
    path = write(tmp_path, spec)
    with pytest.raises(UserError) as e:
        load_spec(path)
    assert path in str(e.value) and message in str(e.value)


@pytest.mark.parametrize("section, value", [("cpu", 3), ("smoke", "fast"), ("cpu", [1, 2])])
def test_a_profile_section_that_is_not_a_mapping_is_one_error_in_that_profile(tmp_path, section, value):
    path = write(tmp_path, {**MINIMAL, section: value})
    with pytest.raises(UserError, match=f"{section}: expected a mapping of overrides"):
        load_spec(path, profile=[section])


def test_unknown_search_name_lists_the_known_ones():
    with pytest.raises(UserError, match="known: .*imdb"):
        load_spec("no-such-dataset")


def test_bad_set_syntax():
    with pytest.raises(UserError, match="expected key=value"):
        load_spec("imdb", ["num_samples"])


def test_one_function_makes_every_trial_config(tmp_path):
    spec = load_spec(write(tmp_path, {**MINIMAL, "space": {**MINIMAL["space"], "mode": {"choice": ["boost"]}}}))
    config = fix_options(spec, {"train_path": "t.csv"}).trial_config({"lr": 0.003, "max_length": 128, "mode": "boost"})
    assert (config.lr, config.max_length, config.n_epochs, config.train_path) == (0.003, 128, 2, "t.csv")
    assert config.boost and not config.bert_finetuning and config.task == "classification"
    assert config.batch_size == 16  # not fixed, not searched: the engine's default, from the engine


def test_default_point_takes_engine_defaults_inside_the_space_and_centres_otherwise(tmp_path):
    spec = load_spec(write(tmp_path, {**MINIMAL, "space": {
        "lr": {"loguniform": [1e-4, 1e-2]}, "lr_main": {"loguniform": [1e-4, 1e-2]},
        "dropout_p": {"uniform": [0.2, 0.4]}, "max_length": {"choice": [64, 128]}}}))
    point = spec.default_point()
    assert point["lr"] == 1e-3  # TrainConfig's default lr lies inside
    assert point["lr_main"] == pytest.approx(1e-3) and point["dropout_p"] == pytest.approx(0.3)  # centres
    assert point["max_length"] == 64  # the default 256 is not a choice: the first one


def test_first_trial_sets_the_first_points_values_where_the_space_holds_them(tmp_path):
    spec = load_spec(write(tmp_path, {**MINIMAL, "first_trial": {"lr": "5e-3", "max_length": 128}}))
    assert spec.default_point() == {"lr": 5e-3, "max_length": 128}  # over the engine's 1e-3 and 256
    # a value the space does not hold: the default point's rule, as for an engine default outside it
    spec = load_spec(write(tmp_path, {**MINIMAL, "first_trial": {"lr": 0.5, "max_length": 512}}))
    assert spec.default_point() == {"lr": 1e-3, "max_length": 64}
    with pytest.raises(UserError, match=r"space.yaml: first_trial.dropout_p: not a searched option \(space: lr, "
                                        r"max_length\); a value for every trial goes under fixed$"):
        load_spec(write(tmp_path, {**MINIMAL, "first_trial": {"dropout_p": 0.1}}))
    with pytest.raises(UserError, match=r"first_trial.lr: expected a number, got 'fast'$"):
        load_spec(write(tmp_path, {**MINIMAL, "first_trial": {"lr": "fast"}}))
    with pytest.raises(UserError, match=r"first_trial: expected a mapping"):
        load_spec(write(tmp_path, {**MINIMAL, "first_trial": [1e-3]}))


def test_the_shipped_minilm_spec_starts_at_its_known_good_encoder_rate_also_on_the_races_space():
    """imdb-minilm's first trial: lr_main 1e-4 (its own search's winning region), not BERT-base's 2e-5,
    also when the race (bench/search_vs_hf.py) replaces the space with its own."""
    assert load_spec("imdb-minilm").default_point()["lr_main"] == 1e-4
    race = "{lr_main: {loguniform: [1e-5, 1e-4]}, batch_size: {choice: [16, 32]}, gradient_accumulation_steps: {choice: [1, 2]}}"
    assert load_spec("imdb-minilm", [f"space={race}"], profile=["cpu"]).default_point() == \
        {"lr_main": 1e-4, "batch_size": 16, "gradient_accumulation_steps": 1}


def test_a_spec_that_names_only_model_data_and_space_gets_the_recipe(tmp_path):
    spec = load_spec(write(tmp_path, {"name": "bare", "dataset": "imdb", "fixed": {"bert_name": "m"},
                                      "space": {"lr_main": {"loguniform": [1e-5, 1e-4]}}}))
    config = spec.trial_config(spec.default_point())
    assert (config.evals_per_epoch, config.degenerate_check, config.truncation, config.warmup_ratio) == \
        (2, True, "head+tail", 0.1)
    assert set(spec.recipe) == {"evals_per_epoch", "degenerate_check", "truncation", "warmup_ratio"}
    # what the spec says wins; an early_stop written for one check per epoch keeps one check per epoch
    spec = load_spec(write(tmp_path, {"name": "said", "dataset": "imdb",
                                      "fixed": {"truncation": "head", "early_stop": 2},
                                      "space": {"lr_main": {"loguniform": [1e-5, 1e-4]}}}))
    config = spec.trial_config(spec.default_point())
    assert (config.truncation, config.evals_per_epoch, config.degenerate_check) == ("head", 1, True)
    # QA reads no truncation: the recipe leaves it alone
    qa = load_spec(write(tmp_path, {"name": "qa", "dataset": "korquad", "fixed": {"max_length": 384},
                                    "space": {"lr_main": {"loguniform": [1e-5, 1e-4]}}}))
    assert "truncation" not in qa.recipe and qa.trial_config(qa.default_point()).degenerate_check


def test_per_model_gives_a_model_its_own_range_and_values(tmp_path):
    spec = load_spec(write(tmp_path, {
        "name": "models", "dataset": "imdb", "fixed": {"evals_per_epoch": 1},
        "space": {"bert_name": {"choice": ["big", "org/small"]}, "lr_main": {"loguniform": [1e-5, 5e-5]}},
        "per_model": {"org/small": {"lr_main": {"loguniform": [1e-4, 1e-3]}, "pooling": "mean"}}}))
    corners = list(spec.corners())
    assert {(c["bert_name"], c["lr_main"]) for c in corners} == {("big", 1e-5), ("big", 5e-5),
                                                                 ("org/small", 1e-4), ("org/small", 1e-3)}
    assert spec.searched_name("lr_main", "org/small") == "lr_main@1" and spec.searched_name("lr_main", "big") == "lr_main"
    small = spec.trial_config({"bert_name": "org/small", "lr_main@1": 3e-4, "lr_main": 3e-4})
    assert (small.bert_name, small.lr_main, small.pooling) == ("org/small", 3e-4, "mean")
    assert spec.trial_config({"bert_name": "big", "lr_main": 2e-5}).pooling == "cls"


@pytest.mark.parametrize("per_model, extra, message", [
    ({"other": {"pooling": "mean"}}, {}, "per_model.other: not a model of this search"),
    ({"a": {"lr": {"loguniform": [1e-3, 1e-2]}}}, {}, "per_model.a.lr: a range for one model needs the option in space"),
    ({"a": {"lr_main": 1e-4}}, {}, "per_model.a.lr_main: space searches this option"),
    ({"a": {"lr_main": {"loguniform": [1e-4, 1e-3]}}}, {"scheduler": {"type": "pbt"}}, "need the TPE searcher"),
])
def test_bad_per_model_sections_name_the_model_and_option(tmp_path, per_model, extra, message):
    raw = {"name": "bad", "dataset": "imdb", "per_model": per_model, **extra,
           "space": {"bert_name": {"choice": ["a", "b"]}, "lr_main": {"loguniform": [1e-5, 5e-5]}}}
    with pytest.raises(UserError, match=message):
        load_spec(write(tmp_path, raw))


def test_tpe_samples_each_model_s_own_range(tmp_path):
    from bert_hpo_distributed.searchers import search_algorithm
    spec = load_spec(write(tmp_path, {
        "name": "tpe", "dataset": "imdb", "seed": 1, "startup_trials": 2,
        "space": {"bert_name": {"choice": ["big", "small"]}, "lr_main": {"loguniform": [1e-5, 5e-5]}},
        "per_model": {"small": {"lr_main": {"loguniform": [1e-4, 1e-3]}}}}))
    # TPE itself, under the time budget's limiter of trials in flight (budget.py)
    searcher = search_algorithm(spec, 1, [spec.default_point(), {"bert_name": "small", "lr_main": 5e-4}]).searcher
    suggested = [searcher.suggest(str(i)) for i in range(12)]
    assert suggested[1]["lr_main"] == 5e-4  # a first point of the small model, under its own range
    assert {s["bert_name"] for s in suggested} == {"big", "small"}
    for s in suggested:
        low, high = (1e-4, 1e-3) if s["bert_name"] == "small" else (1e-5, 5e-5)
        assert low <= spec.trial_config(s).lr_main <= high


def test_importance_and_plots_take_every_model_s_own_range(tmp_path):
    """A small model's lr_main lies outside the common range: fANOVA and the plots use the span."""
    pytest.importorskip("sklearn")
    import pandas as pd
    from bert_hpo_distributed.plots import importance, write_plots
    spec = load_spec(write(tmp_path, {
        "name": "span", "dataset": "imdb",
        "space": {"bert_name": {"choice": ["big", "small"]}, "lr_main": {"loguniform": [1e-5, 5e-5]}},
        "per_model": {"small": {"lr_main": {"loguniform": [1e-4, 1e-3]}}}}))
    rows = []
    for i in range(10):
        model, lr = ("small", 1e-4 * (1 + i)) if i % 2 else ("big", 1e-5 * (1 + i / 2))
        config = {"bert_name": model, "lr_main": lr}
        rows.append({**config, "best_valid_accuracy": 0.5 + 0.04 * i, "config": config,
                     "status": "completed", "best_epoch": 1.0, "epochs_run": 1.0,
                     "started": float(i), "ended": float(i + 1)})
    scored = pd.DataFrame(rows)
    importances = importance(scored, spec)
    assert set(importances) == {"bert_name", "lr_main"}
    assert "plot (hyperparameters)" in write_plots(scored, spec, tmp_path, importances, "span")


def test_input_corners_cover_every_input_however_large_the_space(tmp_path):
    # 2**13 = 8,192 corners of options that do not change the inputs, and 3 max_length values that do
    others = {key: {"uniform": [0.1, 0.2]} for key in ("dropout_p", "warmup_ratio", "weight_decay")}
    others.update({key: {"loguniform": [1e-5, 1e-3]} for key in ("lr", "lr_main")})
    others.update({key: {"choice": [1, 2]} for key in ("n_epochs", "early_stop", "evals_per_epoch", "eval_batch_size",
                                                      "num_workers", "gradient_accumulation_steps")})
    others.update({"head": {"choice": ["linear", "mlp"]}, "max_grad_norm": {"uniform": [0.5, 1.0]}})
    path = tmp_path / "space.yaml"  # in this order: max_length first, its values change slowest
    path.write_text(yaml.safe_dump({**MINIMAL, "space": {"max_length": {"choice": [64, 128, 256]}, **others}},
                                   sort_keys=False))
    corners = list(load_spec(str(path)).input_corners())
    assert sorted(c["max_length"] for c in corners) == [64, 128, 256]


def test_columns_and_metric_become_every_trials_options(tmp_path):
    spec = load_spec("classify", ["files.train=a.csv", "columns={text: comment, pair: other, label: target}",
                                  "metric=valid_balanced_accuracy"])
    config = spec.trial_config(spec.default_point())
    assert (config.text_column, config.text_pair_column, config.label_column) == ("comment", "other", "target")
    assert spec.metric == config.metric == "valid_balanced_accuracy" and spec.dataset == "custom"
    assert spec.data_label == "train a.csv"


def test_fixed_column_options_can_be_set():
    spec = load_spec("imdb", ["fixed.text_column=review", "fixed.label_column=sentiment"])
    assert spec.trial_config({}).text_column == "review"


@pytest.mark.parametrize("overrides, message", [
    (["files.train=a.csv", "columns.txt=x"], "columns: expected a mapping of text, pair, label"),
    (["files.train=a.csv", "metric=valid_f1"], "is scored by valid_accuracy or valid_macro_f1"),
    (["files.train=a.csv", "fixed.metric=valid_mcc"],
     "--set fixed.metric: a top-level key of the spec, not a fixed option (--set metric=valid_mcc"),
])
def test_bad_own_data_specs_are_one_error(overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("{", r"\{").replace("}", r"\}")
                       .replace(".", r"\.")):
        load_spec("classify", overrides)


def test_every_metric_is_accepted_for_a_named_data_set():
    for metric in ("valid_accuracy", "valid_macro_f1", "valid_weighted_f1", "valid_balanced_accuracy", "valid_mcc"):
        assert load_spec("imdb", [f"metric={metric}"]).metric == metric


def test_the_race_spec_written_from_the_docs_trains_as_the_shipped_spec_that_won():
    """bench/race_from_scratch.yaml (docs/search.md's example of a spec of one's own) against the shipped
    imdb-minilm with the race's terms set as bench/search_vs_hf.py sets them: the same trials and
    scheduler; the model's pooling is chosen later, from its files, and the shipped spec's own patience,
    first trial and threads per trial are its own."""
    root = SPACES_DIR.parent
    path = root / "bench" / "race_from_scratch.yaml"
    readme = (root / "docs" / "search.md").read_text(encoding="utf-8")
    assert yaml.safe_load(readme.split("is complete:\n\n```yaml\n")[1].split("```")[0]) == yaml.safe_load(path.read_text())
    scratch = load_spec(str(path), profile=["cpu"])
    shipped = load_spec("imdb-minilm", [f"space={yaml.safe_load(path.read_text())['space']}", "num_samples=6",
                                        "fixed.max_length=128", "fixed.n_epochs=3", "fixed.max_train_samples=null",
                                        "fixed.max_valid_samples=null"], profile=["cpu"])
    assert (scratch.scheduler, scratch.startup_trials, scratch.start_from_defaults) == \
        (shipped.scheduler, shipped.startup_trials, shipped.start_from_defaults)
    # the shipped spec runs one trial at a time per 2 cores with 2 threads (measured faster in the race
    # once its first trial is strong); a spec of one's own gets them where the search starts on a CPU
    assert (scratch.resources.cpus_per_worker, shipped.resources.cpus_per_worker) == (None, 2)
    assert sized_threads(scratch, 2).resources == shipped.resources
    ours, won = (vars(s.trial_config(s.default_point())) for s in (scratch, shipped))
    assert ours["pooling"] == "cls" and won["pooling"] == "mean"  # plan.py reads mean from the model's files
    # the shipped spec adds a patience of 2 checks; the recipe leaves the stopping to ASHA and the chance-level stop
    assert (ours["early_stop"], won["early_stop"]) == (-1, 2)
    # and starts at its model's known-good encoder rate (first_trial); a spec of one's own, as loaded, at
    # the engine's (bound to its model, at the rate sized to it: tests/distributed/test_spec_bind.py)
    assert (ours["lr_main"], won["lr_main"]) == (2e-5, 1e-4)
    differ = {"pooling", "early_stop", "lr_main"}
    assert {k: v for k, v in ours.items() if k not in differ} == {k: v for k, v in won.items() if k not in differ}


def test_tokenize_on_is_driver_unless_set_to_workers_and_checked():
    assert load_spec("classify").tokenize_on == "driver"
    assert load_spec("classify", ["tokenize_on=workers"]).tokenize_on == "workers"
    with pytest.raises(UserError, match=r"^--set tokenize_on: expected driver or workers, got 'gpu'$"):
        load_spec("classify", ["tokenize_on=gpu"])
    with pytest.raises(UserError, match=r"tokenize_on: workers tokenise classification data only; a qa search"):
        load_spec("korquad", ["tokenize_on=workers"])


# each flag that sets a spec key, a good and a bad value, and its --set twin
FLAGS = [("--num-samples", "num_samples", "5", "0", "expected a positive integer"),
         ("--refit", "refit", None, None, None),
         ("--time-budget", "time_budget", "90", "0", "expected a positive number of seconds"),
         ("--repeats", "repeats", "3", "1", "expected 0 (no repeats) or a number of seeds of at least 2"),
         ("--max-concurrent", "max_concurrent", "20", "0", "expected a positive integer"),
         ("--max-latency-ms", "constraints.latency_ms", "10", "0", "expected a mapping of measured costs"),
         ("--max-model-mb", "constraints.model_mb", "50", "-1", "expected a mapping of measured costs")]


def _resolved(argv):
    """The spec a search's command line resolves to (as plan.make_plan resolves it, on a CPU)."""
    from launch import parse
    from bert_hpo_distributed.search_cli import search_options
    from bert_hpo_distributed.spec.load import flag_overrides, resolve, spec_overrides
    opts = search_options(parse(["--search", "imdb", *argv])[3])
    return resolve(spec_overrides(opts.search, opts.overrides, ["cpu"], flag_overrides(vars(opts))))


@pytest.mark.parametrize("flag, key, good, bad, expected", FLAGS, ids=[f[0] for f in FLAGS])
def test_a_flag_and_its_set_twin_resolve_the_same_spec_and_the_same_error(flag, key, good, bad, expected):
    value = ["true"] if good is None else [good]
    by_flag, by_set = _resolved([flag, *([] if good is None else [good])]), _resolved(["--set", f"{key}={value[0]}"])
    assert by_flag == by_set and by_flag != _resolved([])
    if bad is None:  # --refit takes no value: nothing to get wrong
        return
    errors = []
    for argv, where in (([flag, bad], f"{flag} {bad}"), (["--set", f"{key}={bad}"], f"--set {key}")):
        with pytest.raises(UserError) as e:
            _resolved(argv)
        assert str(e.value).startswith(f"{where}: {expected}"), str(e.value)
        errors.append(str(e.value)[len(where):].split(", got")[0])
    assert errors[0] == errors[1]


def test_a_flag_wins_over_its_set_twin_and_a_set_over_the_file():
    assert _resolved(["--set", "num_samples=7"]).num_samples == 7
    assert _resolved(["--set", "num_samples=7", "--num-samples", "3"]).num_samples == 3


def test_a_fixed_rate_written_as_yaml_1_1_reads_it_is_a_number_and_a_bad_one_names_the_file():
    assert load_spec("imdb", ["fixed.lr_main=3e-5"]).trial_config({}).lr_main == 3e-5  # YAML 1.1: a string
    with pytest.raises(UserError, match=r"imdb.yaml: a configuration of this space is invalid: --lr_main: expected "
                                        r"a positive learning rate, got 0$"):
        load_spec("imdb", ["fixed.lr_main=0"])


def test_a_spec_states_its_task_and_an_error_metric_is_minimised(tmp_path):
    spec = load_spec(write(tmp_path, {**MINIMAL, "dataset": "custom", "task": "regression", "metric": "valid_rmse"}))
    assert spec.task == "regression" and spec.mode == "min" and spec.signed(0.5) == -0.5
    assert spec.trial_config(spec.default_point()).task == "regression"
    spearman = load_spec(write(tmp_path, {**MINIMAL, "dataset": "custom", "task": "regression"}))
    assert spearman.metric == "valid_spearman" and spearman.mode == "max"
    weighted = load_spec(write(tmp_path, {**MINIMAL, "space": {"class_weight": {"choice": ["none", "balanced"]}}}))
    assert weighted.trial_config({"class_weight": "balanced"}).class_weight == "balanced"


def test_chunks_is_searched_against_head_tail_with_its_own_token_ids(tmp_path):
    from bertclf.inputs import tokens_key
    spec = load_spec(write(tmp_path, {**MINIMAL, "fixed": {"n_epochs": 2, "doc_stride": 16},
                                      "space": {**MINIMAL["space"], "truncation": {"choice": ["head+tail", "chunks"]},
                                                "max_chunks": {"choice": [2, 8]}}}))
    trial = fix_options(spec, {"train_path": "t.csv"}).trial_config
    chunks = trial({"lr": 0.003, "max_length": 64, "truncation": "chunks", "max_chunks": 2})
    assert (chunks.truncation, chunks.doc_stride, chunks.max_chunks) == ("chunks", 16, 2)
    keys = {tokens_key(trial({"lr": 0.003, "max_length": 64, "truncation": t, "max_chunks": k}))
            for t in ("head+tail", "chunks") for k in (2, 8)}
    assert len(keys) == 3  # chunks once per max_chunks (it decides the windows kept); head+tail once


def test_the_windows_options_split_token_keys_only_where_texts_are_cut(tmp_path):
    from bertclf.inputs import tokens_key
    spec = load_spec(write(tmp_path, {**MINIMAL, "space": {**MINIMAL["space"], "max_chunks": {"choice": [2, 8]},
                                                           "doc_stride": {"choice": [8, 16]}}}))
    trial = fix_options(spec, {"train_path": "t.csv"}).trial_config
    keys = {tokens_key(trial({"lr": 0.003, "max_length": 64, "truncation": "head", "max_chunks": k, "doc_stride": d}))
            for k in (2, 8) for d in (8, 16)}
    assert len(keys) == 1  # head truncation reads neither: one tokenisation, one encoder pass


def test_objectives_name_the_metric_and_the_measured_costs_the_search_optimises():
    spec = load_spec("imdb-deploy")
    assert spec.objectives == ("valid_accuracy", "latency_ms") and spec.metric == "valid_accuracy"
    assert spec.searched_metrics == (("best_valid_accuracy", "max"), ("latency_ms", "min"))
    assert spec.measures_cost and not load_spec("imdb").measures_cost
    f1 = load_spec("imdb", ["objectives=[valid_macro_f1, model_mb, throughput]", "constraints={latency_ms: 10}"])
    assert f1.metric == "valid_macro_f1" and f1.cost_objectives == ("model_mb", "throughput")
    assert f1.constraints == {"latency_ms": 10} and f1.searched_metrics[2] == ("throughput", "max")
    assert load_spec("imdb", ["objectives=[valid_accuracy]"]).searched_metrics == (("best_valid_accuracy", "max"),)


@pytest.mark.parametrize("sets, expected", [
    (["objectives=[valid_accuracy, speed]"], r"imdb.yaml: objectives: unknown objective 'speed' \(expected one metric "
                                             r"of classification: valid_accuracy, .*; and measured costs: latency_ms, "
                                             r"throughput, model_mb\)"),
    (["objectives=[latency_ms]"], r"objectives: expected exactly one metric of classification"),
    (["objectives=[valid_accuracy, valid_mcc]"], r"objectives: expected exactly one metric of classification"),
    (["objectives=latency_ms"], r"--set objectives: expected a list of one metric and measured costs"),
    (["objectives=[valid_mcc, latency_ms]", "metric=valid_accuracy"], r"objectives: its metric valid_mcc is not the "
                                                                     r"spec's metric valid_accuracy"),
    (["constraints={valid_loss: 0.3}"], r"--set constraints: expected a mapping of measured costs \(latency_ms, "
                                        r"throughput, model_mb\) to positive limits"),
    (["constraints.latency_ms=fast"], r"--set constraints.latency_ms: expected a mapping of measured costs"),
    (["constraints={latency_ms: 10}", "scheduler.type=pbt"], r"constraints: costs steer Optuna's searcher"),
    (["objectives=[valid_accuracy, latency_ms]", "space.encoder_layers={int: [2, 6]}"],
     r"imdb.yaml: space.encoder_layers: with objectives, the cost of every architecture is measured before the "
     r"trials; use a choice"),
])
def test_a_bad_objective_or_constraint_is_one_error_naming_the_option(sets, expected):
    with pytest.raises(UserError, match=expected):
        load_spec("imdb", sets)


def test_costs_are_measured_for_searches_that_pool_a_text_only():
    with pytest.raises(UserError, match=r"korquad.yaml: objectives: inference costs are measured for searches that "
                                        r"pool a text \(classification, regression, multilabel\), not qa"):
        load_spec("korquad", ["objectives=[valid_f1, latency_ms]"])


def test_resources_keep_the_number_types_of_their_fields():
    """A fraction of a CPU stays a fraction though the field defaults to None (sized later); a worker
    count is whole."""
    spec = load_spec("imdb", ["cpu.resources={workers_per_trial: 2, cpus_per_worker: 0.9, refit_workers: 2}"],
                     profile=["cpu"])
    assert (spec.resources.workers_per_trial, spec.resources.cpus_per_worker, spec.resources.refit_workers) == (2, 0.9, 2)
    assert isinstance(spec.resources.workers_per_trial, int) and isinstance(spec.resources.refit_workers, int)
