import pandas as pd

from bert_hpo_distributed.pareto import front_axes, front_section, pareto_front, pareto_png
from bert_hpo_distributed.spec.load import load_spec


def _scored():
    rows = [("fast", 0.80, 2.0, 20.0), ("slow_best", 0.90, 9.0, 90.0), ("dominated", 0.78, 5.0, 90.0),
            ("middle", 0.85, 5.0, 90.0), ("tied_slower", 0.80, 3.0, 20.0)]
    return pd.DataFrame([{"trial": t, "best_valid_accuracy": a, "latency_ms": lat, "latency_p95_ms": 1.5 * lat,
                          "throughput": 1000 / lat, "model_mb": mb, "model_mb_int8": mb / 4, "max_length": 64,
                          "lr_main": 1e-4, "lr": 1e-3, "batch_size": 16, "mode": "finetune", "encoder_layers": 6,
                          "precision": "fp32"}
                         for t, a, lat, mb in rows])


def test_the_front_keeps_the_trials_no_other_beats_on_every_objective():
    spec = load_spec("imdb-deploy")
    assert front_axes(spec) == [("best_valid_accuracy", "max"), ("latency_ms", "min")]
    assert list(pareto_front(_scored(), spec)["trial"]) == ["fast", "slow_best", "middle"]


def test_without_cost_objectives_the_front_weighs_latency_and_size():
    spec = load_spec("imdb", ["constraints={model_mb: 100}"])
    assert front_axes(spec) == [("best_valid_accuracy", "max"), ("latency_ms", "min"), ("model_mb", "min")]
    scored = _scored()
    scored.loc[scored["trial"] == "dominated", "model_mb"] = 10.0  # smaller than any: on the front now
    assert list(pareto_front(scored, spec)["trial"]) == ["fast", "slow_best", "dominated", "middle"]


def test_results_md_section_and_plot(tmp_path):
    spec = load_spec("imdb-deploy", ["constraints={latency_ms: 10}"])
    scored = _scored()
    front = pareto_front(scored, spec)
    section = front_section(spec, front, "a test CPU")
    assert "## Pareto front" in section and "measured on a test CPU" in section and "latency_ms <= 10" in section
    assert "| fast | 0.8000 | 2 (3) | 500 | 20 (5) | 64 |" in section and "dominated" not in section
    png = pareto_png(scored, front, spec, tmp_path / "pareto.png", "test")
    assert png == tmp_path / "pareto.png" and png.read_bytes()[:4] == b"\x89PNG"
