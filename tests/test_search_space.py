"""Search-space files: loaded, overridden and validated with errors naming file and key."""
import pytest
import yaml

from bertclf.errors import UserError
from bert_hpo_distributed.search_space import SPACES_DIR, expand, load_spec

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
        assert spec["space"] and spec["num_samples"] >= 1


def test_yaml_1_1_exponent_strings_become_numbers(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec["space"]["lr"] == {"loguniform": [1e-4, 1e-2]}


def test_set_overrides_fields(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL), ["num_samples=3", "fixed.n_epochs=5",
                                                "space.max_length.choice=[32, 48]"])
    assert spec["num_samples"] == 3 and spec["fixed"]["n_epochs"] == 5
    assert spec["space"]["max_length"]["choice"] == [32, 48]


def test_mode_expands_to_the_two_booleans():
    assert expand({"mode": "boost", "lr": 0.1}) == {"bert_finetuning": False, "boost": True, "lr": 0.1}


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"space": {"lr": {"loguniform": [1e-2, 1e-4]}}}, "space.lr.loguniform: low 0.01 must be below high 0.0001"),
    ({"space": {"lr": {"loguniform": [0, 1e-4]}}}, "space.lr.loguniform: bounds must be positive"),
    ({"space": {"lr": {"gaussian": [0, 1]}}}, "space.lr: unknown distribution 'gaussian'"),
    ({"space": {"lrr": {"uniform": [0, 1]}}}, "space.lrr: not a searchable option"),
    ({"space": {"mode": {"choice": ["fast"]}}}, "space.mode.choice: modes are"),
    ({"fixed": {"train_path": "x.csv"}}, "fixed.train_path: not a training option a search can fix"),
    ({"fixed": {"batch_size": 10}, "space": {"gradient_accumulation_steps": {"choice": [1, 4]}}},
     "batch_size 10 is not divisible by gradient_accumulation_steps 4"),
    ({"space": {"dropout_p": {"uniform": [0.0, 1.5]}}}, "--dropout_p"),
    ({"num_samples": 0}, "num_samples: expected a positive integer"),
    ({"scheduler": {"type": "hyperband"}}, "scheduler.type: expected asha or none"),
    ({"resources": {"placement": "ANYWHERE"}}, "resources.placement: expected PACK"),
    ({"resources": {"gpus": 2}}, "resources.gpus: unknown key"),
    ({"dataset": "mnist"}, "dataset: expected one of imdb, korquad, nsmc"),
    ({"metric": "valid_f1"}, "metric/mode: imdb is scored by valid_accuracy"),
])
def test_bad_spaces_name_file_key_and_expectation(tmp_path, change, message):
    spec = {**MINIMAL, **change}
    path = write(tmp_path, spec)
    with pytest.raises(UserError) as e:
        load_spec(path)
    assert path in str(e.value) and message in str(e.value)


def test_unknown_search_name_lists_the_known_ones():
    with pytest.raises(UserError, match="known: .*imdb"):
        load_spec("no-such-dataset")


def test_bad_set_syntax():
    with pytest.raises(UserError, match="expected key=value"):
        load_spec("imdb", ["num_samples"])
