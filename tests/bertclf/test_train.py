"""The training loop's promises (bertclf/train.py): it learns, accumulation is exact, it stops early,
resumes; and what a search needs from it: checks inside an epoch, a resume with new learning rates (PBT),
a stop at chance level, a refit without validation."""
import json

import pytest
import torch
from safetensors.torch import load_file

import bertclf.heap as heap
from bertclf.models.tiny_model import FAMILIES
from bertclf.train import train
from tests.helpers import sentiment_rows, train_keeping_checkpoints, write_csv


def test_learns_separable_data(config_for):
    result = train(config_for(n_epochs=6))
    assert result["best"]["valid_accuracy"] >= 0.95
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]


def _weights(run_dir):
    head = load_file(f"{run_dir}/head.safetensors")
    encoder = load_file(f"{run_dir}/encoder/model.safetensors")
    return {**{f"head.{k}": v for k, v in head.items()}, **encoder}


def test_gradient_accumulation_4x8_equals_one_step_of_32(config_for, toy, tmp_path):
    from tests.helpers import sentiment_rows, write_csv
    one_batch = write_csv(tmp_path / "32.csv", sentiment_rows(32, seed=5))
    runs = {}
    for accumulation in (1, 4):
        runs[accumulation] = train(config_for(train_path=one_batch, batch_size=32, n_epochs=1,
                                              gradient_accumulation_steps=accumulation,
                                              run_name=f"acc{accumulation}"))
    a, b = _weights(runs[1]["run_dir"]), _weights(runs[4]["run_dir"])
    initial = load_file(f"{toy['model']}/model.safetensors")
    moved = max((a[k] - initial[k]).abs().max().item() for k in initial if k in a)
    assert moved > 1e-4  # the step really changed the weights
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=2e-6, rtol=1e-4)
    assert runs[1]["history"][0]["train_loss"] == pytest.approx(runs[4]["history"][0]["train_loss"], rel=1e-5)


def test_last_partial_accumulation_is_trained_not_dropped(config_for, tmp_path):
    from tests.helpers import sentiment_rows, write_csv
    path = write_csv(tmp_path / "36.csv", sentiment_rows(36, seed=6))
    seen = []
    train(config_for(train_path=path, batch_size=32, gradient_accumulation_steps=4, n_epochs=1),
          report=lambda metrics, save: seen.append(metrics))
    assert len(seen) == 1
    from bertclf.batching import training_steps
    steps = training_steps([5] * 36, 32, 4, seed=42, epoch=1)
    assert sorted(i for step in steps for mb in step for i in mb) == list(range(36))
    assert [sum(len(mb) for mb in step) for step in steps] == [32, 4]


def test_early_stopping_and_best_epoch_not_last(config_for, toy):
    # valid labels are the reverse of train's: the better the model learns, the worse valid gets
    epochs = []
    result = train(config_for(valid_path=toy["valid_flipped"], n_epochs=12, early_stop=2),
                   report=lambda metrics, save: epochs.append(metrics["epoch"]))
    best = result["best"]["epoch"]
    assert len(epochs) < 12, "early stopping never stopped"
    assert epochs[-1] == best + 2
    assert best != epochs[-1]
    table = open(f"{result['run_dir']}/results.md").read()
    assert f"| {best} |" in table


def test_same_seed_same_result(config_for):
    a = train(config_for(run_name="s1", n_epochs=1))["history"][0]
    b = train(config_for(run_name="s2", n_epochs=1))["history"][0]
    assert a["train_loss"] == b["train_loss"] and a["valid_loss"] == b["valid_loss"]


def test_frozen_encoder_without_boost_trains_only_the_head(config_for, toy):
    result = train(config_for(bert_finetuning=False, n_epochs=2, lr=1e-2))
    import json
    meta = json.load(open(f"{result['run_dir']}/bert_hpo_model.json"))
    assert meta["finetuned"] is False and meta["bert_name"] == toy["model"]
    import os
    assert not os.path.exists(f"{result['run_dir']}/encoder")  # a reference to the base model only


def test_resume_from_checkpoint_continues_the_run(config_for, tmp_path):
    full, checkpoints = train_keeping_checkpoints(config_for(run_name="full", n_epochs=3), tmp_path)
    resumed = train(config_for(run_name="resumed", n_epochs=3), resume_from=checkpoints[2])
    assert [m["epoch"] for m in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][2]["valid_loss"] == pytest.approx(full["history"][2]["valid_loss"], rel=1e-4)


def test_num_workers_pad_batches_in_other_processes_with_the_same_result(config_for):
    inline = train(config_for(run_name="w0", n_epochs=1))["history"][0]
    workers = train(config_for(run_name="w2", n_epochs=1, num_workers=2))["history"][0]
    assert workers["train_loss"] == pytest.approx(inline["train_loss"], rel=1e-6)
    assert workers["valid_loss"] == pytest.approx(inline["valid_loss"], rel=1e-6)


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


@pytest.mark.parametrize("pooling, layers, head", [("mean+max", "last4", "mlp"), ("cls", "last4", "linear")])
def test_boost_variants_train_save_and_predict_as_evaluated(config_for, toy, pooling, layers, head):
    from bertclf.tasks.classification.predict import predict_texts
    from bertclf.predict import load_model
    from bertclf.data.examples import read_examples
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


