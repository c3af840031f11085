"""Time crawling the large sample city on the embedded default (SQLite and files).

    python benchmarks/crawl_city.py [--scale 100]

Generates the city once under .bench/ (reused), registers its five departments in a fresh
workspace, and times: the first crawl (schemas, statistics, sensitivity samples), and a
re-crawl that finds nothing changed. Crawling never reads table data beyond bounded samples.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=ROOT / ".bench")
    args = parser.parse_args()

    from guajie.sample_sources import generate

    city = args.out / f"city-{args.scale:g}"
    if not (city / "market.sqlite").exists():
        started = time.perf_counter()
        manifest = generate(city, scale=args.scale)
        print(
            f"generated scale {args.scale:g}: {manifest.total_rows:,} rows in "
            f"{time.perf_counter() - started:.1f} s"
        )
    home = args.out / "crawl-workspace"
    shutil.rmtree(home, ignore_errors=True)
    guajie = [sys.executable, "-m", "guajie.cli.__main__", "--home", str(home)]
    sources = {
        "market": f"sqlite://{city}/market.sqlite",
        "hrss": f"sqlite://{city}/hrss.sqlite",
        "civil": f"sqlite://{city}/civil.sqlite",
        "tax": f"file://{city}/tax",
        "transport": f"file://{city}/transport",
    }
    for name, url in sources.items():
        subprocess.run([*guajie, "source", "add", name, url], check=True, capture_output=True)
    size = sum(p.stat().st_size for p in city.rglob("*") if p.is_file())
    files = sum(1 for p in city.rglob("*") if p.is_file())
    print(f"city: {size / 2**30:.2f} GiB in {files:,} files")
    for label in ("first crawl (with sensitivity samples)", "re-crawl, nothing changed"):
        started = time.perf_counter()
        subprocess.run([*guajie, "crawl"], check=True, capture_output=True)
        print(f"{label}: {time.perf_counter() - started:.2f} s (whole process)")


if __name__ == "__main__":
    main()
