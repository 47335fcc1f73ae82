"""The Tune RunConfig that every Tuner of a search shares (the search's trials, the seed repeats):
under the storage path, checkpoints kept by the search's metric, failures retried (a worker that
died; bad input a trial finds, a UserError, and a trial Ray's memory monitor ended fail it at once), Ray's console
quiet unless --verbose, and each trial's working folder uploaded to its trial folder, which is where
its trial.log is written (ray_compat.trial_working_directory)."""
from bertclf.errors import UserError

from . import ray_compat
from .searchers import checkpoints_kept


def run_config(plan, name: str, callbacks, **extra):
    """RunConfig for the Tuner `name` (its folder under the storage path); extra: e.g. stop=."""
    from ray import tune
    spec = plan.spec
    ray_compat.fail_at_once(UserError)
    ray_compat.trial_out_of_memory_fails_the_trial()
    return tune.RunConfig(
        name=name, storage_path=plan.experiment.rsplit("/", 1)[0], verbose=1 if plan.opts.verbose else 0,
        callbacks=list(callbacks), sync_config=tune.SyncConfig(sync_artifacts=True),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_kept(spec), checkpoint_score_attribute=spec.score_key,
                                                checkpoint_score_order=spec.mode),
        failure_config=tune.FailureConfig(max_failures=spec.max_failures), **extra)
