"""Running a sweep's cases on a Ray cluster (``--grd-ray``, extra ``pytest-grd[ray]``).

The controller collects as usual and hands node ids to long-lived Ray actors,
each running a pytest session in worker mode (:mod:`.worker`); their reports
come back through pytest's own report serialization and are replayed on the
controller (:mod:`.plugin`), so every hook sees ordinary test reports.  Which
case goes where, and what a lost worker costs, is pure logic
(:mod:`.resources`, :mod:`.scheduling`).  Nothing here imports Ray until the
option is given.
"""
