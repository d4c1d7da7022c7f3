"""grd_data end to end against a real git + DVC repository.

The repository is built once per module with DVC's Python API: two tagged
versions of ``data/train.csv``, a tracked directory, a git-tracked JSON file,
a local remote holding everything, and an empty cache.  Each test works on
its own copy (copied into the pytester directory, which becomes the rootdir).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dvc.api
import pandas
import pandera.pandas
import pytest

from pytest_grd.record import LINEAGE_KEYS
from tests.conftest import RecordSink

# Imported here, before pytester's in-process runs: they remove modules first
# imported during a run, and numpy cannot be imported twice in one process.
_HEAVY = (dvc.api, pandas, pandera.pandas)

V1 = "x,y\n1,a\n2,b\n3,c\n"
V2 = "x,y\n1,a\n2,b\n3,c\n4,d\n"


@dataclass
class DataRepo:
    """A built repository: where it is, its remote, its tags and hashes."""

    path: Path
    remote: Path
    sha: dict[str, str]
    md5: dict[str, str]

    def copy_to(self, dest: Path) -> Path:
        shutil.copytree(self.path, dest, symlinks=True, dirs_exist_ok=True)
        return dest


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _dvc_md5(dvcfile: Path) -> str:
    for line in dvcfile.read_text().splitlines():
        if line.strip().startswith("- md5:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no md5 in {dvcfile}")


def build_repo(base: Path) -> DataRepo:
    """git init, dvc init, a default local remote, v1 and v2, dvc push, no cache."""
    from dvc.repo import Repo

    path, remote = base / "repo", base / "remote"
    path.mkdir(parents=True)
    remote.mkdir()
    _git(path, "init", "-q", "-b", "main")
    repo = Repo.init(str(path))
    with repo.config.edit() as conf:
        conf["remote"]["store"] = {"url": str(remote)}
        conf["core"]["remote"] = "store"
    data = path / "data"
    (data / "imgs").mkdir(parents=True)
    (data / "train.csv").write_text(V1)
    (data / "imgs" / "1.txt").write_text("one\n")
    (data / "imgs" / "2.txt").write_text("two\n")
    (data / "params.json").write_text('[{"k": 1}, {"k": 2}]')
    repo.add([str(data / "train.csv"), str(data / "imgs")])
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "v1")
    _git(path, "tag", "v1")
    md5 = {"v1": _dvc_md5(data / "train.csv.dvc"), "imgs": _dvc_md5(data / "imgs.dvc")}
    (data / "train.csv").write_text(V2)
    repo.add([str(data / "train.csv")])
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "v2")
    _git(path, "tag", "v2")
    md5["v2"] = _dvc_md5(data / "train.csv.dvc")
    repo.push(all_tags=True)
    repo.close()
    shutil.rmtree(path / ".dvc" / "cache")
    shutil.rmtree(path / ".dvc" / "tmp", ignore_errors=True)
    sha = {tag: _git(path, "rev-parse", f"{tag}^{{commit}}") for tag in ("v1", "v2")}
    return DataRepo(path=path, remote=remote, sha=sha, md5=md5)


@pytest.fixture(scope="module")
def data_repo(tmp_path_factory: pytest.TempPathFactory) -> DataRepo:
    return build_repo(tmp_path_factory.mktemp("dvc"))


def _fetches(root: Path) -> list[str]:
    log = root / ".dvc" / "tmp" / "grd" / "fetches.log"
    return log.read_text().splitlines() if log.exists() else []


EXPERIMENTS = """
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series
from pytest_grd import DataInvalid
from pytest_grd.data import Dataset

class Train(pa.DataFrameModel):
    x: Series[int] = pa.Field(ge=2)
    y: Series[str] = pa.Field(isin=["b", "c", "d"])

LOOSE = pa.DataFrameSchema({"x": pa.Column(int), "y": pa.Column(str)}, name="loose")
TRAIN_V2 = Dataset("data/train.csv", rev="v2", schema=LOOSE)

@pytest.mark.hypothesis("hyp_v1", claim="v1 bytes")
def test_v1(grd_data):
    with grd_data.open("data/train.csv", rev="v1") as fh:
        assert fh.read() == __V1__

