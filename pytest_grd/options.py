"""The declarations of pytest-grd's command-line options and ini keys.

One description serves an option and the ini key of the same setting (the
pytest-timeout habit), so ``pytest --help`` says the same thing twice.  Values
are read and validated in one place only: :mod:`pytest_grd.settings`.
"""

from __future__ import annotations

import pytest

__all__ = ["HELP", "add_options"]

HELP = {
    "report": "write report.html, report.md and report.json to DIR (default: grd-report/).",
    "tracking_uri": "MLflow tracking URI (order: --grd-tracking-uri, ini grd_tracking_uri, "
    "MLFLOW_TRACKING_URI, then sqlite:///<rootdir>/mlflow.db).",
    "no_tracking": "do not log cases to MLflow (verdicts, records and reports still work).",
    "offline": "journal the runs under .grd/journal without sending them to the store; "
    "`grd sync` sends them later (--grd-offline, else ini grd_offline, GRD_OFFLINE=1).",
    "tracking_timeout": "seconds the session waits, at most, on the tracking store: a lock, "
    "a request, the end-of-session send (ini grd_tracking_timeout, default 10).",
    "writer_idle": "seconds a session's MLflow writer stays up for the next session of the "
    "same store, which then skips importing MLflow (GRD_WRITER_IDLE, else ini "
    "grd_writer_idle; default 300, 0 in a session started from inside another pytest's test; "
    "0: never).",
    "seeds": "run every hypothesis with N seeds, overriding seeds= on markers.",
    "seed_base": "first seed of a seeds= expansion (default 0).",
    "gpus": "run one xdist worker per GPU: auto, none or ids such as 0,1 "
    "(--grd-gpus, else ini grd_gpus).",
    "workers_per_gpu": "xdist workers per GPU with --grd-gpus (default 1).",
    "scale": "experiment scale exposed by the grd_scale fixture, e.g. 'smoke' in CI "
    "(--grd-scale, else ini grd_scale, default 'full').",
    "scales": "the scales this project declares, e.g. 'smoke full'; any other "
    "--grd-scale is a usage error (default: any word).",
    "save_baseline": "record verdicts and key metrics to PATH (default: ini grd_baseline_path).",
    "baseline": "compare against a saved baseline; the exit status reports changes only.",
    "baseline_path": "baseline file for --grd-(save-)baseline (default grd-baseline.json).",
    "baseline_tolerances": "baseline tolerances per key metric, one 'metric = 0.01' (absolute) "
    "or 'metric = 2%' (of the recorded value) per line; the marker's baseline= wins "
    "(default: 0.005 for values within [-1, 1], else 1%).",
    "notebook_timeout": "per-cell timeout in seconds for notebook hypotheses "
    "(--grd-notebook-timeout, else ini grd_notebook_timeout, default 600).",
    "kernel": "Jupyter kernel for notebook hypotheses (default python3).",
    "experiment": "MLflow experiment name (default: the rootdir's name).",
    "correction": "multiple-comparison correction across decided hypotheses: holm "
    "(default), bh or none.",
    "datasets": "named datasets for grd_data, one 'name = target[@rev]' per line.",
    "families": "multiple-comparison families of decided hypotheses, one "
    "'name = hyp_a hyp_b ...' per line (default: every decided hypothesis collected).",
    "ray": "run the cases on a Ray cluster: ADDRESS (host:port or ray://...), auto (the "
    "cluster in RAY_ADDRESS), or no value to start a local one (needs pytest-grd[ray]).",
    "ray_retries": "with --grd-ray: times a case whose worker or node died is run again "
    "elsewhere before it is INCONCLUSIVE (default 2).",
    "ray_resources": "with --grd-ray: what a case asks Ray for unless its marker says "
    "resources=, one 'num_gpus = 1' per line (default: num_cpus = 1).",
    "env_allowlist": "environment variables whose values may be logged as run tags "
    "(none by default).",
}


