"""A run killed while it publishes its outputs (kill -9 between two renames) or while it writes them: the next run
over the same output puts the set back whole (all the earlier outputs, or all the new ones once the output itself
was in place) and removes the dead run's staged files; a live run's or another machine's files are left alone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.batch.runner_inputs import write_two_files
from typer.testing import CliRunner

from parcours.batch.publish import JOURNAL, move_into_place, recover_interrupted
from parcours.batch.runner import adjudicate
from parcours.cli import app

NAMES = ("out.rejects.parquet", "state.parquet", "out.parquet")  # the order a run moves them in: the output last
RENAMES = 1 + 2 * len(NAMES)  # the journal into place; then each target set aside and its staged file moved on it


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _publish_and_die(folder: Path, kill_after: int) -> int:
    """A real process that stages the new set and moves it into place, killed (SIGKILL) by itself after
    ``kill_after`` renames; its pid."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from parcours.batch.publish import move_into_place
        folder = Path({str(folder)!r})
        moves = []
        for name in {NAMES!r}:
            staged = folder / f".{{name}}.{{os.getpid()}}.tmp"
            staged.write_bytes(b"new " + name.encode())
            moves.append((staged, folder / name))
        done = 0
        replace = os.replace
        def dying_replace(src, dst):
            global done
            if done == {kill_after}:
                os.kill(os.getpid(), signal.SIGKILL)
            replace(src, dst)
            done += 1
        os.replace = dying_replace
        move_into_place(moves)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    assert child.wait() == (-signal.SIGKILL if kill_after < RENAMES else 0)
    return child.pid


@pytest.mark.parametrize("kill_after", range(RENAMES + 1))
def test_a_publication_killed_at_any_rename_is_put_right_by_the_next_run(tmp_path: Path, kill_after: int) -> None:
    old = {name: b"old " + name.encode() for name in NAMES}
    new = {name: b"new " + name.encode() for name in NAMES}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    _publish_and_die(tmp_path, kill_after)
    if kill_after < RENAMES:
        assert any(p.name.startswith(".") for p in tmp_path.iterdir())  # the dead run's leftovers
    notices = recover_interrupted(tmp_path / "out.parquet", [tmp_path / n for n in NAMES])
    # The output is the last move: until it is in place, the earlier set; after it, the new one.
    expected = new if kill_after == RENAMES else old
    assert _contents(tmp_path) == expected
    assert bool(notices) == (kill_after < RENAMES)


def test_a_publication_killed_on_outputs_that_did_not_exist_leaves_none(tmp_path: Path) -> None:
    _publish_and_die(tmp_path, kill_after=3)  # the rejects and the state moved in, the output not
    recover_interrupted(tmp_path / "out.parquet", [tmp_path / n for n in NAMES])
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_after_it_published_keeps_the_new_set(tmp_path: Path) -> None:
    """Killed while it removed the set-aside copies: the output was in place, the new set stands."""
    for name in NAMES:
        (tmp_path / name).write_bytes(b"new " + name.encode())
    pid = _dead_pid()
    (tmp_path / f".out.parquet.old-{pid}").write_bytes(b"old out")
    journal = tmp_path / JOURNAL.format(name="out.parquet", pid=pid)
    moves = [{"staged": str(tmp_path / f".{n}.{pid}.tmp"), "target": str(tmp_path / n),
              "backup": str(tmp_path / f".{n}.old-{pid}")} for n in NAMES]  # fmt: skip
    journal.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "moves": moves}))
    notices = recover_interrupted(tmp_path / "out.parquet", [tmp_path / n for n in NAMES])
    assert _contents(tmp_path) == {name: b"new " + name.encode() for name in NAMES}
    assert notices == [f"le lot interrompu du processus {pid} avait publié ses sorties : copies précédentes supprimées"]


def test_a_live_run_and_another_machine_keep_their_files(tmp_path: Path) -> None:
    live = tmp_path / f".out.parquet.{os.getpid()}.tmp"  # this process: alive
    live.write_bytes(b"being written")
    dead = _dead_pid()
    elsewhere = tmp_path / JOURNAL.format(name="out.parquet", pid=dead)
    elsewhere.write_text(json.dumps({"host": "another-node", "pid": dead, "moves": []}))
    set_aside = tmp_path / f".out.parquet.old-{dead}"  # the other machine's run may still need it
    set_aside.write_bytes(b"old out")
    assert recover_interrupted(tmp_path / "out.parquet", [tmp_path / "out.parquet"]) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, elsewhere.name, set_aside.name])


