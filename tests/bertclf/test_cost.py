import pytest

import bertclf.cost as cost_module
from bertclf.config import TrainConfig
from bertclf.cost import COLUMNS, Timing, beyond_limits, cached_cost, cost_key, said_limits, violations
from bertclf.errors import UserError
from bertclf.models.tiny_model import build_tiny_bert

TEXTS = ["a good film, well acted", "dull and far too long " * 30, "fine", "the plot made no sense at all"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny"), TEXTS * 5, vocab_size=200)


def test_the_key_holds_the_architecture_and_the_windows_only_where_texts_are_cut_into_them():
    head = TrainConfig(max_length=64, pooling="mean")
    assert dict(cost_key(head)) == {"bert_name": "bert-base-uncased", "encoder_layers": None, "max_length": 64,
                                    "truncation": "head", "pooling": "mean", "layers": "last", "head": "linear",
                                    "precision": "fp32"}
    assert cost_key(head) == cost_key(TrainConfig(max_length=64, pooling="mean", lr_main=1e-4, doc_stride=16,
                                                  bert_finetuning=False, precision="bf16"))
    assert cost_key(head) != cost_key(TrainConfig(max_length=64, pooling="mean", precision="int8"))
    assert cost_key(head) != cost_key(TrainConfig(max_length=64, pooling="mean", encoder_layers=1))
    chunks = TrainConfig(max_length=64, truncation="chunks", doc_stride=16)
    assert dict(cost_key(chunks))["doc_stride"] == 16 and cost_key(chunks) != cost_key(TrainConfig(
        max_length=64, truncation="chunks", doc_stride=8))


def test_latency_and_size_are_at_most_their_limits_and_throughput_at_least_its():
    values = {"latency_ms": 12.0, "throughput": 50.0, "model_mb": 90.0}
    assert violations(values, {"latency_ms": 12, "throughput": 50, "model_mb": 100}) == []
    assert violations(values, {"latency_ms": 10, "throughput": 80}) == ["latency_ms 12 > 10", "throughput 50 < 80"]
    assert beyond_limits(values, {"latency_ms": 10, "throughput": 80}) == {"latency_ms": 2.0, "throughput": 30.0}
    assert said_limits({"latency_ms": 10, "throughput": 80}) == "latency_ms <= 10, throughput >= 80"


@pytest.mark.parametrize("truncation", ["head", "chunks"])
def test_a_cost_is_measured_once_per_architecture_then_read_from_the_cache(tiny, tmp_path, monkeypatch, truncation):
    config = TrainConfig(bert_name=tiny, max_length=32, truncation=truncation, doc_stride=8, pooling="mean")
    first = cached_cost(config, tiny, TEXTS, None, "cpu", Timing(texts=3, repeats=1), str(tmp_path))
    assert set(first.values()) == set(COLUMNS) and all(v > 0 for v in first.values().values())
    assert first.model_mb_int8 < first.model_mb and first.latency_ms <= first.latency_p95_ms
    assert "cores (CPU)" in first.hardware

    def measured_again(*args):
        raise AssertionError("measured again")
    monkeypatch.setattr(cost_module, "measure_cost", measured_again)
    assert cached_cost(config, tiny, TEXTS, None, "cpu", Timing(texts=3, repeats=1), str(tmp_path)) == first
    wider = TrainConfig(bert_name=tiny, max_length=32, truncation=truncation, doc_stride=8, pooling="cls")
    with pytest.raises(AssertionError, match="measured again"):  # another architecture: not in the cache
        cached_cost(wider, tiny, TEXTS, None, "cpu", Timing(texts=3, repeats=1), str(tmp_path))


def test_a_device_onnxruntime_cannot_run_on_is_one_error_naming_the_option(tiny, tmp_path, monkeypatch):
    import onnxruntime
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(UserError, match="--serve-device cuda: onnxruntime here has no CUDAExecutionProvider"):
        cost_module.measure_cost(TrainConfig(bert_name=tiny), tiny, TEXTS, None, "cuda", Timing(2, 1), tmp_path)


def test_an_int8_model_costs_its_int8_copy_and_a_cut_encoder_is_smaller(tiny, tmp_path):
    def measured(**options):
        config = TrainConfig(bert_name=tiny, max_length=32, pooling="mean", **options)
        return cached_cost(config, tiny, TEXTS, None, "cpu", Timing(texts=2, repeats=1), str(tmp_path))
    fp32, int8, cut = measured(), measured(precision="int8"), measured(encoder_layers=1)
    assert int8.model_mb == int8.model_mb_int8 == fp32.model_mb_int8 < fp32.model_mb  # the file it serves
    assert cut.model_mb < fp32.model_mb and cut.model_mb_int8 < fp32.model_mb_int8  # one layer of the two
