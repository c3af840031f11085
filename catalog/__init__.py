"""The ledger (目录台账): sources, datasets, columns, their owners, grades and sharing terms.

This wing imports nothing from ``guajie.federation`` or ``guajie.lineage``.
"""
