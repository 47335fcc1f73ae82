"""Boost features on demand (distributed/features_on_demand.py): a key's pass runs when the first trial
that needs it starts; a key no trial uses costs no pass; the disk cache serves a later search."""
import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from bertclf.config import TrainConfig
from bert_hpo_distributed.features_on_demand import ACTOR, FeaturePasses, PassLines, on_demand, passes_said
from bert_hpo_distributed.shared import Shared
from bertclf.inputs import inputs_key, prepare_inputs, prepared_for
from tests.helpers import ROOT, lines_until, read_csv, run, sentiment_rows, start_search, write_csv


def test_the_plan_says_which_passes_run_now_and_which_wait_for_a_trial():
    configs = [TrainConfig(boost=True, bert_finetuning=False, max_length=n, truncation=t)
               for n, t in ((256, "head+tail"), (128, "head+tail"), (128, "head"))]
    passes = [(config, None, set()) for config in configs]
    assert passes_said(passes, [configs[1]]) == (
        "boost: feature passes on demand: max_length 128 head+tail now (the first trial's); max_length 256 "
        "head+tail, max_length 128 head when the first trial that needs each starts (each pass computed once, "
        "its features shared by the trials that need them)")
    assert "now" not in passes_said(passes, [])  # a resumed search: every pass waits for a trial
    # a fine-tuning first trial reads no features: start_now starts no pass for it
    assert "now" not in passes_said(passes, [TrainConfig(max_length=128)])


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_quick_pass_is_told_once_and_a_long_one_when_it_has_run_a_while():
    clock = Clock()
    lines = PassLines(tell_after_s=10, clock=clock)
    lines.ended("max_length 64 head", lines.started("max_length 64 head"))  # from the disk cache, say
    assert lines.news() == ["boost features at max_length 64 head: ready in 0 s"]
    started = lines.started("max_length 512 chunks")
    clock.now += 9
    assert lines.news() == []
    clock.now += 1
    assert lines.news() == ["boost features at max_length 512 chunks: computing, for the trials that need them"]
    clock.now += 20
    lines.said("boost features at max_length 512 chunks, encoding train: 10 of 20 windows in 30 s, ~30 s left")
    clock.now += 30
    lines.ended("max_length 512 chunks", started)
    assert lines.news() == ["boost features at max_length 512 chunks, encoding train: 10 of 20 windows in 30 s, "
                            "~30 s left", "boost features at max_length 512 chunks: ready in 60 s"]
    assert lines.news() == []  # each line told once


def test_a_pass_tells_its_start_before_its_first_progress_line_and_tells_its_failure():
    clock = Clock()
    lines = PassLines(tell_after_s=10, clock=clock)
    started = lines.started("max_length 128 head+tail")
    clock.now += 5  # the driver has not asked yet
    lines.said("boost features at max_length 128 head+tail, encoding train: 1 of 9 texts in 5 s, ~40 s left")
    clock.now += 2
    lines.ended("max_length 128 head+tail", started, failed=True)
    assert lines.news() == [
        "boost features at max_length 128 head+tail: computing, for the trials that need them",
        "boost features at max_length 128 head+tail, encoding train: 1 of 9 texts in 5 s, ~40 s left",
        "boost features at max_length 128 head+tail: failed after 7 s (the trials that need them fail with its error)"]


def test_only_a_local_cpu_search_of_the_drivers_token_ids_waits_for_its_trials():
    def plan(**changes):
        values = {**dict(local=True, use_gpu=False, tokenize_on="driver", share_inputs=True), **changes}
        return SimpleNamespace(local=values["local"], use_gpu=values["use_gpu"],
                               spec=SimpleNamespace(tokenize_on=values["tokenize_on"]),
                               opts=SimpleNamespace(share_inputs=values["share_inputs"]))
    assert on_demand(plan())
    assert not any(on_demand(plan(**change)) for change in ({"local": False}, {"use_gpu": True},
                                                             {"tokenize_on": "workers"}, {"share_inputs": False}))


def boost_search(tmp_path: Path, name: str, *extra) -> list:
    """A smoke search of boost trials over max_length 64 and 128, its cache in tmp_path/cache."""
    return [sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test", "--num-cpus", "2",
            "--output-dir", str(tmp_path / "out"), "--name", name, "--set", "smoke.space.mode.choice=[boost]",
            "--set", f"smoke.fixed.cache_dir={tmp_path / 'cache'}", *extra]


def feature_entries(cache: Path) -> set:
    return {p.name for p in (cache / "features").glob("*.safetensors")}


