"""The run as a graph: each job starts as soon as the jobs it needs are done.

The compatibility test's critical path is prepare -> infer -> evaluate; everything else
(image checks, sanity_check, statistics, the other model) runs beside it. `run_graph`
starts every job whose needs are met, highest priority (the order given) first, and never
waits for a whole stage. After a failure it starts only the jobs marked `after_failure`
(those that tell whose fault the failure is), lets the running ones finish, and returns
what failed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    needs: tuple[str, ...]
    run: Callable[[dict[str, Any]], Any]  # given the results of the jobs done so far
    after_failure: bool = False  # started also when another job failed


def run_graph(
    pool: ThreadPoolExecutor, jobs: dict[str, Job]
) -> tuple[dict[str, Any], dict[str, BaseException]]:
    """Run `jobs` (in the pool, by priority: the dict's order); (results, failures)."""
    results: dict[str, Any] = {}
    failed: dict[str, BaseException] = {}
    pending = dict(jobs)
    running: dict[Future[Any], str] = {}
    while True:
        for name, job in list(pending.items()):
            if any(n in failed or n not in jobs for n in job.needs):
                del pending[name]  # it can never run
            elif (not failed or job.after_failure) and all(n in results for n in job.needs):
                del pending[name]
                running[pool.submit(job.run, dict(results))] = name
        if not running:
            return results, failed
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            name = running.pop(future)
            error = future.exception()
            if error is not None:
                failed[name] = error
            else:
                results[name] = future.result()