def test_a_failed_move_leaves_no_journal(tmp_path: Path) -> None:
    (tmp_path / "out.parquet").write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        move_into_place([(tmp_path / "missing", tmp_path / "out.parquet")])
    assert _contents(tmp_path) == {"out.parquet": b"old"}


def test_the_next_run_removes_a_killed_runs_staged_files_and_says_so(tmp_path: Path) -> None:
    """A run killed while it wrote (hours into a national year): its staged outputs and its spill folder go at the
    next run over the same output, which the command reports in French."""
    write_two_files(tmp_path)
    out = tmp_path / "out.parquet"
    pid = _dead_pid()
    for name in ("out.parquet", "out.rejects.parquet", "state.parquet"):
        (tmp_path / f".{name}.{pid}.tmp").write_bytes(b"half written")
    (tmp_path / f".parcours-batch-{pid}-x1y2").mkdir()
    other = tmp_path / f".other.parquet.{pid}.tmp"  # not this run's output: not its business
    other.write_bytes(b"someone's")
    result = CliRunner().invoke(app, ["batch", "adjudicate", str(tmp_path / "first.parquet"), str(out),
                                      "--state-out", str(tmp_path / "state.parquet"), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Reprise : fichiers temporaires d'un lot interrompu (processus {pid}) supprimés" in result.output
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [other.name]
    assert pq.read_table(out).num_rows > 0


def test_a_run_over_an_interrupted_publication_starts_from_the_earlier_set(tmp_path: Path) -> None:
    """The whole path: a real run's outputs, a publication killed midway over them, then a real run again."""
    write_two_files(tmp_path)
    out, state = tmp_path / "out.parquet", tmp_path / "state.parquet"
    adjudicate(str(tmp_path / "first.parquet"), out, state_out=state, workers=1)
    first = _contents(tmp_path)
    dead = _publish_and_die(tmp_path, kill_after=4)  # the rejects replaced, the state set aside
    assert not state.exists()
    run = adjudicate(str(tmp_path / "second.parquet"), tmp_path / "next.parquet", workers=1)
    assert run.notices == []  # another output: that publication is not its business
    run = adjudicate(str(tmp_path / "first.parquet"), out, state_out=state, workers=1)
    # Its staged output, never moved, goes with the rest of the set put back.
    assert run.notices == [f"publication interrompue du lot du processus {dead} : sorties précédentes rétablies"]
    again = _contents(tmp_path)
    assert {n: again[n] for n in first} == first  # the same input again: the same files
    assert not [name for name in again if name.startswith(".")]


def test_a_killed_runs_state_elsewhere_is_cleaned_and_a_journal_of_relative_paths_read_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state out may live in another folder: a dead run's staged state there goes too. The journal names
    absolute paths: the next run may start from another working directory."""
    out_dir, state_dir = tmp_path / "out", tmp_path / "states"
    out_dir.mkdir()
    state_dir.mkdir()
    (out_dir / "out.parquet").write_bytes(b"old out")
    (state_dir / "state.parquet").write_bytes(b"old state")
    monkeypatch.chdir(tmp_path)
    script = textwrap.dedent("""
        import os, signal
        from pathlib import Path
        from parcours.batch.publish import move_into_place
        staged = [Path(f"states/.state.parquet.{os.getpid()}.tmp"), Path(f"out/.out.parquet.{os.getpid()}.tmp")]
        for path in staged:
            path.write_bytes(b"new")
        replace, done = os.replace, []
        def dying_replace(src, dst):
            if len(done) == 3:  # the journal in, the state set aside and replaced: the output not
                os.kill(os.getpid(), signal.SIGKILL)
            replace(src, dst)
            done.append(dst)
        os.replace = dying_replace
        move_into_place([(staged[0], Path("states/state.parquet")), (staged[1], Path("out/out.parquet"))])
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == -signal.SIGKILL
    (state_dir / f".state.parquet.{_dead_pid()}.tmp").write_bytes(b"half written")
    monkeypatch.chdir(out_dir)  # the next run, from elsewhere
    notices = recover_interrupted(Path("out.parquet"), [Path("out.parquet"), state_dir / "state.parquet"])
    assert len(notices) == 2
    assert _contents(out_dir) == {"out.parquet": b"old out"}
    assert _contents(state_dir) == {"state.parquet": b"old state"}