@pytest.fixture
def two_keys(toy, tmp_path):
    """A boost spec of your own data over two keys (max_length 16 and 32: texts of 10 to 30 words, so
    the keys' token ids differ), one trial, its first at max_length 16, the cache in tmp_path/cache, the
    toy's tiny BERT (one model for every search: the cache's entries are its weights')."""
    rows = [(f"{text} {text}", label) for text, label in sentiment_rows(120, seed=3)]
    spec = {"name": "two-keys",
            "files": {"train": write_csv(tmp_path / "train.csv", rows[:90]),
                      "test": write_csv(tmp_path / "test.csv", rows[90:])},
            "fixed": {"bert_name": toy["model"], "n_epochs": 2, "cache_dir": str(tmp_path / "cache")},
            "space": {"max_length": {"choice": [16, 32]}, "mode": {"choice": ["boost"]},
                      "lr": {"loguniform": [1e-3, 1e-2]}},
            "num_samples": 1, "first_trial": {"max_length": 16}}
    path = tmp_path / "two-keys.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.mark.ray
def test_a_boost_search_computes_the_pass_of_the_key_its_trials_use_and_the_cache_serves_it_again(two_keys, tmp_path):
    """One trial at max_length 16 of a space of two keys: one pass (its entries in the cache); one trial
    at 32 adds one pass of as many entries; the first search again adds none."""
    def search(name, *extra):
        proc = run([sys.executable, str(ROOT / "launch.py"), "--search", str(two_keys), "--num-cpus", "2",
                    "--output-dir", str(tmp_path / "out"), "--name", name, *extra], timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr

    said = search("first")
    assert ("boost: feature passes on demand: max_length 16 head+tail now (the first trial's); max_length 32 head+tail "
            "when the first trial that needs each starts") in said, said[-3000:]
    # the pass runs in the actor; the console tells it, and only the pass that ran
    assert "[bert-hpo] boost features at max_length 16 head+tail: ready in " in said, said[-3000:]
    assert "boost features at max_length 32 head+tail: ready" not in said
    lines = said.splitlines()  # the pass told before the trial that read it
    ready = next(i for i, line in enumerate(lines) if ": ready in " in line)
    assert ready < next(i for i, line in enumerate(lines) if "[bert-hpo] trial 1/1" in line), said[-3000:]
    one = feature_entries(tmp_path / "cache")
    assert one, "the trial's pass wrote no features"
    search("other", "--set", "first_trial={max_length: 32}")
    both = feature_entries(tmp_path / "cache")
    assert one < both and len(both) == 2 * len(one)  # one pass more, of the same splits
    search("again")
    assert feature_entries(tmp_path / "cache") == both


@pytest.mark.ray
def test_an_interrupted_boost_search_resumes_its_trials_with_passes_on_demand(tmp_path):
    """Ctrl-C after the first trial; the resumed search's trials ask for their passes again (none runs
    before them: the first trials are Tune's) and every trial finishes."""
    cmd = boost_search(tmp_path, "resume", "--max-concurrent", "1", "--set", "smoke.num_samples=4",
                       "--set", "smoke.fixed.n_epochs=20")
    proc = start_search(cmd)
    try:
        assert any("[bert-hpo] trial 1/4" in line for line in lines_until(proc, "[bert-hpo] trial 1/4"))
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    resumed = run(cmd + ["--resume"], timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "boost: feature passes on demand: max_length 64 head+tail, max_length 128 head+tail when the first " \
           "trial that needs each starts" in resumed.stderr
    # the callback restored with the experiment finds the resumed search's actor
    assert "[bert-hpo] boost features at max_length " in resumed.stderr and ": ready in " in resumed.stderr
    trials = read_csv(tmp_path / "out" / "resume" / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials), trials


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs with its state API (the dashboard lists the tasks), stopped after the last test."""
    import ray
    from bert_hpo_distributed import ray_compat
    ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", **ray_compat.local_init_options(),
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.ray
def test_a_search_with_no_pass_to_run_starts_no_process_for_passes(local_ray, config_for):
    """A search whose trials all fine-tune (no boost key pending) has no FeaturePasses actor: a process
    importing torch, and its memory, for nothing."""
    from bert_hpo_distributed.inputs import share
    plan = SimpleNamespace(local=True, use_gpu=False, models={}, opts=SimpleNamespace(share_inputs=True),
                           spec=SimpleNamespace(tokenize_on="driver", resources=SimpleNamespace(cpus_per_worker=1)))
    assert on_demand(plan)
    config = config_for()
    shared, seconds = share(plan, {inputs_key(config): prepared_for(config, lambda m: None)}, [], print)
    assert shared.passes is None and not shared.waiting and seconds == 0.0
    assert list(shared.inputs) == [inputs_key(config)]
    assert not [a for a in local_ray.util.list_named_actors() if a == ACTOR]


def passes_of(config, inputs, cpus: int = 1):
    """A FeaturePasses actor holding the one pass of `config`'s token key, and `config`'s key."""
    import ray
    key = inputs_key(config)
    return FeaturePasses.remote({key.tokens: (config, ray.put(inputs), [key.features])}, cpus, 1, Shared()), key


def listed(name: str) -> list:
    """The Ray tasks (actor calls included) of this Ray named `name`."""
    from ray.util.state import list_tasks
    import ray
    # this test's Ray by its address: another test's Ray may run beside it (xdist)
    return list_tasks(address=ray.get_runtime_context().gcs_address, filters=[("name", "=", name)],
                      raise_on_missing_output=False)


@pytest.mark.ray
def test_trials_asking_for_one_key_share_one_pass_run_in_the_actor(local_ray, config_for):
    """Three trials at once get one ObjectRef of the features, and the pass is the actor's own (no
    compute_features task: a fresh process importing torch)."""
    config = config_for(boost=True, bert_finetuning=False)
    passes, key = passes_of(config, prepare_inputs(config, lambda line: None))
    passes.start.remote(key)  # the driver's start_now: nothing waits for it
    refs = local_ray.get([passes.ref_for.remote(key) for _ in range(3)])
    assert len({ref.hex() for [ref] in refs}) == 1
    featured = local_ray.get(refs[0][0])
    assert featured.variant == key.features and set(featured.features) == set(featured.splits)
    deadline = time.monotonic() + 30
    while len(listed("FeaturePasses.ref_for")) < 3 and time.monotonic() < deadline:  # task events come in batches
        time.sleep(0.5)
    assert len(listed("FeaturePasses.ref_for")) == 3
    assert listed("compute_features") == []
    said = local_ray.get(passes.news.remote())
    name = f"max_length {config.max_length} {config.truncation}"
    assert len(said) == 1 and said[0].startswith(f"boost features at {name}: ready in "), said  # a quick pass
    assert local_ray.get(passes.news.remote()) == []  # each line told once


@pytest.mark.ray
def test_a_pass_that_fails_raises_its_error_in_every_trial_that_asks(local_ray, config_for, tmp_path):
    import ray
    config = config_for(boost=True, bert_finetuning=False)
    inputs = prepare_inputs(config, lambda line: None)
    passes, key = passes_of(config_for(boost=True, bert_finetuning=False, bert_name=str(tmp_path / "gone")), inputs)
    assert ray.get(passes.start.remote(key)) is None  # the driver's start: its error waits for the trials
    calls = [passes.ref_for.remote(key) for _ in range(2)]
    for call in calls:
        with pytest.raises(ray.exceptions.RayTaskError) as raised:
            ray.get(call)
        assert str(tmp_path / "gone") in str(raised.value).strip().splitlines()[-1], str(raised.value)
    [said] = ray.get(passes.news.remote())  # the console says the pass failed, not that it is ready
    assert said.startswith(f"boost features at max_length {config.max_length} {config.truncation}: failed after ")


@pytest.mark.ray
def test_a_trial_asking_the_ended_passes_process_fails_in_one_line_and_the_console_goes_on(local_ray, config_for):
    """The actor's process ended (Ray's memory monitor ends the largest process): a trial that asks gets
    one line that says so (a UserError: not retried), and the driver's news callback stops asking."""
    import ray
    from bertclf.errors import UserError
    from bert_hpo_distributed.features_on_demand import ACTOR, PassNews
    config = config_for(boost=True, bert_finetuning=False)
    key = inputs_key(config)
    passes = FeaturePasses.options(name=ACTOR).remote({key.tokens: (config, ray.put(None), [key.features])}, 1, 1,
                                                      Shared())
    ray.get(passes.news.remote())  # started
    ray.kill(passes)
    with pytest.raises(UserError, match=r"^boost features: the process of the feature passes ended \("):
        Shared(passes=passes, waiting=frozenset({key})).inputs_for(key)
    said = []
    news = PassNews(said.append)
    news.on_experiment_end(trials=[])  # the actor, gone from the names, or dead under its name: nothing said
    news.on_experiment_end(trials=[])
    assert said == []


def test_a_pass_runs_on_the_cpus_of_the_trials_waiting_for_one():
    """Of a search's 4 CPUs with 1 a trial: a thread per trial waiting, at least one (the driver's start of
    the first trial's pass), never more than the search's; trials of 2 CPUs lend 2 each."""
    passes = FeaturePasses.__ray_actor_class__({}, 4, 1, Shared())
    threads = []
    for waiting in (0, 1, 3, 6):
        passes.asking = waiting
        threads.append(passes.threads())
    assert threads == [1, 1, 3, 4]
    passes = FeaturePasses.__ray_actor_class__({}, 4, 2, Shared())
    passes.asking = 1
    assert passes.threads() == 2
