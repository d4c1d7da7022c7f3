"""Repository-level conftest: keeps the examples project out of the test
suite's collection (it is a project of its own, run as ``pytest examples/``)."""

collect_ignore = ["examples", "benchmarks", "build"]
