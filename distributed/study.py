"""The Optuna study behind a TPE search, in a database: SQLite in the output folder (optuna.db) by
default, any SQLAlchemy URL with --study-storage (PostgreSQL on a cluster's head). The study is named
after the search and holds every trial as Optuna sees it (its parameters, the score at each check,
the final value, its state), so `optuna-dashboard URL` shows the search live: trials, intermediate
values, importances.

The searcher runs in the driver (Tune's controller), so the driver alone writes the study: a SQLite
file is on the driver's machine. Tune pickles the searcher with its experiment state; the storage
pickles as its URL and reconnects when a --resume restores it, so a resumed search goes on writing
the same study (see searchers.py for the trials a killed driver leaves behind).

A new search makes its study before Ray starts, recording itself (lock_holder.me: host, pid, start
time) as the study's maker, so that two drivers given one storage and one --name (PostgreSQL on a
cluster, or one SQLite file for two output folders) cannot both take the name: the second finds the
first's study, and removes it only where it is certain nothing uses it (check_study).

PBT has no study: Ray takes no searcher beside PBT, whose population is drawn at random.
"""
import os
import socket
import time
from pathlib import Path
from typing import Optional

from bertclf.errors import UserError

from .lock_holder import describe, me, running

STUDY_DB = "optuna.db"
MAKER_ATTR = "bert_hpo_maker"  # the study's user attribute holding the record of the driver that made it
# a driver records itself right after making its study: a study found without a record is read again
# after this long before it counts as made by hand (or by a version of this project that kept none)
MAKER_GRACE_S = 3.0


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
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # as does each study made (check_study makes one)
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
    """Before Ray starts: a TPE search's storage opens; a new search takes its study name there (it makes
    the study, recording itself as its maker), a --resume needs its study there. PBT takes no
    --study-storage. A study of the name in which no trial was ever asked (a search that failed before its
    first trial left it, its first points queued at most) holds no result: a new search removes it and
    makes it again, and the line returned says so ("" otherwise), unless its maker may still be about to
    ask one (free_name)."""
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
    if opts.resume:
        return ""
    said = free_name(storage, plan.name, url) if plan.name in names else ""
    make_study(storage, plan, url)
    return said


def free_name(storage, name: str, url: str) -> str:
    """Remove the study `name` where it holds no result and no other driver may still use it, saying so; a
    UserError where it holds an asked trial (an earlier search) or its maker may still ask one."""
    study_id = storage.get_study_id_from_name(name)
    if asked_trials(storage, study_id):
        raise UserError(f"--study-storage {shown(url)}: holds a study {name} already (an earlier search of "
                        f"that name): pass --name to start another, or remove it: optuna delete-study "
                        f"--study-name {name} --storage URL")
    maker = study_maker(storage, study_id)
    if not maker_gone(maker):
        raise in_use(name, url, maker)
    storage.delete_study(study_id)
    return (f"study: {shown(url)} held a study {name} with no trial asked (a search that stopped before "
            f"its first trial): removed, this search makes it again")


def make_study(storage, plan, url: str) -> None:
    """The search's study, empty, with this driver recorded as its maker (the searcher loads it); a
    UserError where another driver made one of the name since the check."""
    import optuna
    directions = ["maximize" if mode == "max" else "minimize" for _, mode in plan.spec.searched_metrics]
    try:
        study = optuna.create_study(study_name=plan.name, storage=storage, directions=directions)
    except optuna.exceptions.DuplicatedStudyError:
        study_id = storage.get_study_id_from_name(plan.name)
        raise in_use(plan.name, url, storage.get_study_user_attrs(study_id).get(MAKER_ATTR)) from None
    study.set_user_attr(MAKER_ATTR, me())


def study_maker(storage, study_id: int) -> Optional[dict]:
    """The record of the driver that made the study; None where none is recorded (read again after the
    grace a driver takes between making its study and recording itself)."""
    maker = storage.get_study_user_attrs(study_id).get(MAKER_ATTR)
    if maker is None:
        time.sleep(MAKER_GRACE_S)
        maker = storage.get_study_user_attrs(study_id).get(MAKER_ATTR)
    return maker


def maker_gone(maker: Optional[dict]) -> bool:
    """Whether the driver that made a study is done with it: none recorded, this process (an earlier
    search of it, ended), or a process of this host that has exited; one of another host may still run."""
    if not maker:
        return True
    if maker.get("host") != socket.gethostname():
        return False
    return maker.get("pid") == os.getpid() or not running(int(maker["pid"]))


def in_use(name: str, url: str, maker: Optional[dict]) -> UserError:
    return UserError(f"--study-storage {shown(url)}: study {name} was made by another search that has not asked "
                     f"its first trial yet ({describe(maker)}); pass --name to start another")


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
