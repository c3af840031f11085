"""Schema versions of the catalog store, applied in order and recorded in guajie_schema.

Append new versions; never edit a released one. ``{serial}`` and ``{text}`` are filled
in per backend.
"""

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            "CREATE TABLE sources (name {text} PRIMARY KEY, doc {text} NOT NULL, "
            "updated_at {text} NOT NULL)",
            "CREATE TABLE datasets (qualified_name {text} PRIMARY KEY, source {text} NOT NULL, "
            "fingerprint {text}, stats_hash {text}, doc {text} NOT NULL, updated_at {text} NOT NULL)",
            "CREATE INDEX datasets_by_source ON datasets (source)",
            "CREATE TABLE schema_history (id {serial}, dataset {text} NOT NULL, "
            "fingerprint {text} NOT NULL, columns {text} NOT NULL, recorded_at {text} NOT NULL)",
            "CREATE INDEX schema_history_by_dataset ON schema_history (dataset)",
            "CREATE TABLE drift (id {serial}, source {text} NOT NULL, dataset {text} NOT NULL, "
            "doc {text} NOT NULL, detected_at {text} NOT NULL)",
            "CREATE INDEX drift_by_dataset ON drift (dataset)",
            "CREATE TABLE crawls (id {serial}, source {text} NOT NULL, started_at {text} NOT NULL, "
            "finished_at {text} NOT NULL, doc {text} NOT NULL)",
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]