def add_options(parser: pytest.Parser) -> None:
    """Declare every ``--grd-*`` option and ``grd_*`` ini key."""
    group = parser.getgroup("grd", "pytest-grd: research hypotheses as tests")
    group.addoption(
        "--grd-report", dest="grd_report", nargs="?", const="grd-report", default=None,
        metavar="DIR", help=HELP["report"],
    )  # fmt: skip
    group.addoption(
        "--grd-tracking-uri", dest="grd_tracking_uri", default=None, metavar="URI",
        help=HELP["tracking_uri"],
    )  # fmt: skip
    group.addoption(
        "--grd-no-tracking", dest="grd_no_tracking", action="store_true", default=False,
        help=HELP["no_tracking"],
    )  # fmt: skip
    group.addoption(
        "--grd-offline", dest="grd_offline", action="store_true", default=False,
        help=HELP["offline"],
    )  # fmt: skip
    group.addoption(
        "--grd-seeds", dest="grd_seeds", type=int, default=None, metavar="N", help=HELP["seeds"]
    )
    group.addoption(
        "--grd-gpus", dest="grd_gpus", default=None, metavar="auto|none|0,1,..",
        help=HELP["gpus"],
    )  # fmt: skip
    group.addoption(
        "--grd-workers-per-gpu", dest="grd_workers_per_gpu", type=int, default=None,
        metavar="K", help=HELP["workers_per_gpu"],
    )  # fmt: skip
    group.addoption(
        "--grd-scale", dest="grd_scale", default=None, metavar="NAME", help=HELP["scale"]
    )
    group.addoption(
        "--grd-save-baseline", dest="grd_save_baseline", nargs="?", const="", default=None,
        metavar="PATH", help=HELP["save_baseline"],
    )  # fmt: skip
    group.addoption(
        "--grd-baseline", dest="grd_baseline", nargs="?", const="", default=None,
        metavar="PATH", help=HELP["baseline"],
    )  # fmt: skip
    group.addoption(
        "--grd-notebook-timeout", dest="grd_notebook_timeout", type=float, default=None,
        metavar="SECONDS", help=HELP["notebook_timeout"],
    )  # fmt: skip
    group.addoption(
        "--grd-ray", dest="grd_ray", nargs="?", const="", default=None,
        metavar="ADDRESS", help=HELP["ray"],
    )  # fmt: skip
    group.addoption(
        "--grd-ray-retries", dest="grd_ray_retries", type=int, default=None,
        metavar="N", help=HELP["ray_retries"],
    )  # fmt: skip
    parser.addini("grd_experiment", HELP["experiment"])
    parser.addini("grd_tracking_uri", HELP["tracking_uri"])
    parser.addini("grd_offline", HELP["offline"], type="bool", default=False)
    parser.addini("grd_tracking_timeout", HELP["tracking_timeout"], default="10")
    parser.addini("grd_writer_idle", HELP["writer_idle"], default="")
    parser.addini("grd_gpus", HELP["gpus"])
    parser.addini("grd_scale", HELP["scale"], default="full")
    parser.addini("grd_scales", HELP["scales"], default="")
    parser.addini("grd_seed_base", HELP["seed_base"], default="0")
    parser.addini("grd_correction", HELP["correction"], default="holm")
    parser.addini("grd_baseline_path", HELP["baseline_path"], default="grd-baseline.json")
    parser.addini(
        "grd_baseline_tolerances", HELP["baseline_tolerances"], type="linelist", default=[]
    )
    parser.addini("grd_datasets", HELP["datasets"], type="linelist", default=[])
    parser.addini("grd_families", HELP["families"], type="linelist", default=[])
    parser.addini("grd_notebook_timeout", HELP["notebook_timeout"], default="600")
    parser.addini("grd_kernel", HELP["kernel"], default="python3")
    parser.addini("grd_ray_resources", HELP["ray_resources"], type="linelist", default=[])
    parser.addini("grd_env_allowlist", HELP["env_allowlist"], type="linelist", default=[])
