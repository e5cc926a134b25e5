"""infrasignal's fetch + parse stage alone, for a like-for-like comparison with the Scrapy spider: every
board of a config through `fetch.Engine` and `crawl.crawl_board` (paging, completeness checks, parsing into
Postings), at the config's concurrency, with no classification and no database.

    python bench/crawl_only.py --config CONFIG

Prints one JSON line: {"postings", "requests", "failed", "seconds"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path


async def crawl_all(config_path: Path) -> dict[str, float]:
    from infrasignal.config import load_config
    from infrasignal.crawl import crawl_board
    from infrasignal.fetch import Engine
    from infrasignal.sources import get_source

    cfg = load_config(config_path)
    started = time.perf_counter()
    async with Engine(cfg.fetch) as engine:
        results = await asyncio.gather(*(crawl_board(engine, get_source(b.ats), b) for b in cfg.boards))
    seconds = time.perf_counter() - started
    return {
        "postings": sum(len(r.postings) for r in results),
        "requests": sum(r.requests for r in results),
        "failed": sum(1 for r in results if r.status == "failed"),
        "seconds": round(seconds, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(crawl_all(args.config))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
