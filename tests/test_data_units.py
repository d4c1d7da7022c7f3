"""Pure parts of the data concern: dataset declarations, failure summaries,
formats, the frame cache and the fetch lock (no pytester, no DVC)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from pytest_grd.data.access import DataStore
from pytest_grd.data.cache import FrameCache, append_fetch_log, fetch_lock, read_fetch_log
from pytest_grd.data.datasets import Dataset, DatasetError, parse_datasets, split_rev
from pytest_grd.data.fixture import DataAccess
from pytest_grd.data.readers import infer_format
from pytest_grd.data.schema import schema_name, summarize_failures


def test_parse_datasets() -> None:
    parsed = parse_datasets(["", "# comment", "train = data/train.csv@v1", "raw=data/raw"])
    assert parsed == {
        "train": Dataset("data/train.csv", rev="v1", name="train"),
        "raw": Dataset("data/raw", name="raw"),
    }
    assert str(parsed["train"]) == "train (data/train.csv@v1)"
    assert parsed["raw"].at("v2").rev == "v2"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("train", "grd_datasets line 1: 'train': expected 'name = target[@rev]'"),
        ("9x = a.csv", "grd_datasets line 1: '9x' is not a valid dataset name"),
        ("t = a.csv@", "grd_datasets line 1: 'a.csv@': expected target@rev"),
    ],
)
def test_bad_dataset_lines(line: str, message: str) -> None:
    with pytest.raises(DatasetError) as info:
        parse_datasets([line])
    assert str(info.value) == message


def test_duplicate_dataset() -> None:
    with pytest.raises(DatasetError, match="line 2: dataset 't' is declared twice"):
        parse_datasets(["t = a.csv", "t = b.csv"])


def test_split_rev() -> None:
    assert split_rev("data/x.csv@main") == ("data/x.csv", "main")
    assert split_rev(" data/x.csv ") == ("data/x.csv", None)


def test_summary_groups_checks_and_shows_a_few_values() -> None:
    rows = [
        {
            "schema_context": "DataFrameSchema",
            "column": "Train",
            "check": "column_in_dataframe",
            "failure_case": "z",
        },
        *[
            {
                "schema_context": "Column",
                "column": "x",
                "check": "greater_than(0)",
                "failure_case": v,
            }
            for v in (-1, -2, -3, -4)
        ],
        {"schema_context": "Column", "column": "y", "check": "isin(['a'])", "failure_case": "b"},
    ]
    assert summarize_failures(rows) == (
        "column_in_dataframe (1 failing: 'z'); "
        "x: greater_than(0) (4 failing: -1, -2, -3, …); "
        "y: isin(['a']) (1 failing: 'b')"
    )


def test_summary_is_one_bounded_line() -> None:
    rows = [{"column": f"c{i}", "check": "not_nullable\n", "failure_case": None} for i in range(99)]
    text = summarize_failures(rows)
    assert "\n" not in text and len(text) <= 400 and text.endswith("…")


def test_schema_name() -> None:
    class TrainModel:
        pass

    class Named:
        name = "train"

    assert schema_name(None) is None
    assert schema_name(TrainModel) == "TrainModel"
    assert schema_name(Named()) == "train"


@pytest.mark.parametrize(
    ("target", "fmt"),
    [
        ("a/b.csv", "csv"),
        ("b.CSV.gz", "csv"),
        ("b.tsv", "tsv"),
        ("b.parquet", "parquet"),
        ("b.pq", "parquet"),
        ("b.json", "json"),
        ("b.jsonl.zst", "jsonl"),
        ("b.txt", None),
        ("noext", None),
    ],
)
def test_infer_format(target: str, fmt: str | None) -> None:
    assert infer_format(target) == fmt


def test_frame_cache_copies_and_evicts() -> None:
    cache = FrameCache(copy=list, max_entries=2)
    original = [1, 2]
    got = cache.put("a", original)
    got.append(3)  # the caller's copy only
    assert cache.get("a") == [1, 2] and cache.hits == 1
    cache.put("b", [0])
    cache.get("a")  # "a" becomes most recent: "b" is evicted next
    cache.put("c", [9])
    assert cache.get("b") is None and cache.get("a") == [1, 2] and len(cache) == 2


def _hold(path: str, log: str, seconds: float) -> None:
    with fetch_lock(Path(path)):
        with open(log, "a") as fh:
            fh.write(f"in {time.monotonic()}\n")
        time.sleep(seconds)
        with open(log, "a") as fh:
            fh.write(f"out {time.monotonic()}\n")


def test_fetch_lock_serializes_processes(tmp_path: Path) -> None:
    lock, log = tmp_path / "sub" / "fetch.lock", tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(str(lock), str(log), 0.2)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    events = [line.split()[0] for line in log.read_text().splitlines()]
    # Never two holders at once: strictly alternating in/out.
    assert events == ["in", "out"] * 3


def test_fetch_log_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "grd" / "fetches.log"
    append_fetch_log(path, "data/a.csv", "v1", "0" * 32, 1)
    append_fetch_log(path, "data/d", None, "1" * 32 + ".dir", 7)
    entries = read_fetch_log(path)
    assert [(e["target"], e["rev"], e["nfiles"]) for e in entries] == [
        ("data/a.csv", "v1", "1"),
        ("data/d", "-", "7"),
    ]


def test_each_access_records_its_context(tmp_path: Path) -> None:
    """How a case uses what it reads: training unless the access says."""
    (tmp_path / "a.csv").write_text("x\n1\n")
    access = DataAccess(DataStore(tmp_path), {})
    assert access.path("a.csv").name == "a.csv"
    with access.open("a.csv", context="evaluation") as fh:
        assert fh.read() == "x\n1\n"
    assert len(access.load("a.csv", context=" testing ")) == 1
    assert [e["context"] for e in access.lineage] == ["training", "evaluation", "testing"]
    for bad in ("", "  ", 3, None, "x" * 501):
        with pytest.raises(ValueError, match=r"^grd_data: context must be a non-empty string"):
            access.path("a.csv", context=bad)  # type: ignore[arg-type]
    assert len(access.lineage) == 3  # refused before any access