@pytest.mark.hypothesis("hyp_v2", claim="v2 bytes")
def test_v2(grd_data):
    assert grd_data.path("data/train.csv", rev="v2").read_text() == __V2__

@pytest.mark.hypothesis("hyp_again", claim="v1 again comes from the cache")
def test_v1_again(grd_data):
    with grd_data.open("data/train.csv", rev="v1", mode="rb") as fh:
        assert fh.read() == __V1__.encode()

@pytest.mark.hypothesis("hyp_ws", claim="the working tree is v2")
def test_workspace(grd_data):
    assert len(grd_data.load("data/train.csv")) == 4

@pytest.mark.hypothesis("hyp_dir", claim="a tracked directory at v1")
def test_dir(grd_data):
    path = grd_data.path("data/imgs", rev="v1")
    assert sorted(p.name for p in path.iterdir()) == ["1.txt", "2.txt"]

@pytest.mark.hypothesis("hyp_git", claim="a git-tracked file at a revision")
def test_git_file(grd_data):
    assert grd_data.load("data/params.json", rev="v1")["k"].tolist() == [1, 2]

@pytest.mark.hypothesis("hyp_named", claim="named datasets")
def test_named(grd_data):
    assert len(grd_data.load("train_v1")) == 3
    assert grd_data.dataset("train_v1").rev == "v1"
    frame = grd_data.load(TRAIN_V2)
    assert len(frame) == 4

@pytest.mark.hypothesis("hyp_mutate", claim="mutating a loaded frame")
def test_mutate(grd_data):
    frame = grd_data.load(TRAIN_V2)
    frame.loc[0, "x"] = 999
    frame.drop(columns="y", inplace=True)

@pytest.mark.hypothesis("hyp_fresh", claim="the next case sees the data unchanged")
def test_fresh(grd_data):
    frame = grd_data.load(TRAIN_V2)
    assert frame["x"].tolist() == [1, 2, 3, 4] and list(frame.columns) == ["x", "y"]

@pytest.mark.hypothesis("hyp_invalid", claim="v1 passes the strict schema")
def test_invalid(grd_data):
    grd_data.load("data/train.csv", rev="v1", schema=Train)

@pytest.mark.hypothesis("hyp_swallow", claim="swallowing the failure changes nothing")
def test_swallow(grd_data):
    try:
        grd_data.load("data/train.csv", rev="v1", schema=Train)
    except DataInvalid:
        pass

def test_plain(grd_data):
    assert len(grd_data.load("data/train.csv", rev="v2")) == 4
