"""Boost features on demand: each frozen-feature pass of a local CPU search runs when the first trial
that needs its input key starts, not every pass before the first trial.

On a CPU the passes are most of a boost search (six of the IMDB search's eight minutes, four passes),
and the searcher may never propose a configuration of some keys, or prune all of them at the first
rung. A FeaturePasses actor holds, per token key, the pass that computes every feature variant of it:
the first trial that asks runs it in the actor (which has torch and the model code imported already:
a Ray task would cost a fresh process importing them) and puts each variant in the object store;
every trial asking for the same key waits for that pass and gets the same ObjectRefs, so a key costs
one pass however many trials read it, and a pass that fails raises its error in every trial that
asked. The actor asks for no CPU of its own: a pass runs on the CPUs of the trials that wait for it
(the waiting trials hold the CPUs, so a pass that asked for one could wait behind them for ever).
Passes run one at a time, not side by side on a thread each: the first one asked for ends sooner, the
last one of a search (often alone) is not left on one thread, and a pass
takes the rows it shares with the passes before it (feature_cache.RowMemo: a text shorter than the
window is the same row under head and head+tail) instead of encoding them again beside them. The
disk feature cache works as for passes run up front (a pass computed before is loaded), and a resumed
search's trials ask again. A pass runs on the CPUs of the trials waiting for a pass, counted again
before each batch: beside a running trial, a pass on all the CPUs made both crawl (OpenMP's threads
wait for the one that lost its core; a 512-token pass of the IMDB boost anchor encoded about 10 windows
a second beside one trial: bench/results/imdb_chunks/boost/console_before_the_thread_fix.log). On a GPU (a pass takes seconds) and on a cluster, the passes run before
the first trial (shared.share_inputs).

Slicing a key's train features by rung (computing the first rung's share first) is not done: a
pass's cost is the encoder over every split, valid and test included, and no measurement here says
slices would save more than the time they add (a pass per slice, each loading the encoder).
"""
import threading
import time
from typing import Dict, Iterable, List, Sequence

import ray
from ray.tune import Callback

from bertclf.inputs import InputsKey, TokensKey, inputs_key, tokens_key

from .feature_estimate import pass_name
from .shared import Shared, compute_features


# ref_for calls served at once (a thread each): every trial waiting for a pass holds one; a call beyond
# them waits in the actor's queue
CALLERS = 64
ACTOR = "bert-hpo-feature-passes"  # the FeaturePasses actor's name (PassNews finds it by it)
# a pass still running this long after its start is told as running; one that ends sooner (a small data
# set, features loaded from the disk cache) is told once, when ready: a line per pass, not two
TELL_AFTER_S = 10.0


class PassLines:
    """The console's lines of the passes, kept until the driver asks (news): a pass's end (`ready in`),
    its progress, and its start where it ran TELL_AFTER_S or more. clock: seconds, monotonic."""

    def __init__(self, tell_after_s: float = TELL_AFTER_S, clock=time.perf_counter):
        self.tell_after_s, self.clock = tell_after_s, clock
        self.lines: List[str] = []  # said since the driver last asked
        self.untold = None  # (name, started) of the pass that runs, until its start is told
        self.lock = threading.Lock()

    def started(self, name: str) -> float:
        """Records the start of pass `name`; returns its start time."""
        with self.lock:
            self.untold = (name, self.clock())
            return self.untold[1]

    def said(self, line: str) -> None:
        """A line of the running pass (its progress): its start is told before it."""
        with self.lock:
            self._tell_start()
            self.lines.append(line)

    def ended(self, name: str, started: float, failed: bool = False) -> None:
        with self.lock:
            self.untold = None
            seconds = f"{self.clock() - started:.0f} s"
            self.lines.append(f"boost features at {name}: failed after {seconds} (the trials that need them fail "
                              f"with its error)" if failed else f"boost features at {name}: ready in {seconds}")

    def news(self) -> List[str]:
        """The lines since the last call, the running pass's start among them once it has run
        tell_after_s."""
        with self.lock:
            if self.untold and self.clock() - self.untold[1] >= self.tell_after_s:
                self._tell_start()
            lines, self.lines = self.lines, []
        return lines

    def _tell_start(self) -> None:
        if self.untold:
            self.lines.append(f"boost features at {self.untold[0]}: computing, for the trials that need them")
            self.untold = None


