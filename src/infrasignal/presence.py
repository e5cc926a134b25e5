"""Keeps the `site_presence` summary (tables.SitePresence) current: where each board has hired before.

`signals` asks, for every company and site a new role appeared at, whether the company already had roles
there (and in which disciplines) before the window. Answered from the postings, that walks every infra
posting the touched companies ever had; answered from this table, it reads a few rows per site.

A row per group of a board's relevant postings (infra, or carrying a discipline tag) at one site: a market
tag, or a non-remote place with a city. The group is (site, discipline or none, infra flag, and for a city
whether the posting had a market at all), the same grouping the signal rules use. Each group keeps its
earliest posting and its earliest baseline posting: a group had a role "before" a window, at any as-of time,
exactly when one of those two did (first seen before the window, or part of the board's baseline).

The store refreshes a board's rows in the same transaction as a fetch that added or re-tagged postings, and
`reclassify` refreshes them all; the v6 migration fills the table for an existing database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

_RELEVANT = """
    SELECT p.id, p.board_id, p.first_seen, p.baseline, p.infra, d.value AS discipline,
           EXISTS (SELECT 1 FROM posting_tag m WHERE m.posting_id = p.id AND m.kind = 'market') AS has_market
    FROM posting p LEFT JOIN posting_tag d ON d.posting_id = p.id AND d.kind = 'discipline'
    WHERE {where} AND (p.infra = :yes OR d.value IS NOT NULL)
"""

# CROSS JOIN: SQLite then walks the selected postings first and looks their tags and places up. Left to
# itself it started at the index of every market tag in the store, once per board: a first scrape of
# 1,000 boards ran at 718 postings/s instead of 2,136. PostgreSQL plans it as any join.
_FILL = """
    INSERT INTO site_presence
        (board_id, market, city, country, discipline, infra, has_market, posting_id, first_seen, baseline)
    SELECT board_id, market, city, country, discipline, infra, has_market, id, first_seen, baseline
    FROM (
        SELECT x.*,
            ROW_NUMBER() OVER (
                PARTITION BY board_id, market, city, country, discipline, infra, has_market
                ORDER BY first_seen, id) AS earliest,
            ROW_NUMBER() OVER (
                PARTITION BY board_id, market, city, country, discipline, infra, has_market, baseline
                ORDER BY first_seen, id) AS earliest_alike
        FROM (
            SELECT s.board_id, t.value AS market, NULL AS city, NULL AS country, s.discipline, s.infra,
                   s.has_market, s.id, s.first_seen, s.baseline
            FROM ({relevant}) s CROSS JOIN posting_tag t WHERE t.posting_id = s.id AND t.kind = 'market'
            UNION ALL
            SELECT s.board_id, NULL, pl.city, pl.country, s.discipline, s.infra,
                   s.has_market, s.id, s.first_seen, s.baseline
            FROM ({relevant}) s CROSS JOIN posting_place pl
            WHERE pl.posting_id = s.id AND pl.city IS NOT NULL AND pl.remote = :no
        ) x
    ) ranked
    WHERE earliest = 1 OR (baseline = :yes AND earliest_alike = 1)
"""


def presence_sql(board_filter: str) -> str:
    """The INSERT ... SELECT that fills the rows of the postings `board_filter` (SQL over `p`) selects."""
    relevant = _RELEVANT.format(where=board_filter)
    return _FILL.format(relevant=relevant)


_BOARD = text(presence_sql("p.board_id = :board"))
_ALL = text(presence_sql("1 = 1"))


def refresh_presence(conn: Any, board_id: int | None = None) -> None:
    """Rebuild one board's rows (or, with None, every board's) inside the caller's transaction."""
    flags = {"yes": True, "no": False}
    if board_id is None:
        conn.execute(text("DELETE FROM site_presence"))
        conn.execute(_ALL, flags)
    else:
        conn.execute(text("DELETE FROM site_presence WHERE board_id = :board"), {"board": board_id})
        conn.execute(_BOARD, flags | {"board": board_id})
