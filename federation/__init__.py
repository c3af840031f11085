"""Federated SQL (逻辑汇聚): scenario SQL -> pushdown plan -> Arrow."""
