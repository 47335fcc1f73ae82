"""A checkpoint holds what its run reports: the best check's weights across a resume, only a run's own
checks after it takes another run's weights (PBT), every worker's random state, and weights that
load strictly."""
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from bertclf.checkpoint import export_model, restore
from bertclf.errors import UserError
from bertclf.models.model_io import load_weights
from bertclf.train import set_up, train


def _weights(folder):
    weights = {f"head.{k}": v for k, v in load_file(f"{folder}/head.safetensors").items()}
    return {**weights, **load_file(f"{folder}/encoder/model.safetensors")}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def declining(toy, tmp_path_factory):
    """A 4-epoch run whose valid labels are train's reversed: its best check is an early one, and a
    checkpoint at every check."""
    from bertclf.config import TrainConfig
    root = tmp_path_factory.mktemp("declining")

    def config(**overrides):
        values = dict(train_path=toy["train"], valid_path=toy["valid_flipped"], bert_name=toy["model"],
                      max_length=32, batch_size=16, n_epochs=4, lr=3e-3, lr_main=1e-3, dropout_p=0.0,
                      save_path=str(root / "runs"), run_name="full", cache_dir=str(root / "cache"),
                      progress=False, precision="fp32")
        return TrainConfig(**{**values, **overrides})
    checkpoints = {}

    def keep(metrics, save):
        checkpoints[metrics["epoch"]] = root / f"ckpt-{metrics['epoch']:g}"
        save(checkpoints[metrics["epoch"]])
    result = train(config(), report=keep)
    assert result["best"]["epoch"] < 3, "the flipped valid set should make an early check the best"
    return {"config": config, "result": result, "checkpoints": checkpoints, "root": root}


def test_a_checkpoint_after_a_worse_check_exports_the_best_checks_weights(declining):
    best = _weights(declining["result"]["run_dir"])
    export_model(declining["checkpoints"][3], declining["root"] / "exported")
    assert _same(_weights(declining["root"] / "exported"), best)
    assert not _same(_weights(declining["checkpoints"][3]), best)  # the checkpoint resumes from the latest


def test_a_resumed_run_saves_its_best_weights_not_its_last(declining):
    resumed = train(declining["config"](run_name="resumed"), resume_from=declining["checkpoints"][3])
    assert resumed["best"]["epoch"] == declining["result"]["best"]["epoch"]
    assert _same(_weights(resumed["run_dir"]), _weights(declining["result"]["run_dir"]))


def test_a_run_given_another_runs_weights_reports_only_its_own_checks(declining):
    given = train(declining["config"](run_name="given"), resume_from=declining["checkpoints"][2],
                  own_checkpoint=False)
    assert [m["epoch"] for m in given["history"]] == [3, 4]
    assert given["best"]["epoch"] in (3, 4) and given["history"][-1]["best_epoch"] in (3, 4)
    # the donor's weights and place in the schedule are taken, its best is not
    run = set_up(declining["config"](), None, None, lambda m: None)
    restore(run, declining["checkpoints"][2], own=False)
    assert run.history == [] and run.best is None and run.best_state is None and run.epoch == 3


def test_a_run_given_another_runs_weights_after_its_last_check_reports_one_check_of_them(declining):
    # PBT can exploit a trial at its last report; Tune then keeps the donor's last report as the trial's
    # until the trial reports, so a run with nothing left to train must still report a check of its own
    reports = []
    given = train(declining["config"](run_name="given_last"), resume_from=declining["checkpoints"][4],
                  own_checkpoint=False, report=lambda m, save: reports.append(m))
    assert [m["epoch"] for m in reports] == [4] and reports[0]["best_epoch"] == 4
    assert reports[0]["done_reason"] == "completed" and given["best"]["epoch"] == 4
    donors_last = declining["result"]["history"][-1]
    assert reports[0]["valid_accuracy"] == donors_last["valid_accuracy"]  # the same weights, checked again
    assert reports[0]["best_valid_accuracy"] == donors_last["valid_accuracy"] != declining["result"]["best"]["valid_accuracy"]


def test_weights_load_strictly_only_the_pooler_may_be_missing(declining, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(declining["result"]["run_dir"], folder)
    run = set_up(declining["config"](), None, None, lambda m: None)
    encoder_file = folder / "encoder" / "model.safetensors"
    weights = load_file(str(encoder_file))
    save_file({k: v for k, v in weights.items() if not k.startswith("pooler.")}, str(encoder_file))
    load_weights(run.task.model, folder)  # the pooler alone may be absent
    save_file({k: v for k, v in weights.items() if "layer.0.attention" not in k}, str(encoder_file))
    with pytest.raises(UserError, match="does not fit this model.*layer.0.attention"):
        load_weights(run.task.model, folder)
    encoder_file.unlink()
    with pytest.raises(UserError, match="without its encoder weights"):
        load_weights(run.task.model, folder)


def test_the_cuda_random_state_is_saved_and_restored(declining, tmp_path, monkeypatch):
    from bertclf import checkpoint
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.tensor([7, 8], dtype=torch.uint8)])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    state = checkpoint.rng_state()
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.tensor([1], dtype=torch.uint8)])
    checkpoint.set_rng_state([state], rank=0)
    assert torch.equal(restored[0][0], torch.tensor([7, 8], dtype=torch.uint8))


def test_a_boost_model_refuses_an_encoder_other_than_the_one_it_was_trained_on(config_for, toy, tmp_path):
    from bertclf.predict import load_model
    result = train(config_for(run_name="boost", bert_finetuning=False, boost=True, n_epochs=1))
    load_model(result["run_dir"])  # the encoder it was trained with
    changed = tmp_path / "changed_encoder"
    shutil.copytree(toy["model"], changed)
    weights = load_file(str(changed / "model.safetensors"))
    name = next(k for k in weights if "embeddings.word_embeddings" in k)
    weights[name] = weights[name] + 0.01
    save_file(weights, str(changed / "model.safetensors"))
    with pytest.raises(UserError, match="trained on the features of other .* weights"):
        load_model(result["run_dir"], encoder_path=str(changed))
