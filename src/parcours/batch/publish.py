"""A batch run's outputs published as a set, and what a run killed on the way (kill -9, the OOM killer, a lost
node) leaves behind put right by the next run on the same output.

A run writes each output (the lines, the rejects, the state out) to a staged file or folder beside its target,
then moves them into place, the output last. Before the first move it writes a journal beside the output naming
the three moves; it removes the journal once the set is in place or put back. A journal whose process is gone
means the run died while it published: the next run over the same output finishes the job first, forward if the
output itself had been moved into place (the run had published, only its set-aside copies remain), back otherwise
(every target gets what it held before). The staged files of dead runs (hours of a national year's writing, large)
are removed too. A process is "gone" when no process of this machine has its id: a journal written on another
machine (a shared file system) is left alone.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JOURNAL = ".{name}.publish-{pid}.json"
# What the local runner and Spark stage beside a target, by the id of the process that wrote them.
STAGED = (
    re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$"),  # local runner
    re.compile(r"^\.(?P<name>.+)\.spark-(?P<pid>\d+)(\.tmp)?$"),  # Spark's staging and work folders
    re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)$"),  # a target set aside while its replacement moved in
    re.compile(r"^\.(?P<name>.+)\.publish-(?P<pid>\d+)\.json\.partial$"),  # a journal being written
)
WORKDIR_PREFIX = ".parcours-batch-{pid}-"  # the local runner's spill folder
_WORKDIR = re.compile(r"^\.parcours-batch-(?P<pid>\d+)-")


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def backup_of(target: Path, pid: int) -> Path:
    return target.with_name(f".{target.name}.old-{pid}")


def move_into_place(moves: Sequence[tuple[Path, Path]]) -> None:
    """Each staged file or directory onto its target (same file system), as a set: what a target held is set aside
    first and put back if a later move fails, so that a failure leaves the previous outputs whole; the last move
    (the output itself) is the one that publishes the run, the others (rejects, state) being in place before it.
    The journal beside the output lets the next run finish the set if this process dies on the way."""
    pid = os.getpid()
    journal = moves[-1][1].with_name(JOURNAL.format(name=moves[-1][1].name, pid=pid))
    _write_journal(journal, [(staged, target, backup_of(target, pid)) for staged, target in moves])
    aside: list[tuple[Path, Path | None]] = []
    try:
        for staged, target in moves:
            backup = None
            if target.exists() or target.is_symlink():
                backup = backup_of(target, pid)
                remove(backup)
                os.replace(target, backup)
            aside.append((target, backup))
            os.replace(staged, target)
    except BaseException:
        for target, backup in reversed(aside):
            remove(target)
            if backup is not None:
                os.replace(backup, target)
        journal.unlink(missing_ok=True)
        raise
    for _, backup in aside:
        if backup is not None:
            remove(backup)
    journal.unlink(missing_ok=True)


def _write_journal(journal: Path, moves: Sequence[tuple[Path, Path, Path]]) -> None:
    # Absolute: the next run may start from another working directory.
    entries = [
        {"staged": str(staged.absolute()), "target": str(target.absolute()), "backup": str(backup.absolute())}
        for staged, target, backup in moves
    ]
    record = {"host": socket.gethostname(), "pid": os.getpid(), "moves": entries}
    partial = journal.with_name(journal.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, journal)  # a journal is whole or absent


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process
        return True
    return True


def recover_interrupted(output: Path, targets: Sequence[Path]) -> list[str]:
    """Before a run over ``output``: the publications of dead runs finished (forward or back, see the module),
    then the staged files and spill folders of dead runs beside ``targets`` removed. Returns what was done, in
    French, for the person running the batch."""
    notices: list[str] = []
    output, targets = output.absolute(), [target.absolute() for target in targets]
    folder = output.parent
    if not folder.is_dir():
        return notices
    prefix, suffix = f".{output.name}.publish-", ".json"
    kept: set[int] = set()  # runs alive, or of another machine: their files are theirs
    for journal in sorted(folder.glob(f"{glob.escape(prefix)}*{suffix}")):
        pid_text = journal.name[len(prefix) : -len(suffix)]
        if not pid_text.isdigit():
            continue
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # unreadable: its run's files are left as they are
            kept.add(int(pid_text))
            continue
        if record.get("host") != socket.gethostname() or _alive(int(pid_text)):
            kept.add(int(pid_text))
            continue
        try:
            notices.append(_finish(record, int(pid_text)))
        except (KeyError, TypeError, IndexError):  # not a journal of ours: left as it is
            kept.add(int(pid_text))
            continue
        journal.unlink(missing_ok=True)
    removed: set[int] = set()
    for where in sorted({folder, *(target.parent for target in targets if target.parent.is_dir())}):
        names = {target.name for target in targets if target.parent == where}
        for entry in sorted(where.iterdir()):
            pid = _stale_pid(entry.name, names, spill=where == folder)
            if pid is not None and pid not in kept and not _alive(pid):
                remove(entry)
                removed.add(pid)
    for pid in sorted(removed):
        notices.append(f"fichiers temporaires d'un lot interrompu (processus {pid}) supprimés")
    return notices


def _finish(record: dict[str, Any], pid: int) -> str:
    moves = [(Path(m["staged"]), Path(m["target"]), Path(m["backup"])) for m in record["moves"]]
    published = not moves[-1][0].exists() and moves[-1][1].exists()
    if published:  # the output was in place: only the set-aside copies remained to remove
        for _, _, backup in moves:
            remove(backup)
        return f"le lot interrompu du processus {pid} avait publié ses sorties : copies précédentes supprimées"
    for staged, target, backup in reversed(moves):
        if staged.exists():  # never moved: the target still holds, or had set aside, what it held before
            remove(staged)
            if backup.exists() and not (target.exists() or target.is_symlink()):
                os.replace(backup, target)
        else:  # moved in: the new one out, the one it replaced back
            remove(target)
            if backup.exists():
                os.replace(backup, target)
    return f"publication interrompue du lot du processus {pid} : sorties précédentes rétablies"


def _stale_pid(name: str, targets: set[str], spill: bool) -> int | None:
    workdir = _WORKDIR.match(name) if spill else None  # the spill folder is made beside OUT
    if workdir:
        return int(workdir["pid"])
    for pattern in STAGED:
        match = pattern.match(name)
        if match and match["name"] in targets:
            return int(match["pid"])
    return None
