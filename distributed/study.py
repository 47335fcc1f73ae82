"""The Optuna study behind a TPE search, in a database: SQLite in the output folder (optuna.db) by
default, any SQLAlchemy URL with --study-storage (PostgreSQL on a cluster's head). The study is named
after the search and holds every trial as Optuna sees it (its parameters, the score at each check,
the final value, its state), so `optuna-dashboard URL` shows the search live: trials, intermediate
values, importances.

The searcher runs in the driver (Tune's controller), so the driver alone writes the study: a SQLite
file is on the driver's machine. Tune pickles the searcher with its experiment state; the storage
pickles as its URL and reconnects when a --resume restores it, so a resumed search goes on writing
the same study (see searchers.py for the trials a killed driver leaves behind).

PBT has no study: Ray takes no searcher beside PBT, whose population is drawn at random.
"""
from pathlib import Path
from bertclf.errors import UserError

STUDY_DB = "optuna.db"


def has_study(spec) -> bool:
    """Whether the search's configurations come from an Optuna study (TPE; not PBT's random draws)."""
    return spec.scheduler.type != "pbt"


def study_url(opts, out_dir: Path) -> str:
    """The storage URL of the search's study: --study-storage, else SQLite in the output folder."""
    return opts.study_storage or f"sqlite:///{out_dir / STUDY_DB}"


def shown(url: str) -> str:
    """`url` with its password hidden, for the console and error lines."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: the open says so
        return url


def study_storage(plan):
    """The Optuna storage of the search's study (its tables made when new), None for PBT; a URL that
    cannot be opened is a UserError naming --study-storage."""
    if not has_study(plan.spec):
        return None
    import logging
    import optuna
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema's set-up logs at INFO
    url = study_url(plan.opts, plan.out_dir)
    if not plan.opts.study_storage:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as e:  # noqa: BLE001 - any failure to open the database is the user's URL
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--study-storage {shown(url)}: cannot open this database ({reason}); expected an "
                        f"SQLAlchemy URL such as sqlite:///path/optuna.db or "
                        f"postgresql://user:password@host/db") from None


def check_study(plan) -> str:
    """Before Ray starts: a TPE search's storage opens; a new search needs its study name free there, a
    --resume needs its study there. PBT takes no --study-storage. A study of the name in which no trial
    was ever asked (a search that failed before its first trial left it, its first points queued at
    most) holds no result: a new search removes it and makes it again, and the line returned says so
    ("" otherwise)."""
    opts = plan.opts
    if not has_study(plan.spec):
        if opts.study_storage:
            raise UserError(f"--study-storage {shown(opts.study_storage)}: a PBT search has no Optuna study (its "
                            f"population is drawn at random); leave the option out")
        return ""
    url = study_url(opts, plan.out_dir)
    storage = study_storage(plan)
    names = {s.study_name for s in storage.get_all_studies()}
    if opts.resume and plan.name not in names:
        raise UserError(f"--study-storage {shown(url)}: no study {plan.name} there to continue; a resumed search "
                        f"goes on in the storage it started with")
    if opts.resume or plan.name not in names:
        return ""
    study_id = storage.get_study_id_from_name(plan.name)
    if not asked_trials(storage, study_id):
        storage.delete_study(study_id)
        return (f"study: {shown(url)} held a study {plan.name} with no trial asked (a search that stopped before "
                f"its first trial): removed, this search makes it again")
    raise UserError(f"--study-storage {shown(url)}: holds a study {plan.name} already (an earlier search of "
                    f"that name): pass --name to start another, or remove it: optuna delete-study "
                    f"--study-name {plan.name} --storage URL")


def asked_trials(storage, study_id: int) -> list:
    """The trials of the study that a searcher asked for (any state but WAITING: a queued first point)."""
    import optuna
    states = tuple(state for state in optuna.trial.TrialState if state != optuna.trial.TrialState.WAITING)
    return storage.get_all_trials(study_id, deepcopy=False, states=states)


def study_said(plan) -> str:
    """The console's line on the study: where it is and how to watch it, or that there is none."""
    if not has_study(plan.spec):
        return "study: none (PBT draws its population at random: no Optuna study to watch)"
    url = shown(study_url(plan.opts, plan.out_dir))
    return f"study: Optuna study {plan.name} in {url}; watch it live: optuna-dashboard {url}"
