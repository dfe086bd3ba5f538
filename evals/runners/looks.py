"""Both arms of one sequentially gated task, held together look by look (`evals.sequential`).

Each arm sends its items in the design's order and may only start an item of look k + 1 once
look k has been judged without a decision: a faster arm waits at the look instead of spending
generations the verdict may not need. When both arms hold a record of every (item, repeat) up
to a look, `judge` is asked (the CLI passes the gate); a decision stops both arms, with nothing
in flight to cancel, since no request beyond the look was started.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable, Iterable

from evals.errors import UsageError


class Looks:
    def __init__(self, task: str, judge: Callable[[], bool]) -> None:
        self.task = task
        self.judge = judge  # True when the looks so far decide the task
        self.sizes: tuple[int, ...] = ()
        self.repeats = 1
        self.rank: dict[str, int] = {}
        self.held: dict[str, set[tuple[str, int]]] = {}
        self.counts: dict[str, list[int]] = {}
        self.judged = 0  # looks judged without a decision
        self.stopped = False
        self.down_at: int | None = None  # the look being filled when an arm's endpoint was declared down: none after it is started
        self._changed = asyncio.Condition()

    def register(self, arm: str, order: list[str], sizes: tuple[int, ...], repeats: int) -> None:
        """An arm's order; both arms must send the same items, or their looks would not pair."""
        if self.rank and list(self.rank) != order:
            raise UsageError(f"task {self.task}: the two endpoints' runs hold different items; a sequential comparison needs the same items in both")
        self.rank = {item: i for i, item in enumerate(order)}
        self.sizes, self.repeats = sizes, repeats
        self.held[arm] = set()
        self.counts[arm] = [0] * len(sizes)

    def segment(self, item_id: str) -> int:
        """The look whose share holds this item (0-based)."""
        return bisect_right(self.sizes, self.rank[item_id])

    def decided_by(self, item_id: str) -> bool:
        """Whether the item is in the look that decided the task, or an earlier one (False while undecided)."""
        return self.stopped and item_id in self.rank and self.segment(item_id) <= self.judged

    def _expected(self, look: int) -> int:
        return (self.sizes[look] - (self.sizes[look - 1] if look else 0)) * self.repeats

    def start(self, held: dict[str, Iterable[tuple[str, int]]]) -> None:
        """What a resumed run already holds; judges the looks it completes."""
        for arm, keys in held.items():
            for key in keys:
                self._add(arm, key)
        self._advance()

    def _add(self, arm: str, key: tuple[str, int]) -> None:
        if key[0] in self.rank and key not in self.held[arm]:
            self.held[arm].add(key)
            self.counts[arm][self.segment(key[0])] += 1

    def recorded(self, arm: str, key: tuple[str, int]) -> None:
        self._add(arm, key)
        if self._advance():
            asyncio.get_running_loop().create_task(self._notify())

    def _advance(self) -> bool:
        """Judge every look both arms have completed; True when anything changed."""
        changed = False
        while not self.stopped and self.judged < len(self.sizes) and all(c[self.judged] >= self._expected(self.judged) for c in self.counts.values()):
            changed = True
            if self.judge():
                self.stopped = True
            else:
                self.judged += 1
        return changed

    def abandon(self) -> None:
        """An arm's endpoint was declared down: its remaining records of the look being filled are
        errors, and the looks after it would be too. Neither arm starts another look (an independent
        review: the dead arm's instant error records completed every later look, and the other arm
        sent them all, generations no verdict could use); a rerun sends what is missing."""
        if self.down_at is None:
            self.down_at = self.judged
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def admit(self, item_id: str) -> bool:
        """Wait until the item's look is the one being filled; False once the task is decided."""
        look = self.segment(item_id)
        async with self._changed:
            await self._changed.wait_for(lambda: self.stopped or self.judged >= look or self.down_at is not None)
        return not self.stopped and (self.down_at is None or look <= self.down_at)
