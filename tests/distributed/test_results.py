"""results.py without Ray running: a trial's row is its last report as Tune holds it, and the checkpoint
exported for it is the one that holds that report's best check, also after PBT gave the trial a donor's.
(The end-to-end check, a PBT search whose exported model is re-scored: tests/distributed/test_search.py.)"""
import pandas as pd
from ray.tune import Checkpoint, Result

from bert_hpo_distributed.results import best_checkpoint, trial_table
from bert_hpo_distributed.spec.load import load_spec

CONFIG = {"lr": 0.01, "lr_main": 0.001, "max_length": 64, "dropout_p": 0.1, "gradient_accumulation_steps": 1,
          "mode": "finetune"}


def report(epoch, best_epoch, best, checkpoint_dir_name, **extra):
    return {"epoch": epoch, "best_epoch": best_epoch, "best_valid_accuracy": best, "valid_accuracy": best,
            "best_valid_loss": 0.5, "best_train_loss": 0.4, "done_reason": "completed" if epoch == 4 else "",
            "time_total_s": 10.0, "timestamp": 1_700_000_000 + epoch, "training_iteration": epoch,  # Tune's own
            "checkpoint_dir_name": checkpoint_dir_name,
            "config": CONFIG, **extra}


def trial(tmp_path, name, checkpoints=("checkpoint_000000",)):
    folder = tmp_path / "trials" / name
    for checkpoint in checkpoints:
        (folder / checkpoint).mkdir(parents=True)
    return folder


class Grid(list):
    """A ResultGrid's two faces: its Results, and get_dataframe(), which Ray builds from each trial's
    result.json (here the stale copy a trial restart leaves: the last reports lost)."""

    def __init__(self, results, stale_rows):
        super().__init__(results)
        self.stale_rows = stale_rows

    def get_dataframe(self):
        return pd.DataFrame(self.stale_rows)


def test_a_row_is_the_trials_last_report_not_its_results_file(tmp_path):
    folder = trial(tmp_path, "trial_a_00000", ["checkpoint_000002", "checkpoint_000003"])
    last = report(4, 4, 0.875, "checkpoint_000003", trial_id="a_00000")
    result = Result(metrics=last, checkpoint=Checkpoint(str(folder / "checkpoint_000003")), error=None,
                    path=str(folder), metrics_dataframe=None)
    stale = report(3, 3, 0.8333, "checkpoint_000002", trial_id="a_00000")
    row = trial_table(Grid([result], [stale]), load_spec("imdb", profile=["cpu", "smoke"])).iloc[0]
    assert (row["epochs_run"], row["best_epoch"], row["best_valid_accuracy"]) == (4, 4, 0.875)
    assert row["status"] == "completed"
    assert best_checkpoint(result).path == str(folder / "checkpoint_000003")


def test_a_trial_exploited_at_its_last_check_exports_its_own_checkpoint(tmp_path):
    donor = trial(tmp_path, "trial_a_00001", ["checkpoint_000003"])
    folder = trial(tmp_path, "trial_a_00000", ["checkpoint_000003"])
    # PBT made the donor's checkpoint this trial's latest while the trial's last report is its own: the
    # export follows the report, not Tune's latest checkpoint
    result = Result(metrics=report(4, 4, 0.8333, "checkpoint_000003", trial_id="a_00000", done=True),
                    checkpoint=Checkpoint(str(donor / "checkpoint_000003")), error=None, path=str(folder),
                    metrics_dataframe=None)
    assert best_checkpoint(result).path == str(folder / "checkpoint_000003")


def test_a_trial_stopped_before_reporting_after_an_exploit_shows_its_own_last_report(tmp_path):
    """PBT gave the trial a donor's weights, then the time budget stopped it before its next check:
    Tune holds the donor's last report as the trial's (Trial.on_restore). The row and the export are
    the trial's own last report and checkpoint; a trial that never reported has no score."""
    donor = trial(tmp_path, "trial_a_00001", ["checkpoint_000003"])
    folder = trial(tmp_path, "trial_a_00000", ["checkpoint_000001"])
    donors = report(4, 4, 0.875, "checkpoint_000003", trial_id="a_00001")
    own_config = {**CONFIG, "lr": 0.02}
    # Result.metrics_dataframe: the trial's own results file, its columns flattened as Ray reads them
    own = pd.json_normalize([{**report(e, e, acc, f"checkpoint_00000{e - 1}", trial_id="a_00000"), "config": own_config}
                             for e, acc in ((1, 0.75), (2, 0.7917))], sep="/")
    result = Result(metrics=donors, checkpoint=Checkpoint(str(donor / "checkpoint_000003")), error=None,
                    path=str(folder), metrics_dataframe=own)
    never = trial(tmp_path, "trial_a_00002", [])
    silent = Result(metrics=donors, checkpoint=Checkpoint(str(donor / "checkpoint_000003")), error=None,
                    path=str(never), metrics_dataframe=None)
    unstarted = Result(metrics={"trial_id": "a_00003"}, checkpoint=None, error=None,
                       path=str(tmp_path / "trials" / "trial_a_00003"), metrics_dataframe=None)
    table = trial_table(Grid([silent, result, unstarted], []), load_spec("imdb", profile=["cpu", "smoke"]))
    assert list(table["trial"]) == ["trial_a_00000", "trial_a_00002"]  # the one the budget left unstarted: no row
    row = table.iloc[0]
    assert (row["epochs_run"], row["best_epoch"], row["best_valid_accuracy"]) == (2, 2, 0.7917)
    assert row["lr"] == 0.02 and row["config"] == own_config  # its own hyperparameters, not the donor's
    assert pd.isna(table.iloc[1]["best_valid_accuracy"]) and table.iloc[1]["epochs_run"] == 0
    assert best_checkpoint(result).path == str(folder / "checkpoint_000001")
    assert best_checkpoint(silent) is None


def test_a_multi_worker_trials_checkpoint_is_its_last_report_even_when_its_results_file_is_stale(tmp_path):
    """A TorchTrainer's checkpoints live in Ray Train's storage and are named only in the reports; after a
    restart the trial's results file can miss its last reports (see the module's docstring)."""
    train_storage = tmp_path / "train"
    for name in ("checkpoint_000001", "checkpoint_000002"):
        (train_storage / name).mkdir(parents=True)
    folder = trial(tmp_path, "trial_a_00000", [])
    last = report(4, 4, 0.875, None, trial_id="a_00000", checkpoint_path=str(train_storage / "checkpoint_000002"))
    stale = pd.DataFrame([report(3, 3, 0.8333, None, trial_id="a_00000",
                                 checkpoint_path=str(train_storage / "checkpoint_000001"))])
    result = Result(metrics=last, checkpoint=None, error=None, path=str(folder), metrics_dataframe=stale)
    assert best_checkpoint(result).path == str(train_storage / "checkpoint_000002")
    gone = Result(metrics={**last, "checkpoint_path": str(tmp_path / "deleted")}, checkpoint=None, error=None,
                  path=str(folder), metrics_dataframe=stale)
    assert best_checkpoint(gone).path == str(train_storage / "checkpoint_000001")
