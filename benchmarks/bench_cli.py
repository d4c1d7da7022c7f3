"""``grd status`` / ``report`` / ``commit`` on stores that grow with history.

One real pytest-grd session (5 hypotheses x 50 cases, one decided by a
statistical rule) writes a template store; its runs are then cloned row for
row (every table MLflow keys by run id, ids and session id replaced, start
times an hour apart per session) into stores of 1, 5 and 20 sessions (255,
1,275 and 5,100 runs), and one store holding a single session of 5,000 cases
(the worst case for reading "only the latest session").  Each command runs as
its own process on each store, for this tree's ``grd`` and for the previous
implementation (commit ``18bd093``, extracted with ``git archive`` and run
with ``PYTHONPATH``), the two alternating within each round.  Prints the
median and range of the wall time over the rounds, each process's peak
memory (``wait4``'s max RSS), and the load average before and after.

    python benchmarks/bench_cli.py [--rounds 3] [--old-rev 18bd093] [--no-old]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SESSION_COUNTS = (1, 5, 20)
BIG_COPIES = 20  # the one-session store: 20 x 250 cases
HOUR_MS = 3_600_000

TEST_FILE = """
import pytest
import pytest_grd as grd

for _i in range(4):
    def _make(i):
        @pytest.mark.hypothesis(f"hyp_{i:03d}", claim=f"model {i} keeps its loss low", seeds=5)
        @pytest.mark.parametrize("k", range(10))
        def test(k, grd_seed, grd_run):
            grd_run.log_metrics({"loss": 0.1 * k + 0.01 * grd_seed, "acc": 0.9 - 0.01 * k})
            assert k < 100
        return test
    globals()[f"test_model_{_i}"] = _make(_i)


@pytest.mark.hypothesis("hyp_rule", claim="accuracy beats 0.5", seeds=5,
                        decide=grd.greater("acc", than=0.5))
@pytest.mark.parametrize("k", range(10))
def test_rule(k, grd_seed, grd_run):
    grd_run.log_metrics({"acc": 0.7 + 0.01 * ((k * 7 + grd_seed) % 5)})
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_project(root: Path) -> None:
    """A git repository holding the hypotheses, clean after a session."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ngrd_experiment = "bench"\n')
    (root / "test_bench.py").write_text(TEST_FILE)
    (root / ".gitignore").write_text("__pycache__/\ngrd-report/\n.grd/\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=bench", "-c", "user.email=b@x", "commit", "-qm", "start")


def run_template(root: Path, db: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--grd-tracking-uri", f"sqlite:///{db}"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"template session failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


class Cloner:
    """Copies the template's runs into new sessions, inside SQLite."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db)
        self.runs = [r[0] for r in self.conn.execute("SELECT run_uuid FROM runs")]
        self.session = self.conn.execute(
            "SELECT value FROM tags WHERE key = 'grd.session_id' LIMIT 1"
        ).fetchone()[0]
        self.parents = {
            r[0]
            for r in self.conn.execute(
                "SELECT run_uuid FROM tags WHERE key = 'grd.role' AND value = 'parent'"
            )
        }
        marks = ", ".join("?" * len(self.runs))
        self.rows = {
            table: (
                _columns(self.conn, table),
                self.conn.execute(
                    f"SELECT * FROM {table} WHERE run_uuid IN ({marks})", self.runs
                ).fetchall(),
            )
            for table in ("runs", "tags", "params", "metrics", "latest_metrics")
        }
        self.inputs = self.conn.execute(
            f"SELECT * FROM inputs WHERE destination_id IN ({marks})", self.runs
        ).fetchall()
        self.input_columns = _columns(self.conn, "inputs")

    def clone(self, offset_ms: int, *, new_session: bool) -> None:
        """One more copy: a new session (new parents too), or more cases of
        the template's session under its own parents."""
        ids = {r: uuid.uuid4().hex for r in self.runs}
        if not new_session:
            ids.update({p: p for p in self.parents})
        if new_session:
            ids[self.session] = uuid.uuid4().hex
        pattern = re.compile("|".join(map(re.escape, ids)))

        def swap(value: object) -> object:
            return (
                pattern.sub(lambda m: ids[m.group(0)], value) if isinstance(value, str) else value
            )

        for table, (columns, rows) in self.rows.items():
            copies = []
            for row in rows:
                data = dict(zip(columns, row, strict=True))
                if not new_session and data["run_uuid"] in self.parents:
                    continue
                data = {k: swap(v) for k, v in data.items()}
                for key in ("start_time", "end_time"):
                    if table == "runs" and data.get(key):
                        data[key] += offset_ms
                copies.append(tuple(data[c] for c in columns))
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", copies)
        inputs = []
        for row in self.inputs:
            data = dict(zip(self.input_columns, row, strict=True))
            if data["destination_id"] in ids and data["destination_id"] not in self.parents:
                data["destination_id"] = ids[data["destination_id"]]
                data["input_uuid"] = uuid.uuid4().hex
                inputs.append(tuple(data[c] for c in self.input_columns))
        marks = ", ".join("?" * len(self.input_columns))
        self.conn.executemany(f"INSERT INTO inputs VALUES ({marks})", inputs)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def build_stores(work: Path, template: Path) -> dict[str, Path]:
    """Copies of the template: 1, 5, 20 sessions, and one 5,000-case session."""
    stores: dict[str, Path] = {}
    grown = work / "grown.db"
    shutil.copy(template, grown)
    cloner = Cloner(grown)
    for n in range(1, max(SESSION_COUNTS) + 1):
        if n > 1:
            cloner.clone((n - 1) * HOUR_MS, new_session=True)
        if n in SESSION_COUNTS:
            cloner.conn.commit()
            stores[f"{n} session{'s' if n > 1 else ''}"] = work / f"sessions_{n}.db"
            shutil.copy(grown, stores[f"{n} session{'s' if n > 1 else ''}"])
    cloner.close()
    big = work / "one_big.db"
    shutil.copy(template, big)
    cloner = Cloner(big)
    for copy in range(1, BIG_COPIES):
        cloner.clone(copy, new_session=False)
    cloner.close()
    stores["1 session x 5,000"] = big
    return stores


