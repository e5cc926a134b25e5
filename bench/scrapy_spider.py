"""The Scrapy baseline for `bench/run.py`: a minimal spider that fetches the same simulated boards as the
infrasignal scrape and parses each JSON body into items (no storage), at the same concurrency.

    python bench/scrapy_spider.py --base-url http://127.0.0.1:PORT --boards 1000 --postings 100 \
        --concurrency 16 --seed 7

It rebuilds the benchmark's board list from the simulator (same seed, same ATS mix), follows Lever's
skip/limit paging exactly as infrasignal's Lever source does (a full page asks for the next one), and
prints one JSON line: {"items", "requests", "seconds", "errors"}. Settings: no download delay, no
AutoThrottle, no robots.txt, no cookies, retries as Scrapy's defaults, logging at WARNING.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.simulator import bench_simulator  # noqa: E402

LEVER_PAGE = 100


class BoardSpider(scrapy.Spider):
    """One request per board (Lever: per page); every posting becomes a dict item."""

    name = "boards"

    def __init__(self, targets: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets

    def start_requests(self) -> Iterator[scrapy.Request]:
        for ats, url in self.targets:
            if ats == "lever":
                yield scrapy.Request(
                    f"{url}?mode=json&skip=0&limit={LEVER_PAGE}",
                    cb_kwargs={"ats": ats, "base": url, "skip": 0},
                )
            else:
                yield scrapy.Request(url, cb_kwargs={"ats": ats, "base": url, "skip": 0})

    async def start(self) -> Any:  # Scrapy >= 2.13 entry point; same requests
        for request in self.start_requests():
            yield request

    def parse(self, response: Any, ats: str, base: str, skip: int) -> Iterator[Any]:
        data = json.loads(response.body)
        if ats == "greenhouse":
            for job in data["jobs"]:
                yield {
                    "id": str(job["id"]),
                    "title": job["title"].strip(),
                    "location": (job.get("location") or {}).get("name", ""),
                    "department": ", ".join(d["name"] for d in job.get("departments") or []),
                    "description": html.unescape(job.get("content") or ""),
                    "url": job["absolute_url"],
                }
        elif ats == "lever":
            for job in data:
                cats = job.get("categories") or {}
                yield {
                    "id": job["id"],
                    "title": job["text"].strip(),
                    "location": " | ".join(cats.get("allLocations") or [cats.get("location", "")]),
                    "department": cats.get("department", ""),
                    "description": job.get("descriptionPlain", ""),
                    "url": job["hostedUrl"],
                }
            if len(data) == LEVER_PAGE:
                nxt = skip + LEVER_PAGE
                yield scrapy.Request(
                    f"{base}?mode=json&skip={nxt}&limit={LEVER_PAGE}",
                    cb_kwargs={"ats": ats, "base": base, "skip": nxt},
                )
        else:
            for job in data["jobs"]:
                yield {
                    "id": job["id"],
                    "title": job["title"].strip(),
                    "location": job.get("location", ""),
                    "department": job.get("department", ""),
                    "description": job.get("descriptionPlain", ""),
                    "url": job["jobUrl"],
                }


def targets(base_url: str, boards: int, postings: int, seed: int, kinds: list[str]) -> list[tuple[str, str]]:
    sim = bench_simulator(boards, postings, seed, 1, kinds, True)
    out = []
    for b in sim.boards:
        if b.ats == "greenhouse":
            out.append((b.ats, f"{base_url}/v1/boards/{b.token}/jobs?content=true"))
        elif b.ats == "lever":
            out.append((b.ats, f"{base_url}/v0/postings/{b.token}"))
        elif b.ats == "ashby":
            out.append((b.ats, f"{base_url}/posting-api/job-board/{b.token}?includeCompensation=true"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--postings", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kinds", default="greenhouse,lever,ashby")
    args = parser.parse_args()
    work = targets(args.base_url, args.boards, args.postings, args.seed, args.kinds.split(","))
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "USER_AGENT": "infrasignal-bench-scrapy",
            "DOWNLOAD_MAXSIZE": 50_000_000,
        }
    )
    crawler = process.create_crawler(BoardSpider)
    started = time.perf_counter()
    process.crawl(crawler, targets=work)
    process.start()
    seconds = time.perf_counter() - started
    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(
        json.dumps(
            {
                "items": stats.get("item_scraped_count", 0),
                "requests": stats.get("downloader/request_count", 0),
                "errors": stats.get("log_count/ERROR", 0),
                "seconds": round(seconds, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
