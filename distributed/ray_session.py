"""Start or join Ray; local Ray stays on 127.0.0.1 (dashboard included) unless asked otherwise."""
import os


def loopback_environment() -> None:
    # Without this, Ray advertises the machine's interface address and opens its ports there.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # num_to_keep forces a state snapshot per checkpoint; with seconds-long trials Tune warns each time
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def start(address=None, num_cpus=None, dashboard_host="127.0.0.1") -> bool:
    """Connect to `address`, or start a local Ray; True when this call started it."""
    loopback_environment()
    import ray
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=True)
        return False
    # The dashboard process also reaps the worker groups of trials that ASHA stops early;
    # without it a stopped TorchTrainer trial's reservation leaked (../shared/RAY.md).
    ray.init(num_cpus=num_cpus, include_dashboard=True, dashboard_host=dashboard_host,
             _node_ip_address="127.0.0.1", log_to_driver=True)
    return True


def stop(started: bool) -> None:
    import ray
    if started and ray.is_initialized():
        ray.shutdown()
