"""When a posting was last seen: the rule, in Python and in SQL.

A fetch that lists a board's postings stamps each listed posting's `last_seen` with its time and records
that time on the board (`board.listed_at`, schema v8). A later fetch that answers "not modified" (a 304, or
the same body) lists exactly the same postings again; it only records its time on the board
(`board.unchanged_at`) instead of rewriting every open posting's row, which on a store of long postings
was most of an unchanged re-scrape's writes (96 MB of WAL and 0.6 s of SQLite for 100,000 open postings).

So a posting's last sighting is `board.unchanged_at` when it was listed by the board's last listing fetch
(`last_seen = board.listed_at`) and a not-modified answer came since; otherwise its own `last_seen`. A
posting that the listing fetch did not list (closed, or missing from a suspect or incomplete fetch) keeps
its own. The store writes the board's time into the postings that stop being listed when the next listing
fetch comes (store.py), so the rule only ever looks at the board's current pair of times.
"""

from __future__ import annotations

from datetime import datetime

# The rule over `posting p JOIN board b`, for the read side (queries.py; SQLite and PostgreSQL alike).
LAST_SEEN_SQL = "CASE WHEN b.unchanged_at IS NOT NULL AND p.last_seen = b.listed_at THEN b.unchanged_at ELSE p.last_seen END"


def last_seen(
    posting_last_seen: datetime | None, listed_at: datetime | None, unchanged_at: datetime | None
) -> datetime | None:
    """The rule for one posting, from its own `last_seen` and its board's `listed_at` and `unchanged_at`."""
    if unchanged_at is not None and posting_last_seen is not None and posting_last_seen == listed_at:
        return unchanged_at
    return posting_last_seen
