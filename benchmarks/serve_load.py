"""Load on `guajie serve`: concurrent clients of three scenarios for a fixed time.

Generates the sample city, registers it, creates one token per scenario, starts
`guajie serve` on a loopback port and runs clients with keep-alive connections, each
sending its scenario's queries (Arrow and JSON) and checking every answer against the one
computed beforehand through a Session as that scenario. Prints throughput and latency
percentiles, the load average and whether the audit log holds one verified entry per request.

    python benchmarks/serve_load.py                      # 50 clients, 30 s
    python benchmarks/serve_load.py --clients 20 --seconds 10 --sessions 4 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sessions", type=int, default=8, help="guajie serve --sessions")
    parser.add_argument("--workers", type=int, default=1, help="guajie serve --workers")
    parser.add_argument("--scale", type=float, default=1.0, help="sample city scale")
    args = parser.parse_args()

    from guajie.catalog.ledger import Catalog
    from guajie.catalog.tokens import Tokens
    from guajie.lineage.audit import AuditLog
    from guajie.sample_sources import generate
    from tests.lineage_support import register_city
    from tests.support.guajie_server import GuajieServer
    from tests.support.serve_load import WORKLOAD, apply_scenarios, prepare, run_load

    with tempfile.TemporaryDirectory(prefix="guajie-serve-load-") as tmp:
        city, home = Path(tmp) / "city", Path(tmp) / "ws"
        generate(city, scale=args.scale)
        register_city(home, city)
        catalog = Catalog.open(str(home))
        apply_scenarios(catalog)
        tokens = {s: Tokens(catalog.store).create(s, name=f"load-{s}") for s in WORKLOAD}
        catalog.workspace.close()
        calls = prepare(home, {s: secret for s, (_, secret) in tokens.items()})
        options = ["--sessions", str(args.sessions), "--workers", str(args.workers)]
        with GuajieServer(home, options, log=Path(tmp) / "serve.log") as server:
            time.sleep(0.5)
            before = os.getloadavg()
            result = run_load(server, calls, clients=args.clients, seconds=args.seconds)
            after = os.getloadavg()
        catalog = Catalog.open(str(home))
        log = AuditLog(catalog.store)
        audited = {
            s: len(log.search(user=f"token:{token.id}", limit=None))
            for s, (token, _) in tokens.items()
        }
        verified = log.verify()
        catalog.workspace.close()

    print(
        f"guajie serve: {args.clients} clients, {args.seconds:g} s, "
        f"{len(WORKLOAD)} scenarios, --sessions {args.sessions} --workers {args.workers}, "
        f"{os.cpu_count()} CPUs"
    )
    print(result.summary())
    print(
        "answers per scenario: "
        + ", ".join(f"{s} {n}" for s, n in sorted(result.by_scenario.items()))
    )
    print(f"load average (1 min): {before[0]:.2f} before, {after[0]:.2f} after")
    print(
        "audit: "
        + ", ".join(f"{s} {n}" for s, n in sorted(audited.items()))
        + f" entries; chain {'verified' if verified.ok else 'BROKEN'} ({verified.entries} entries)"
    )
    for failure in result.failures[:10]:
        print("FAILED:", failure)
    consistent = all(audited[s] == result.by_scenario.get(s, 0) for s in WORKLOAD)
    return 0 if not result.failures and verified.ok and consistent else 1


if __name__ == "__main__":
    sys.exit(main())
