"""How big each simulated world is.

Sizes are counts of things the world is made of; the row counts of the tables
follow from them (events = searches x results x engagement, labels = distinct
pairs of the label searches, ...). `small` is sized so that the whole demo
(teacher training included) runs in minutes on 2 cores: do not grow it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    pins: int
    queries: int
    users: int
    boards_per_user: float  # mean; each user has 1..2*mean-1 boards
    board_pins: int  # saves into boards drawn (duplicates collapse)
    history_searches: int  # searches logged in raw/search_events over the history
    results_per_search: int  # impressions per search (positions 0..n-1)
    # None = every day of the history has events; a number spreads them over that
    # many evenly spaced days (first and last included): fewer ds partitions,
    # which is what makes the small worlds quick to write and to read back.
    active_days: int | None
    label_searches: int  # searches whose results are sent to raters
    impression_searches: int  # searches in the last impression_days days (raw/impressions)
    link_visit_rate: float  # share of clicks that reach the linked page and are logged


SCALES: dict[str, Scale] = {
    s.name: s
    for s in [
        Scale("tiny", pins=400, queries=100, users=150, boards_per_user=1.5, board_pins=1_500,
              history_searches=600, results_per_search=6, active_days=24, label_searches=70,
              impression_searches=300, link_visit_rate=0.8),
        Scale("small", pins=4_000, queries=1_000, users=2_000, boards_per_user=2.0, board_pins=40_000,
              history_searches=30_000, results_per_search=8, active_days=200, label_searches=700,
              impression_searches=1_400, link_visit_rate=0.6),
        Scale("medium", pins=40_000, queries=10_000, users=20_000, boards_per_user=2.0, board_pins=400_000,
              history_searches=300_000, results_per_search=8, active_days=None, label_searches=4_000,
              impression_searches=36_000, link_visit_rate=0.6),
        Scale("large", pins=200_000, queries=50_000, users=200_000, boards_per_user=2.0, board_pins=2_000_000,
              history_searches=1_000_000, results_per_search=10, active_days=None, label_searches=10_000,
              impression_searches=1_500_000, link_visit_rate=0.6),
    ]
}
