"""Trials in flight on a cluster: enough that pending trials show the autoscaler the demand it scales
on, few enough that TPE proposes most of the search having seen results.

Every trial at once (the earlier rule) made TPE propose the whole search before any result came
back, so the searcher was random search (bench/results/simulation_cluster_report.md)."""
import math

# the search runs in about this many waves: TPE proposes all but the first having seen results
CLUSTER_WAVES = 4


def cluster_in_flight(num_samples: int, startup_trials: int) -> int:
    """Trials in flight on a cluster when neither --max-concurrent nor the spec's max_concurrent says:
    a quarter of the trials, at least the random start-up's (those are drawn blind anyway), at most
    all. E.g. 128 trials -> 32, 16 trials with 6 start-up trials -> 6, 2 trials -> 2."""
    return min(num_samples, max(startup_trials, math.ceil(num_samples / CLUSTER_WAVES)))
