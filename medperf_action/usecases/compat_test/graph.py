"""The run as a graph: each job starts as soon as the jobs it needs are done.

The compatibility test's critical path is prepare -> infer -> evaluate; everything else
(image checks, sanity_check, statistics, the other model) runs beside it. `run_graph`
starts, whenever one of its `Workers` is free, the first job (in the order given: the
priority) whose needs are met, and never waits for a whole stage. After a failure it
starts only the jobs that tolerate exactly that failure (those that tell whose fault it
is: the reference model's runs, when the metrics cube failed on the candidate's
predictions), lets the running ones finish, and returns what failed.

`Workers` are plain threads, one per job, at most `slots` at a time (no thread pool: its
module and `logging` cost a cached run more than the threads do).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Job:
    needs: tuple[str, ...]
    run: Callable[[dict[str, Any]], Any]  # given the results of the jobs done so far
    #: The failures after which it is started all the same (none: no failure at all).
    tolerates: tuple[str, ...] = ()


class Workers:
    """Runs jobs on threads, at most `slots` at a time; leaving waits for all of them."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.done: queue.Queue[tuple[str, Any, BaseException | None]] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def start(self, name: str, fn: Callable[[], Any]) -> None:
        def work() -> None:
            try:
                result = fn()
            except BaseException as exc:  # reported to run_graph, which decides
                self.done.put((name, None, exc))
            else:
                self.done.put((name, result, None))

        thread = threading.Thread(target=work, name=f"medperf-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def next_done(self) -> tuple[str, Any, BaseException | None]:
        while True:  # in slices, so that Ctrl-C reaches the main thread promptly
            try:
                return self.done.get(timeout=0.5)
            except queue.Empty:
                continue

    def join(self) -> None:
        """Wait for every job started so far (after a cancel, before their results are
        written or their folders removed)."""
        for thread in self.threads:
            thread.join()

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.join()


def run_graph(
    workers: Workers, jobs: dict[str, Job]
) -> tuple[dict[str, Any], dict[str, BaseException]]:
    """Run `jobs` (by priority: the dict's order); (results, failures)."""
    results: dict[str, Any] = {}
    failed: dict[str, BaseException] = {}
    pending = dict(jobs)
    running = 0
    while True:
        for name, job in list(pending.items()):
            if any(n in failed or n not in jobs for n in job.needs):
                del pending[name]  # it can never run
            elif (
                running < workers.slots
                and failed.keys() <= set(job.tolerates)
                and all(n in results for n in job.needs)
            ):
                del pending[name]
                workers.start(name, _bound(job, dict(results)))
                running += 1
        if not running:
            return results, failed
        name, result, error = workers.next_done()
        running -= 1
        if error is not None:
            failed[name] = error
        else:
            results[name] = result


def _bound(job: Job, done: dict[str, Any]) -> Callable[[], Any]:
    return lambda: job.run(done)