"""


def test_revisions_lineage_schema(
    pytester: pytest.Pytester, sink: RecordSink, data_repo: DataRepo
) -> None:
    root = data_repo.copy_to(pytester.path)
    pytester.makeini("[pytest]\ngrd_datasets =\n    train_v1 = data/train.csv@v1\n")
    pytester.makepyfile(
        test_exp=EXPERIMENTS.replace("__V1__", repr(V1)).replace("__V2__", repr(V2))
    )
    result = pytester.runpytest("--grd-no-tracking", "-p", "no:randomly", "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_v1 VALIDATED*",
            "*test_invalid INCONCLUSIVE*",
            "*test_swallow INCONCLUSIVE*",
            "*test_plain PASSED*",
        ]
    )
    by = {r["nodeid"].split("::")[1]: r for r in sink.records()}
    verdicts = {name: r["verdict"] for name, r in by.items()}
    assert verdicts == {
        **{name: "VALIDATED" for name in by if name not in ("test_invalid", "test_swallow")},
        "test_invalid": "INCONCLUSIVE",
        "test_swallow": "INCONCLUSIVE",
    }, {n: r["reason"] for n, r in by.items()}
    assert "test_plain" not in by

    # Every access is one lineage entry with exactly the agreed keys.
    for record in by.values():
        assert record["lineage"], record["name"]
        for entry in record["lineage"]:
            assert tuple(entry) == LINEAGE_KEYS
    (v1,) = by["test_v1"]["lineage"]
    assert v1["rev_requested"] == "v1" and v1["rev_resolved"] == data_repo.sha["v1"]
    assert v1["md5"] == data_repo.md5["v1"] and v1["size"] == len(V1)
    assert v1["source"] == "remote" and v1["versioned"] is True
    assert v1["schema"] is None and v1["validation"] is None
    (again,) = by["test_v1_again"]["lineage"]
    assert again["source"] == "cache" and again["md5"] == data_repo.md5["v1"]
    (ws,) = by["test_workspace"]["lineage"]
    assert ws["source"] == "workspace" and ws["md5"] == data_repo.md5["v2"]
    assert ws["rev_requested"] is None and ws["rev_resolved"] == data_repo.sha["v2"]
    (imgs,) = by["test_dir"]["lineage"]
    assert imgs["md5"] == data_repo.md5["imgs"] and imgs["md5"].endswith(".dir")
    (git_file,) = by["test_git_file"]["lineage"]
    assert git_file["versioned"] is True and len(git_file["md5"]) == 32
    named = by["test_named"]["lineage"]
    assert [e["rev_requested"] for e in named] == ["v1", "v2"]
    assert named[1]["schema"] == "loose" and named[1]["validation"] == "passed"

    # Schema failures: INCONCLUSIVE, every failed check in one line.
    invalid = by["test_invalid"]
    assert invalid["reason"].startswith("data invalid: data/train.csv@v1 (Train): ")
    assert "x: greater_than_or_equal_to(2) (1 failing: 1)" in invalid["reason"]
    assert "y: isin(['b', 'c', 'd']) (1 failing: 'a')" in invalid["reason"]
    assert invalid["lineage"][0]["validation"] == "failed"
    assert by["test_swallow"]["reason"] == invalid["reason"]

    # One fetch per object from the remote, whatever the number of accesses.
    fetched = [line.split("\t")[3] for line in _fetches(root)]
    assert sorted(fetched) == ["v1", "v1", "v2"]  # train@v1, imgs@v1, train@v2


MISSING = """
import pytest

@pytest.mark.hypothesis("hyp_absent", claim="c")
def test_absent(grd_data):
    grd_data.load("data/nothing.csv")

@pytest.mark.hypothesis("hyp_no_remote", claim="c")
def test_no_remote(grd_data):
    grd_data.load("data/train.csv", rev="v1")

@pytest.mark.hypothesis("hyp_bad_rev", claim="c")
def test_bad_rev(grd_data):
    grd_data.load("data/train.csv", rev="v9")

@pytest.mark.hypothesis("hyp_corrupt", claim="c")
def test_corrupt(grd_data):
    grd_data.load("data/train.csv")

@pytest.mark.hypothesis("hyp_fine", claim="the rest of the repository still works")
def test_fine(grd_data):
    assert len(list(grd_data.path("data/imgs").iterdir())) == 2
    assert grd_data.load("data/params.json")["k"].tolist() == [1, 2]
"""


def test_missing_data_is_one_line_each(
    pytester: pytest.Pytester, sink: RecordSink, data_repo: DataRepo
) -> None:
    root = data_repo.copy_to(pytester.path)
    # No remote in the working tree's configuration, and a corrupt .dvc file.
    (root / ".dvc" / "config").write_text("[core]\n    autostage = false\n")
    (root / "data" / "train.csv.dvc").write_text("outs:\n- md5: [oops\n")
    pytester.makepyfile(test_missing=MISSING)
    result = pytester.runpytest("--grd-no-tracking", "-p", "no:randomly")
    reasons = {r["nodeid"].split("::")[1]: (r["verdict"], r["reason"]) for r in sink.records()}
    assert reasons["test_absent"] == (
        "INCONCLUSIVE",
        f"data missing: data/nothing.csv is neither tracked by DVC nor present in {root}",
    )
    verdict, reason = reasons["test_no_remote"]
    assert verdict == "INCONCLUSIVE"
    assert reason == (
        f"data missing: data/train.csv@v1 (md5 {data_repo.md5['v1']}) is not in the DVC cache "
        "and no DVC remote is configured; add one (`dvc remote add -d NAME URL`) and run "
        "`git checkout v1 && dvc pull data/train.csv`"
    )
    verdict, reason = reasons["test_bad_rev"]
    assert verdict == "INCONCLUSIVE"
    assert reason.startswith("data missing: unknown revision 'v9' in ")
    verdict, reason = reasons["test_corrupt"]
    assert verdict == "INCONCLUSIVE"
    assert reason.startswith(
        "data missing: corrupt .dvc file data/train.csv.dvc at the working tree: "
    )
    assert reasons["test_fine"] == ("VALIDATED", "")
    # One line each, no traceback from inside the plugin.
    for _verdict, text in reasons.values():
        assert "\n" not in text and "Traceback" not in text
    assert "pytest_grd/data" not in result.stdout.str()


FETCH_ONCE = """
import pytest

