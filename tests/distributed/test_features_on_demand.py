"""Boost features on demand (distributed/features_on_demand.py): a key's pass runs when the first trial
that needs it starts; a key no trial uses costs no pass; the disk cache serves a later search."""
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bertclf.config import TrainConfig
from bert_hpo_distributed.features_on_demand import on_demand, passes_said
from tests.helpers import ROOT, run


def test_the_plan_says_which_passes_run_now_and_which_wait_for_a_trial():
    configs = [TrainConfig(boost=True, bert_finetuning=False, max_length=n, truncation=t)
               for n, t in ((256, "head+tail"), (128, "head+tail"), (128, "head"))]
    passes = [(config, None, set()) for config in configs]
    assert passes_said(passes, [configs[1]]) == (
        "boost: feature passes on demand: max_length 128 head+tail now (the first trial's); max_length 256 "
        "head+tail, max_length 128 head when the first trial that needs each starts (each pass computed once, "
        "its features shared by the trials that need them)")
    assert "now" not in passes_said(passes, [])  # a resumed search: every pass waits for a trial


def test_only_a_local_cpu_search_of_the_drivers_token_ids_waits_for_its_trials():
    def plan(**changes):
        values = {**dict(local=True, use_gpu=False, tokenize_on="driver", share_inputs=True), **changes}
        return SimpleNamespace(local=values["local"], use_gpu=values["use_gpu"],
                               spec=SimpleNamespace(tokenize_on=values["tokenize_on"]),
                               opts=SimpleNamespace(share_inputs=values["share_inputs"]))
    assert on_demand(plan())
    assert not any(on_demand(plan(**change)) for change in ({"local": False}, {"use_gpu": True},
                                                             {"tokenize_on": "workers"}, {"share_inputs": False}))


def feature_entries(cache: Path) -> set:
    return {p.name for p in (cache / "features").glob("*.safetensors")}


@pytest.mark.ray
def test_a_boost_search_computes_the_pass_of_the_key_its_trials_use_and_the_cache_serves_it_again(tmp_path):
    """A space of two keys (max_length 64, 128), one trial at 64: one pass (its entries in the cache);
    a search of one trial at 128 adds one pass of as many entries; the first search again adds none."""
    cache = tmp_path / "cache"

    def search(name, max_length):
        # the shipped slice (reviews longer than 64 tokens: the two keys' token ids differ)
        proc = run([sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test", "--num-cpus", "2",
                    "--output-dir", str(tmp_path / "out"), "--name", name, "--set", "smoke.space.mode.choice=[boost]",
                    "--set", "smoke.num_samples=1", "--set", f"smoke.first_trial={{max_length: {max_length}}}",
                    "--set", f"smoke.fixed.cache_dir={cache}"], timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr

    said = search("first", 64)
    assert ("boost: feature passes on demand: max_length 64 head+tail now (the first trial's); max_length 128 "
            "head+tail when the first trial that needs each starts") in said, said[-3000:]
    one = feature_entries(cache)
    assert one, "the trial's pass wrote no features"
    search("other", 128)
    both = feature_entries(cache)
    assert one < both and len(both) == 2 * len(one)  # one pass more, of the same splits
    search("again", 64)
    assert feature_entries(cache) == both