def count_runs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def run_one(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MiB, this child alone) and stdout of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode()[-1500:]}")
    return elapsed, usage.ru_maxrss / 1024, out.decode()


COMMANDS = {
    "status": ["status"],
    "report": ["report", "--out", "{out}"],
    "commit": ["commit", "hyp_rule", "--dry-run"],
}


def grd_cmd(command: str, project: Path, db: Path, out: Path) -> list[str]:
    args = [a.replace("{out}", str(out)) for a in COMMANDS[command]]
    return [
        sys.executable, "-m", "pytest_grd", "-C", str(project), *args[:1],
        "--tracking-uri", f"sqlite:///{db}", *args[1:],
    ]  # fmt: skip


def _verdicts(text: str) -> list[tuple[str, str, int]]:
    return [(h["id"], h["verdict"], len(h["cases"])) for h in json.loads(text)]


def _fmt(times: list[float]) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times):6.2f} s ({min(times):.2f}-{max(times):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-rev", default="18bd093")
    parser.add_argument("--no-old", action="store_true", help="time this tree only")
    parser.add_argument("--keep", type=Path, help="build the stores here and keep them")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="grd-bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    template = work / "template.db"
    started = time.perf_counter()
    if not template.exists():
        shutil.rmtree(project, ignore_errors=True)
        make_project(project)
        took = run_template(project, template)
        print(f"template session (250 cases, real pytest-grd run): {took:.1f} s")
    stores = build_stores(work, template)
    print(f"stores built in {time.perf_counter() - started:.1f} s in all")

    env_new = dict(os.environ, PYTHONPATH=str(REPO))
    impls = {"new": env_new}
    if not args.no_old:
        old = work / "old"
        shutil.rmtree(old, ignore_errors=True)
        old.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.old_rev, "pytest_grd"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        impls["old"] = dict(os.environ, PYTHONPATH=str(old))

    times: dict[tuple[str, str, str], list[float]] = {}
    peaks: dict[tuple[str, str, str], list[float]] = {}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for round_no in range(args.rounds):
        order = list(impls) if round_no % 2 == 0 else list(reversed(impls))
        for label, db in stores.items():
            for command in COMMANDS:
                for impl in order:
                    out = work / f"report-{impl}"
                    cmd = grd_cmd(command, project, db, out)
                    elapsed, peak, _ = run_one(cmd, project, impls[impl])
                    times.setdefault((label, command, impl), []).append(elapsed)
                    peaks.setdefault((label, command, impl), []).append(peak)
        print(f"round {round_no + 1}: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
              flush=True)  # fmt: skip

    if "old" in impls:  # same answer from both
        for label, db in stores.items():
            answers = {
                impl: _verdicts(run_one(
                    [*grd_cmd("status", project, db, work), "--json"], project, env
                )[2])
                for impl, env in impls.items()
            }  # fmt: skip
            same = "same verdicts and case counts" if answers["new"] == answers["old"] else "DIFFER"
            print(f"{label}: old and new status --json: {same}")

    head = f"{'store':<20} {'runs':>6}  {'command':<7} {'previous (median, range)':>26} "
    head += f"{'this tree (median, range)':>26} {'peak MiB old/new':>17} {'speed-up':>8}"
    print(head)
    for label, db in stores.items():
        runs = count_runs(db)
        for command in COMMANDS:
            new = times[(label, command, "new")]
            old_t = times.get((label, command, "old"), [])
            peak_new = max(peaks[(label, command, "new")])
            peak_old = max(peaks.get((label, command, "old"), [0.0]))
            speed = f"{statistics.median(old_t) / statistics.median(new):.0f}x" if old_t else "-"
            print(
                f"{label:<20} {runs:>6}  {command:<7} {_fmt(old_t):>26} {_fmt(new):>26} "
                f"{peak_old:>8.0f}/{peak_new:<8.0f} {speed:>8}"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
