"""A spec bound to its models (distributed/spec/bind.py): the first trial's encoder rate sized to the
model where the spec gives no first_trial, a trial's threads where it gives no cpus_per_worker, and what
the recipe line says of them."""
from pathlib import Path

import pytest

from bertclf.models.encoder_facts import EncoderFacts
from bert_hpo_distributed.plan import _concurrency, recipe_line
from bert_hpo_distributed.spec.bind import Model, sized_start, sized_threads
from bert_hpo_distributed.spec.load import load_spec

RACE = str(Path(__file__).resolve().parents[2] / "bench" / "race_from_scratch.yaml")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def models(parameters: int) -> dict:
    facts = EncoderFacts(model_type="bert", position_limit=512, has_pooler=True, attention="sdpa",
                         parameters=parameters, layers=6)
    return {MINILM: Model(source=MINILM, why="the test", facts=facts)}


def test_a_spec_of_ones_own_starts_at_the_rate_sized_to_its_model():
    spec = load_spec(RACE, profile=["cpu"])
    assert spec.default_point()["lr_main"] == 2e-5  # unbound: the engine's default, BERT-base's rate
    sized = sized_start(spec, models(22_700_000))
    assert sized.sized == ("lr_main",) and sized.default_point()["lr_main"] == pytest.approx(9.69e-5, rel=1e-3)
    line = recipe_line(sized, models(22_700_000))
    assert "first trial's lr_main 9.7e-05, sized to all-MiniLM-L6-v2's 22.7M parameters (2e-5 x 110M / " \
           "parameters, within [1e-5, 1e-4]; the spec's first_trial sets it)" in line, line


def test_the_sized_rate_is_held_inside_the_space_and_a_spec_s_first_trial_wins():
    narrow = sized_start(load_spec(RACE, ["space.lr_main={loguniform: [1e-5, 5e-5]}"], profile=["cpu"]),
                         models(22_700_000))
    assert narrow.first_trial == {"lr_main": 5e-5}
    assert "lr_main 5e-05, sized to all-MiniLM-L6-v2's 22.7M parameters (2e-5 x 110M / parameters, within " \
           "[1e-5, 1e-4], the nearest the space holds;" in recipe_line(narrow, models(22_700_000))
    listed = load_spec(RACE, ["space.lr_main={choice: [2.0e-5, 5.0e-5, 2.0e-4]}"], profile=["cpu"])
    assert sized_start(listed, models(22_700_000)).first_trial == {"lr_main": 5e-5}  # the nearest on a log scale
    given = load_spec(RACE, ["first_trial={lr_main: 3e-5}"], profile=["cpu"])
    assert sized_start(given, models(22_700_000)) == given
    unsearched = load_spec(RACE, ["space={batch_size: {choice: [16, 32]}}"], profile=["cpu"])
    assert sized_start(unsearched, models(22_700_000)) == unsearched
    assert "sized" not in recipe_line(given, models(22_700_000))


def test_a_space_keeping_more_layers_than_the_model_has_is_one_line():
    from bertclf.errors import UserError
    from bert_hpo_distributed.spec.bind import has_layers
    facts = models(22_700_000)[MINILM].facts
    has_layers(load_spec(RACE, ["space.encoder_layers={choice: [2, 6]}"], profile=["cpu"]), facts, MINILM)
    with pytest.raises(UserError, match=r"space.encoder_layers 8: sentence-transformers/all-MiniLM-L6-v2 has 6 "
                                        r"layer\(s\); expected 1 to 6"):
        has_layers(load_spec(RACE, ["space.encoder_layers={choice: [2, 8]}"], profile=["cpu"]), facts, MINILM)
    with pytest.raises(UserError, match=r"fixed.encoder_layers 7: "):
        has_layers(load_spec(RACE, ["fixed.encoder_layers=7"], profile=["cpu"]), facts, MINILM)


def test_a_fine_tuning_trial_on_a_cpu_gets_two_threads_where_the_spec_gives_none():
    spec = load_spec(RACE, profile=["cpu"])
    assert spec.resources.cpus_per_worker is None
    two = sized_threads(spec, 2)
    assert two.resources.cpus_per_worker == 2 and two.sized == ("cpus_per_worker",)
    assert _concurrency(two, False, True, 2) == 1 and _concurrency(sized_threads(spec, 8), False, True, 8) == 4
    assert "2 threads a trial (fine-tuning on a CPU; resources.cpus_per_worker sets it)" in \
        recipe_line(sized_start(two, models(22_700_000)), models(22_700_000))
    assert sized_threads(spec, 1).resources.cpus_per_worker == 1 and sized_threads(spec, 1).sized == ()
    assert sized_threads(spec, None).resources.cpus_per_worker == 1  # a GPU or a cluster: one CPU a worker
    mixed = load_spec(RACE, ["space.mode={choice: [boost, finetune]}"], profile=["cpu"])
    assert sized_threads(mixed, 2).resources.cpus_per_worker == 2
    boost = sized_threads(load_spec(RACE, ["space.mode={choice: [boost]}"], profile=["cpu"]), 2)
    assert boost.resources.cpus_per_worker == 1 and _concurrency(boost, False, True, 2) == 2
    ddp = load_spec(RACE, ["resources.workers_per_trial=2"], profile=["cpu"])
    assert sized_threads(ddp, 2).resources.cpus_per_worker == 1
    given = load_spec(RACE, ["resources.cpus_per_worker=1"], profile=["cpu"])
    assert sized_threads(given, 2) == given and "threads" not in recipe_line(given, models(22_700_000))
