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
    (
        2,
        [
            # One row per query run; JSON columns hold what is read whole, never queried.
            "CREATE TABLE runs (id {text} PRIMARY KEY, job {text} NOT NULL, scenario {text}, "
            "user_name {text} NOT NULL, engine {text} NOT NULL, sql {text} NOT NULL, "
            "sql_hash {text} NOT NULL, dialect {text} NOT NULL, started_at {text} NOT NULL, "
            "ended_at {text}, status {text} NOT NULL, error {text}, row_count BIGINT, "
            "output_dataset {text}, mode {text}, inputs {text} NOT NULL, fetched {text})",
            "CREATE INDEX runs_by_started ON runs (started_at)",
            "CREATE INDEX runs_by_scenario ON runs (scenario, started_at)",
            "CREATE INDEX runs_by_status ON runs (status, started_at)",
            "CREATE INDEX runs_by_output ON runs (output_dataset, started_at)",
            # What completed runs read, by dataset and by column (how: lineage subtypes).
            "CREATE TABLE run_inputs (run_id {text} NOT NULL, dataset {text} NOT NULL, "
            "started_at {text} NOT NULL, PRIMARY KEY (run_id, dataset))",
            "CREATE INDEX run_inputs_by_dataset ON run_inputs (dataset, started_at)",
            "CREATE TABLE run_input_columns (run_id {text} NOT NULL, dataset {text} NOT NULL, "
            "column_name {text} NOT NULL, how {text} NOT NULL, exposed INTEGER NOT NULL, "
            "started_at {text} NOT NULL, PRIMARY KEY (run_id, dataset, column_name))",
            "CREATE INDEX run_input_columns_by_column ON run_input_columns "
            "(dataset, column_name, started_at)",
            "CREATE TABLE run_outputs (run_id {text} NOT NULL, dataset {text} NOT NULL, "
            "mode {text} NOT NULL, row_count BIGINT, size_bytes BIGINT, location {text}, "
            "is_current INTEGER NOT NULL, started_at {text} NOT NULL, "
            "PRIMARY KEY (run_id, dataset))",
            "CREATE INDEX run_outputs_by_dataset ON run_outputs (dataset, is_current, started_at)",
            # The current lineage of every derived dataset, column by column; output_column
            # is '' for lineage that affects the whole dataset (filters, joins, grouping).
            "CREATE TABLE column_lineage (output_dataset {text} NOT NULL, "
            "output_column {text} NOT NULL, input_dataset {text} NOT NULL, "
            "input_column {text} NOT NULL, type {text} NOT NULL, subtype {text} NOT NULL, "
            "masking INTEGER NOT NULL, run_id {text} NOT NULL)",
            "CREATE INDEX column_lineage_by_output ON column_lineage "
            "(output_dataset, output_column)",
            "CREATE INDEX column_lineage_by_input ON column_lineage (input_dataset, input_column)",
            "CREATE TABLE dataset_lineage (input_dataset {text} NOT NULL, "
            "output_dataset {text} NOT NULL, PRIMARY KEY (input_dataset, output_dataset))",
            "CREATE INDEX dataset_lineage_by_output ON dataset_lineage (output_dataset)",
            # Usage kept as running totals so governance reports cost O(datasets), not O(runs).
            "CREATE TABLE dataset_usage (dataset {text} NOT NULL, scenario {text} NOT NULL, "
            "runs BIGINT NOT NULL, first_used {text} NOT NULL, last_used {text} NOT NULL, "
            "PRIMARY KEY (dataset, scenario))",
            "CREATE TABLE column_usage (dataset {text} NOT NULL, column_name {text} NOT NULL, "
            "scenario {text} NOT NULL, runs BIGINT NOT NULL, exposed_runs BIGINT NOT NULL, "
            "last_used {text} NOT NULL, PRIMARY KEY (dataset, column_name, scenario))",
            "CREATE TABLE dataset_totals (dataset {text} PRIMARY KEY, runs BIGINT NOT NULL, "
            "scenarios BIGINT NOT NULL, first_used {text} NOT NULL, last_used {text} NOT NULL)",
            "CREATE TABLE scenario_totals (scenario {text} PRIMARY KEY, runs BIGINT NOT NULL, "
            "datasets BIGINT NOT NULL, first_used {text} NOT NULL, last_used {text} NOT NULL)",
            # How to rebuild a dataset written back into the pool.
            "CREATE TABLE derived_datasets (dataset {text} PRIMARY KEY, run_id {text} NOT NULL, "
            "scenario {text}, sql {text} NOT NULL, dialect {text} NOT NULL, "
            "inputs {text} NOT NULL, created_at {text} NOT NULL, updated_at {text} NOT NULL)",
        ],
    ),
    (
        3,
        [
            # The audit log: one entry per query, allowed, denied or failed. Append-only;
            # each entry holds the hash of the one before it, so a changed, removed or
            # inserted entry breaks the chain (`guajie audit verify`).
            "CREATE TABLE audit_log (seq {serial}, id {text} NOT NULL UNIQUE, "
            "started_at {text} NOT NULL, ended_at {text} NOT NULL, user_name {text} NOT NULL, "
            "scenario {text}, client {text} NOT NULL, engine {text} NOT NULL, "
            "decision {text} NOT NULL, reason {text}, sql {text} NOT NULL, "
            "sql_hash {text} NOT NULL, datasets {text} NOT NULL, row_count BIGINT, "
            "complete INTEGER NOT NULL, run_id {text}, prev_hash {text} NOT NULL, "
            "hash {text} NOT NULL)",
            "CREATE INDEX audit_log_by_started ON audit_log (started_at)",
            "CREATE INDEX audit_log_by_user ON audit_log (user_name, started_at)",
            "CREATE INDEX audit_log_by_scenario ON audit_log (scenario, started_at)",
            "CREATE INDEX audit_log_by_decision ON audit_log (decision, started_at)",
            # API tokens of the HTTP service: only a hash of the secret is kept.
            "CREATE TABLE api_tokens (id {text} PRIMARY KEY, name {text} NOT NULL, "
            "scenario {text} NOT NULL, secret_hash {text} NOT NULL UNIQUE, "
            "created_by {text} NOT NULL, created_at {text} NOT NULL, expires_at {text}, "
            "revoked_at {text})",
            "CREATE INDEX api_tokens_by_scenario ON api_tokens (scenario)",
        ],
    ),
    (
        4,
        [
            # Scenario manifests (数据清单, approvals, named queries, outputs), applied whole.
            "CREATE TABLE scenarios (name {text} PRIMARY KEY, doc {text} NOT NULL, "
            "applied_at {text} NOT NULL)",
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]
