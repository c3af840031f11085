"""Run records, column-level lineage, write-back into the pool and governance reports."""