def _predict_accuracy(run_dir, rows, tmp_path, capsys) -> float:
    from launch import main  # the user-facing parser
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(t for t, _ in rows), encoding="utf-8")
    capsys.readouterr()
    assert main(["--predict", "--model", run_dir, "--input", str(texts)]) == 0
    predicted = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    return sum(p == y for p, (_, y) in zip(predicted, rows)) / len(rows)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_fine_tunes_and_boosts_with_every_default_and_predicts_as_evaluated(
        families, family, config_for, tmp_path, capsys):
    """Pooling left at its default (cls): a family without a pooler reads the first token's state, in
    fine-tuning, in boost's frozen features and in the saved model's predictions alike."""
    from bertclf.train import train
    rows = sentiment_rows(80, seed=2)  # the toy set's valid rows
    for options in ({"bert_finetuning": True}, {"bert_finetuning": False, "boost": True, "lr": 1e-2}):
        config = config_for(bert_name=families[family], n_epochs=1, max_train_samples=96, run_name=f"run-{family}",
                            overwrite=True, **options)
        result = train(config)
        assert result["run_dir"] and result["history"][-1]["epoch"] == 1
        assert _predict_accuracy(result["run_dir"], rows, tmp_path, capsys) == result["best"]["valid_accuracy"]


@pytest.mark.parametrize("family", ["distilbert", "electra"])
def test_a_family_without_a_pooler_learns_from_its_first_token(families, family, config_for, capsys):
    from bertclf.train import train
    result = train(config_for(bert_name=families[family], n_epochs=6, run_name=f"learn-{family}"))
    assert result["best"]["valid_accuracy"] >= 0.9
    assert f"({family}, 512 positions, sdpa attention); pooling cls = the first token's hidden state (no pooler)" \
        in capsys.readouterr().err


def test_train_seed_changes_the_training_but_not_the_held_out_split(config_for):
    import torch
    from bertclf.inputs import inputs_key, prepare_inputs
    from bertclf.train import train
    configs = [config_for(valid_path=None, valid_fraction=0.25, n_epochs=1, run_name=f"s{s}", train_seed=s)
               for s in (1, 2)]
    inputs = [prepare_inputs(c, lambda m: None) for c in configs]
    assert inputs[0].description == inputs[1].description  # the same held-out rows
    assert torch.equal(inputs[0].labels["valid"], inputs[1].labels["valid"])
    assert inputs_key(configs[0]) == inputs_key(configs[1])  # a search prepares them once for every seed
    first, second = (train(c, inputs=i)["history"][0] for c, i in zip(configs, inputs))
    assert first["train_loss"] != second["train_loss"]
    assert configs[0].training_seed == 1 and config_for().training_seed == config_for().seed


def test_an_int8_run_scores_each_check_on_its_int8_copy_and_keeps_fp32_beside(config_for):
    history = train(config_for(precision="int8", n_epochs=2), log=lambda s: None)["history"]
    plain = train(config_for(n_epochs=2, run_name="fp32"), log=lambda s: None)["history"]
    for check, fp32 in zip(history, plain):
        # trained in fp32 alike: the fp32 scores are the plain run's; the reported ones the int8 copy's
        assert check["fp32_valid_loss"] == pytest.approx(fp32["valid_loss"], rel=1e-5)
        assert check["valid_loss"] != check["fp32_valid_loss"]
        assert check["valid_loss"] == pytest.approx(check["fp32_valid_loss"], abs=0.05)
    assert not any(key.startswith("fp32_") for key in plain[0])


def test_training_gives_its_free_heap_back_as_it_goes(config_for, monkeypatch):
    """Passes of many shapes leave free C heap behind, which grew a 2-worker chunks refit's workers to
    twice their working set (bench/results/imdb_chunks): the loop trims it every heap.TRIM_EVERY_S."""
    trims = []
    monkeypatch.setattr(heap, "TRIM_EVERY_S", 0.0)
    monkeypatch.setattr(heap, "trim_heap", lambda: trims.append(1))
    train(config_for(n_epochs=1, batch_size=32))
    assert len(trims) == 320 // 32  # after each of the epoch's steps (320 train texts, valid in its own file)


def test_a_long_epoch_without_validation_checks_on_the_clock_and_resumes_inside_it(config_for, tmp_path):
    """A refit trains all of train in epochs of hours on a CPU (bench/results/imdb_chunks): checks on the
    clock give it checkpoints inside an epoch, and a run resumed from one ends with the same weights."""
    config = config_for(valid_path=None, valid_fraction=0.0, n_epochs=2, batch_size=32, dropout_p=0.1)
    reports = []

    def keep(metrics, save):
        reports.append(metrics)
        save(tmp_path / "last")  # overwritten at each check: the final weights stay
        if len(reports) == 4:
            save(tmp_path / "at-4")
    said = []
    train(config, report=keep, save_run=False, check_every_s=1e-9, log=said.append)  # due after every step
    assert "epoch 0.1: train loss" in "\n".join(said) and "(best)" not in "\n".join(said)  # no score to be best at
    # 320 train texts, 10 steps an epoch: a check after each, none of them validating
    assert [m["epoch"] for m in reports] == [round(0.1 * k, 4) for k in range(1, 21)]
    assert all("valid_loss" not in m for m in reports)
    clocked = _weights(tmp_path / "last")

    plain = []
    train(config, report=lambda m, save: (plain.append(m["epoch"]), save(tmp_path / "plain")), save_run=False)
    assert plain == [1, 2]  # without the clock: a check at the end of each epoch
    resumed = []
    train(config, report=lambda m, save: (resumed.append(m["epoch"]), save(tmp_path / "resumed")),
          save_run=False, resume_from=tmp_path / "at-4")
    assert resumed == [1, 2]  # from step 4 of epoch 1 to the epoch's end
    for other in (_weights(tmp_path / "plain"), _weights(tmp_path / "resumed")):
        assert other.keys() == clocked.keys() and all(torch.equal(other[k], clocked[k]) for k in clocked)
