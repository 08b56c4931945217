"""Optuna storages by URL: in memory, SQLite, PostgreSQL (RDB, with heartbeats) or a journal file.

    (none)                         in memory: this process only
    sqlite:///study.db             SQLite file
    postgresql://user@host/db      PostgreSQL server
    journal:study.log              journal file (also any path ending in .log or .journal)

RDB storages beat a heartbeat for every running trial: a trial whose worker died is failed
after the grace period and retried. Journal files have no heartbeat, so a trial left running
by a worker process that no longer exists on this host is failed and retried when a worker
starts (see `recover_orphans`).
"""

import os
import socket
import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hexsim.errors import ParameterError

HEARTBEAT_S = 5
GRACE_S = 20
MAX_RETRY = 3
OWNER = "hexsim_owner"


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith((".log", ".journal"))


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    if url is None:
        return optuna.storages.InMemoryStorage()
    if is_journal(url):
        path = Path(url.removeprefix("journal:"))
        if path.is_dir():
            raise ParameterError("storage", f"{url}: {path} is a folder; give the journal file's name")
        if not path.parent.is_dir():
            raise ParameterError("storage", f"folder of journal file {str(path)!r} does not exist")
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith(("sqlite:", "postgresql:", "postgresql+", "mysql:", "mysql+")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
                )
        except Exception as err:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ParameterError("storage", f"cannot open {_redacted(url)}: {first}") from None
    raise ParameterError("storage", f"unknown storage {url!r} (use sqlite:///FILE, postgresql://..., or journal:FILE)")


def _redacted(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}{sep}{credentials.split(':')[0]}@{host}"


def owner_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def recover_orphans(study: optuna.Study) -> None:
    """Fail and re-enqueue trials left running by dead worker processes of this host."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER, "")
        owner_host, _, pid = owner.partition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        # An enqueued trial's own parameters are its fixed ones; it may have died before drawing them all.
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        study.enqueue_trial(params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