@pytest.mark.hypothesis("hyp_par", claim="eight cases read the same data")
@pytest.mark.parametrize("i", range(8))
def test_par(grd_data, i):
    frame = grd_data.load("data/train.csv", rev="v1")
    assert frame["x"].tolist() == [1, 2, 3]
    assert len(grd_data.load("data/train.csv", rev="v1")) == 3
"""


def test_fetch_once_under_four_workers(
    pytester: pytest.Pytester, sink: RecordSink, data_repo: DataRepo
) -> None:
    root = data_repo.copy_to(pytester.path)
    pytester.makepyfile(test_par=FETCH_ONCE)
    result = pytester.runpytest_subprocess("-n", "4", "--grd-no-tracking", "-rA")
    # Eight cases and the hypothesis' own result (the roll-up of the eight).
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["VALIDATED test_par.py::hyp_par"])
    records = sink.records()
    assert len(records) == 8 and {r["verdict"] for r in records} == {"VALIDATED"}
    assert len({r["worker"] for r in records}) > 1
    sources = [e["source"] for r in records for e in r["lineage"]]
    assert len(sources) == 16
    # Exactly one access in the whole session went to the remote ...
    assert sources.count("remote") == 1 and sources.count("cache") == 15
    # ... and the fetch log, written under the lock, agrees.
    assert len(_fetches(root)) == 1


TRACKED = """
import pandera.pandas as pa
import pytest

SCHEMA = pa.DataFrameSchema({"x": pa.Column(int)}, name="xs")

@pytest.mark.hypothesis("hyp_tracked", claim="lineage reaches the MLflow run")
def test_tracked(grd_data):
    assert len(grd_data.load("data/train.csv", rev="v1", schema=SCHEMA)) == 3
    assert len(grd_data.load("data/params.json", rev="v1", context="evaluation")) == 2
    assert grd_data.path("data/train.csv", rev="v1", context="evaluation").is_file()
"""


def test_lineage_in_the_mlflow_run(
    pytester: pytest.Pytester, sink: RecordSink, data_repo: DataRepo
) -> None:
    from mlflow.tracking import MlflowClient  # before the run: see _HEAVY

    data_repo.copy_to(pytester.path)
    pytester.makepyfile(test_tracked=TRACKED)
    uri = f"sqlite:///{pytester.path / 'mlflow.db'}"
    result = pytester.runpytest("--grd-tracking-uri", uri, "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    (record,) = sink.records()
    assert record["verdict"] == "VALIDATED" and record["run_id"]
    assert [e["context"] for e in record["lineage"]] == ["training", "evaluation", "evaluation"]
    run = MlflowClient(tracking_uri=uri).get_run(record["run_id"])
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["data/params.json", "data/train.csv"]
    dataset_input = inputs["data/train.csv"]
    assert dataset_input.dataset.digest == data_repo.md5["v1"]
    tags = {t.key: t.value for t in dataset_input.tags}
    assert tags["grd.rev_resolved"] == data_repo.sha["v1"]
    assert tags["grd.source"] == "remote" and tags["grd.validation"] == "passed"
    assert tags["grd.schema"] == "xs"
    # MLflow keeps one input per dataset version: it names both uses.
    assert tags["mlflow.data.context"] == "training, evaluation"
    params = {t.key: t.value for t in inputs["data/params.json"].tags}
    assert params["mlflow.data.context"] == "evaluation"
