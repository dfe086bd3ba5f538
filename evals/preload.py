"""What a comparison needs once its answers are in, imported while they are still coming (issue 12).

`evals compare` spends its wall time waiting for two endpoints, and its client uses a fraction
of one core meanwhile. Importing the gate's statistics (numpy) and the report's modules used to
start only after the last answer, and was much of the time between it and the verdict
(docs/performance.md). A thread does that while the requests are in flight; only the work that
depends on the answers (the gate, the plots, the page) is left for the end. It starts once the
first answer is in (`run_jobs(answered=...)`): by then the main thread has imported what
sending needs (aiohttp, rich), which would otherwise share the GIL with these imports and
delay the first requests.

Nothing here changes what is computed: the same modules are imported, once, by whichever
thread gets there first (Python's import lock makes the other wait). A failure in the thread
is ignored, so that the import where the module is used fails as it always did.
"""

from __future__ import annotations

import importlib
import threading

# The gate and the report, in the order the end of a comparison uses them.
REPORT_MODULES = ("evals.gate", "evals.report", "evals.html")


class Preload:
    """A daemon thread importing modules (an interrupted command does not wait for it)."""

    def __init__(self, modules: tuple[str, ...] = REPORT_MODULES) -> None:
        self.modules = modules
        self._thread = threading.Thread(target=self._run, name="evals-preload", daemon=True)

    def start(self) -> None:
        """Once the command's own work is under way: its imports (aiohttp, rich) are not to share the GIL with these."""
        if self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        for name in self.modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the import where the module is used reports it
                continue
