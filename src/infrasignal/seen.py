"""When a posting was last seen: the rule, in Python and in SQL.

A fetch that lists a board's postings stamps each listed posting's `last_seen` with its time and records
that time on the board (`board.listed_at`, schema v8). A later fetch that answers "not modified" (a 304, or
the same body) lists exactly the same postings again; it only moves the board's `last_success_at`, as every
successful fetch does, instead of rewriting every open posting's row, which on a store of long postings was
most of an unchanged re-scrape's writes (96 MB of WAL and 0.6 s of SQLite for 100,000 open postings).

So a posting listed by the board's last listing fetch (`last_seen = board.listed_at`) was last seen at the
board's last success (the listing itself, or a not-modified answer since); any other posting (closed, or
missing from a suspect or incomplete fetch) at its own `last_seen`. When the next listing fetch comes, the
store writes the board's last success into the postings that stop being listed (store.py), so the rule
only ever looks at the board's current pair of times.
"""

from __future__ import annotations

from datetime import datetime

# The rule over `posting p JOIN board b`, for the read side (queries.py; SQLite and PostgreSQL alike).
LAST_SEEN_SQL = "CASE WHEN p.last_seen = b.listed_at THEN b.last_success_at ELSE p.last_seen END"


def last_seen(
    posting_last_seen: datetime | None, listed_at: datetime | None, last_success_at: datetime | None
) -> datetime | None:
    """The rule for one posting, from its own `last_seen` and its board's `listed_at` and `last_success_at`."""
    if posting_last_seen is not None and posting_last_seen == listed_at and last_success_at is not None:
        return last_success_at
    return posting_last_seen