@ray.remote(num_cpus=0, max_concurrency=CALLERS)
class FeaturePasses:
    """The passes of a search, run as trials ask: {TokensKey: (config, inputs ref, variants)}, one at a
    time, on the CPUs of the trials waiting for one (`trial_cpus` each; the search has `cpus`): a trial
    that runs beside a pass keeps its own CPU (threads)."""

    def __init__(self, passes: Dict[TokensKey, tuple], cpus: int, trial_cpus: float, shared: Shared,
                 tell_after_s: float = TELL_AFTER_S):
        self.passes, self.cpus, self.trial_cpus, self.shared = passes, cpus, trial_cpus, shared
        self.asking = 0  # trials in ref_for: waiting for a pass, their CPUs idle
        self.lock = threading.Lock()  # guards `done`: the first caller of a key runs its pass
        self.encoding = threading.Lock()  # held by the pass that runs
        self.done: Dict[TokensKey, threading.Event] = {}  # set once the key's pass has ended
        self.refs: Dict[TokensKey, Dict[tuple, "ray.ObjectRef"]] = {}
        self.errors: Dict[TokensKey, Exception] = {}
        self.lines = PassLines(tell_after_s)

    def ref_for(self, key: InputsKey) -> List["ray.ObjectRef"]:
        """[the ObjectRef of `key`'s features] (in a list, so that the caller gets the reference, not
        the value): its pass run now if no one asked for its token key before, else the one that ran or
        runs, waited for. Raises the pass's error, in every caller of the key, where it failed."""
        with self.lock:
            self.asking += 1
        try:
            self._ended(key.tokens)
        finally:
            with self.lock:
                self.asking -= 1
        if key.tokens in self.errors:
            raise self.errors[key.tokens]
        return [self.refs[key.tokens][key.features]]

    def start(self, key: InputsKey) -> None:
        """`key`'s pass run now if no one asked for its token key before; an error it raises is kept for
        the trials that ask (ref_for), since no one reads this call's result."""
        self._ended(key.tokens)

    def _ended(self, tokens: TokensKey) -> None:
        """Returns once the pass of `tokens` has ended: run here by the first caller, waited for by the
        others; its refs in self.refs, or its error in self.errors."""
        with self.lock:
            first = tokens not in self.done
            done = self.done.setdefault(tokens, threading.Event())
        if first:
            try:
                self.refs[tokens] = self._computed(tokens)
            except Exception as e:  # kept for the callers waiting for this pass and those after them
                self.errors[tokens] = e
            finally:
                done.set()
        done.wait()

    def threads(self) -> int:
        """The torch threads a pass may use now: the CPUs of the trials waiting for one (at least one
        thread; the driver's start of the first trial's pass waits for no trial yet)."""
        with self.lock:
            return max(1, min(self.cpus, int(self.asking * self.trial_cpus)))

    def news(self) -> List[str]:
        """The lines the passes said since the last call (PassLines)."""
        return self.lines.news()

    def _computed(self, tokens: TokensKey) -> Dict[tuple, "ray.ObjectRef"]:
        """{variant: ObjectRef of the inputs with its features}: the encoder pass of `tokens`."""
        config, inputs, variants = self.passes[tokens]
        name = pass_name(config)
        with self.encoding:
            started = self.lines.started(name)
            progress = f"boost features at {name}, "  # + "encoding train: 3,584 of 10,863 windows in 30 s, ..."
            try:
                features = compute_features(ray.get(inputs), config, variants, self.shared, self.threads,
                                            progress=lambda line: self.lines.said(progress + line.removeprefix("boost: ")))
            except Exception:
                self.lines.ended(name, started, failed=True)
                raise
            self.lines.ended(name, started)
        return {variant: ray.put(value)
                for variant, value in zip(variants, features if len(variants) > 1 else (features,))}


class PassNews(Callback):
    """The console's lines of the passes on demand: the driver asks the FeaturePasses actor for them
    every EVERY_S seconds of the trials, and before a finished trial's line (it comes before Progress in
    the callbacks), so that a pass is told before the trials that read it (a pass runs inside the actor,
    whose output is not the console). It finds the actor by its name: Tune keeps its callbacks with the
    experiment, and a resumed search has a new actor under the same name."""
    EVERY_S = 5.0
    # set once the actor's process has ended; a class default, because a resumed search unpickles the
    # callback its first session made (Tune's tuner.pkl), which may predate an attribute
    gone = False

    def __init__(self, say):
        self.say, self.last = say, 0.0

    def on_step_end(self, iteration, trials, **info):
        if time.perf_counter() - self.last >= self.EVERY_S:
            self._tell()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._tell()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._tell()

    def on_experiment_end(self, trials, **info):
        self._tell()  # what the last pass said after the last ask

    def _tell(self) -> None:
        self.last = time.perf_counter()
        if self.gone:
            return
        try:
            passes = ray.get_actor(ACTOR)
        except ValueError:  # a search whose passes are all done and the actor gone, or none started
            return
        try:
            lines = ray.get(passes.news.remote())
        except ray.exceptions.RayError:  # its process ended (Ray's memory monitor): the trials that ask say so
            self.gone = True
            return
        for line in lines:
            self.say(line)


def on_demand(plan) -> bool:
    """Passes run as trials ask: a local search on the CPU, whose driver holds the token ids."""
    return plan.local and not plan.use_gpu and plan.spec.tokenize_on == "driver" and plan.opts.share_inputs


def start_passes(pending, shared: Shared, cpus: int, trial_cpus: float) -> None:
    """Record the passes of `pending` [(config, inputs, [InputsKey with features])] in `shared`, none
    started: the first trial that asks for one of a pass's keys starts it (Shared.inputs_for). cpus:
    the search's; trial_cpus: a trial's, lent to a pass while the trial waits for one."""
    passes = {tokens_key(config): (config, ray.put(inputs), sorted({key.features for key in keys}))
              for config, inputs, keys in pending}
    shared.passes = FeaturePasses.options(name=ACTOR).remote(passes, cpus, trial_cpus, Shared(models=shared.models))
    shared.waiting = frozenset(key for _, _, keys in pending for key in keys)


def start_now(shared: Shared, configs: Iterable) -> None:
    """Start the passes that the trials of `configs` (the search's first) need, without waiting."""
    for config in configs:
        key = inputs_key(config)
        if key in shared.waiting:
            shared.passes.start.remote(key)


def passes_said(passes, first: Sequence) -> str:
    """The console's plan of the passes [(config, inputs, keys)] on demand: those the first trials
    (`first`, their configurations) need run now (start_now: a fine-tuning first trial needs none),
    the others when a trial needs them."""
    first_keys = {tokens_key(config) for config in first if config.uses_feature_cache}
    named = [(pass_name(config), tokens_key(config) in first_keys) for config, *_ in passes]
    now = [name for name, is_now in named if is_now]
    later = [name for name, is_now in named if not is_now]
    return ("boost: feature passes on demand: " + (f"{', '.join(now)} now (the first trial's); " if now else "")
            + (f"{', '.join(later)} when the first trial that needs each starts" if later else "no other")
            + " (each pass computed once, its features shared by the trials that need them)")
