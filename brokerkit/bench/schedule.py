"""The plan of a benchmark: every workload against every URL, per API and repeat,
brokerkit and the raw baseline alternating which goes first, each after an unreported
warm-up run; and running that plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .baselines import get_baseline
from .driver import BROKERKIT
from .results import FAILED, UNSUPPORTED, RunResult
from .runner import Endpoint, NoProgress, Progress, run_once
from .targets import Baseline, Target
from .workload import Workload, with_overrides

__all__ = ["Job", "run_jobs", "schedule", "warmup_of"]


@dataclass(frozen=True)
class Job:
    """One planned run (or a skipped one, with the reason)."""

    workload: Workload
    endpoint: Endpoint
    api: str
    repeat: int
    target: Target
    baseline: Baseline | None
    skip: str = ""
    warmup: bool = False
    """A short run first, not reported: connections, allocator and caches warm up."""


def warmup_of(workload: Workload) -> Workload:
    """A tenth of ``workload`` (at least 1,000 messages, at most 1 s of sending)."""
    if workload.message_count is not None:
        count = min(workload.message_count, max(1000, workload.message_count // 10))
        return with_overrides(workload, {"message_count": max(count, workload.producers)})
    return with_overrides(workload, {"duration": min(workload.duration or 1.0, 1.0)})


def schedule(
    workloads: Sequence[Workload],
    endpoints: Sequence[Endpoint],
    *,
    repeat: int = 1,
    baseline: bool = True,
    warmup: bool = False,
) -> list[Job]:
    """Every workload against every endpoint, per API, ``repeat`` times: brokerkit and (when
    ``baseline``) the raw client, alternating which goes first; after a warm-up run of each
    when ``warmup``."""
    jobs: list[Job] = []
    for workload in workloads:
        for endpoint in endpoints:
            raw = get_baseline(endpoint.scheme)
            targets: list[Target] = [BROKERKIT]
            if baseline and raw is not None:
                targets.append(raw)
            reason = endpoint.unsupported(workload)
            for api in workload.api:
                if warmup and not reason:
                    short = warmup_of(workload)
                    jobs += [Job(short, endpoint, api, 0, t, raw, warmup=True) for t in targets]
                for index in range(1 if reason else repeat):
                    order = targets if index % 2 == 0 else targets[::-1]
                    for target in order:
                        jobs.append(Job(workload, endpoint, api, index, target, raw, reason))
    return jobs


def run_jobs(jobs: Sequence[Job], progress: Progress | None = None) -> list[RunResult]:
    """Run (or record as skipped) every job, in order; warm-up runs are not returned
    unless they failed."""
    progress = progress or NoProgress()
    results = []
    for job in jobs:
        if job.skip:
            results.append(_skipped(job))
            continue
        result = run_once(
            job.target,
            job.endpoint,
            job.workload,
            job.api,
            job.repeat,
            progress,
            job.baseline,
            label="warm-up" if job.warmup else "",
        )
        if not job.warmup or result.status == FAILED:
            results.append(result)
    return results


def _skipped(job: Job) -> RunResult:
    return RunResult(
        workload=job.workload.name,
        url=job.endpoint.shown,
        scheme=job.endpoint.scheme,
        target=job.target.name,
        api=job.api,
        repeat=0,
        guarantee=job.workload.guarantee,
        message_size=job.workload.message_size,
        status=UNSUPPORTED,
        note=job.skip,
    )
