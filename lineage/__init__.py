"""Run records, column-level lineage, write-back into the pool (反哺) and governance reports.

One module per concern, composed by :mod:`.recorder` around a session's execution so that
planning and execution stay free of bookkeeping:

* :mod:`.columns` — column-level lineage of a query in OpenLineage's vocabulary (pure).
* :mod:`.runs` — run records and the lineage tables, written inside catalog transactions.
* :mod:`.pool` — the pool and how each kind of storage publishes a dataset atomically.
* :mod:`.events` — OpenLineage RunEvents through the official client, as configured.
* :mod:`.recorder` — ``execute`` / ``run_query`` / ``rerun``: a run from start to end.
* :mod:`.governance` — show, impact, usage (数据应用渗透率), personal-information flows.
* :mod:`.report` and :mod:`.layout` — the self-contained HTML report and its graph layout.

This wing imports the ledger (``guajie.catalog``) and the federation front end, never the
face (``guajie.api``, ``guajie.cli``): sessions are passed in.
"""
