import pandas as pd

from bert_hpo_distributed.pareto import front_axes, front_section, pareto_front, pareto_png, verdict
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


def _served(front, scores):
    """front with served_columns: trial -> (copy, valid, test, fp32 valid, int8 valid)."""
    names = ["served", "served_valid_accuracy", "served_test_accuracy", "fp32_valid_accuracy", "int8_valid_accuracy"]
    return front.assign(**{name: [scores[t][i] for t in front["trial"]] for i, name in enumerate(names)})


def test_the_front_table_shows_each_member_as_served_and_the_verdict():
    spec = load_spec("imdb-deploy")
    front = _served(pareto_front(_scored(), spec), {"fast": ("int8", 0.795, 0.861, 0.80, 0.795),
                                                    "slow_best": ("fp32", 0.90, 0.866, None, None),
                                                    "middle": ("fp32", 0.85, 0.84, 0.85, 0.70)})
    section = front_section(spec, front, "a test CPU")
    assert ("| trial | valid_accuracy | valid (as served) | test | latency ms (p95) | examples/s at 64 | "
            "ONNX MB fp32 (int8 copy) |" in section)
    assert "| fast | 0.8000 | 0.7950 int8 (fp32 0.8000) | 0.8610 | 2 (3) |" in section
    assert "| slow_best | 0.9000 | 0.9000 | 0.8660 | 9 (13.5) |" in section
    assert "| middle | 0.8500 | 0.8500 fp32 (int8 0.7000, not kept) | 0.8400 |" in section
    assert section.rstrip().endswith("Fastest within 1 point of the most accurate member's test accuracy: fast, 4.5x "
                                     "faster (2 ms vs 9 ms), test 0.8610 vs 0.8660 (slow_best).")


def test_the_verdict_names_the_closest_faster_member_when_none_is_within_one_point():
    spec = load_spec("imdb-deploy")
    front = _served(pareto_front(_scored(), spec), {"fast": ("fp32", 0.80, 0.80, None, None),
                                                    "slow_best": ("fp32", 0.90, 0.866, None, None),
                                                    "middle": ("fp32", 0.85, 0.84, None, None)})
    assert verdict(front, spec) == ("None faster than the most accurate member by test accuracy is within 1 point "
                                    "of it; the closest: middle, 1.8x faster (5 ms vs 9 ms), test 0.8400 vs 0.8660 "
                                    "(slow_best).")
    front.loc[front["trial"] == "middle", "served_test_accuracy"] = 0.88  # the most accurate, yet slower than fast
    assert verdict(front, spec).startswith("None faster than the most accurate member by test accuracy is within "
                                           "1 point of it; the closest: fast, 2.5x faster (2 ms vs 5 ms), test 0.8000")
    front["served_test_accuracy"] = None  # no test split: valid as served decides
    front.loc[front["trial"] == "fast", "served_valid_accuracy"] = 0.95
    assert verdict(front, spec) == ("The most accurate member by valid accuracy, fast (0.9500), is also the fastest "
                                    "(2 ms).")


def test_there_is_no_verdict_without_latency_among_the_axes_or_scores_as_served():
    spec = load_spec("imdb-deploy")
    front = pareto_front(_scored(), spec)
    assert verdict(front, spec) == ""
    served = _served(front, {t: ("fp32", 0.8, 0.8, None, None) for t in front["trial"]})
    assert verdict(served, load_spec("imdb-deploy", ["objectives=[valid_accuracy, model_mb]"])) == ""
