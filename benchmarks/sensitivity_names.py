"""How long the sensitivity detector takes to judge 10,000 column names (no values).

    python benchmarks/sensitivity_names.py

Prints the best of three rounds; each round uses fresh names so no cached answer helps.
"""

from __future__ import annotations

import time

from guajie.catalog.sensitivity import suggest_sensitivity

BASES = [
    "phone", "status", "legal_rep_name", "company_name", "sfzh", "created_at", "lxdh",
    "district_code", "ip_address", "联系人电话", "amount", "birthDate",
]  # fmt: skip


def main() -> None:
    best = float("inf")
    for round_ in range(3):
        names = [f"{BASES[i % len(BASES)]}_r{round_}x{i}" for i in range(10_000)]
        start = time.perf_counter()
        for name in names:
            suggest_sensitivity(name, arrow_type="string")
        best = min(best, time.perf_counter() - start)
    print(f"10,000 column names judged by name: best {best * 1000:.1f} ms of 3 rounds")


if __name__ == "__main__":
    main()
