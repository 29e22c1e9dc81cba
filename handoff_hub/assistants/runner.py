"""Training and testing assistant versions in the background.

Jobs are rows. A process's runner thread claims the oldest queued job with a conditional UPDATE
(so two processes never run the same job), writes progress the admin page polls, and beats a
heartbeat while it runs. A job whose heartbeat stopped (its process died) is marked failed, so
no job stays "running" forever. Every failure is recorded on the job, never raised to a page.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bot_engine import ProjectError
from handoff_hub.assistants.actions import record_validation
from handoff_hub.assistants.models import AssistantJob, AssistantVersion, JobKind, JobStatus
from handoff_hub.background import PollingThread

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=120)
IDLE_SECONDS = 30.0
_PROGRESS_EVERY = 0.25  # seconds between progress writes

Echo = Callable[[str, float], None]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _one_pass() -> float:
    try:
        while run_next_job() is not None:
            pass
        return IDLE_SECONDS
    finally:
        connection.close()  # hold no connection while idle


_runner = PollingThread("assistant-jobs", _one_pass, logger, "Assistant job runner")


def wake_runner() -> None:
    """Start this process's runner thread if needed and let it look for queued jobs now."""
    if settings.HUB.get("ASSISTANT_JOBS_IN_PROCESS", True):
        _runner.wake()


def stop_runner() -> bool:
    return _runner.stop()


def fail_stale_jobs() -> int:
    """Mark failed the running jobs whose process stopped beating; returns how many."""
    now = timezone.now()
    return AssistantJob.objects.filter(
        status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    ).update(
        status=JobStatus.FAILED,
        finished_at=now,
        error="The process running this job stopped. Start it again.",
    )


def run_next_job(echo: Echo | None = None) -> AssistantJob | None:
    """Claim and run the oldest queued job; None when there is none."""
    fail_stale_jobs()
    queued = AssistantJob.objects.filter(status=JobStatus.QUEUED).order_by("created_at", "pk")
    for job_id in queued.values_list("pk", flat=True)[:10]:
        if claim(job_id):
            job = AssistantJob.objects.select_related("version__assistant").get(pk=job_id)
            run_job(job, echo)
            return job
    return None


def claim(job_id: int) -> bool:
    now = timezone.now()
    return bool(
        AssistantJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker_name()
        )
    )


def run_job(job: AssistantJob, echo: Echo | None = None) -> None:
    """Run a claimed job to the end, recording success or the reason it failed."""
    reporter = _Progress(job.pk, echo)
    with _Heartbeat(job.pk):
        try:
            if job.kind == JobKind.TRAIN:
                result = _train(job.version, reporter)
            else:
                result = _test(job.version, reporter)
        except ProjectError as error:
            record_validation(job.version, error.errors, error.warnings)
            lines = "\n".join(str(e) for e in error.errors[:20])
            _finish(job, JobStatus.FAILED, error=f"The project has errors:\n{lines}")
        except Exception as error:  # noqa: BLE001 - any failure is shown in admin, not raised
            logger.exception("Assistant job %s failed", job.pk)
            _finish(job, JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
        else:
            _finish(job, JobStatus.SUCCEEDED, result=result)


def _train(version: AssistantVersion, reporter: "_Progress") -> dict:
    from bot_engine import Assistant
    from handoff_hub import engine

    reporter("loading the project", 0.0)
    assistant = Assistant.load(
        version.project_path, model_dir=settings.HUB["MODEL_DIR"], progress=reporter
    )
    record_validation(version, [], assistant.warnings)
    version.model_fingerprint = assistant.fingerprint[:80]
    version.trained_at = timezone.now()
    version.save(update_fields=["model_fingerprint", "trained_at"])
    engine.remember_trained(version.pk, assistant)
    return {"fingerprint": assistant.fingerprint}


def _test(version: AssistantVersion, reporter: "_Progress") -> dict:
    from bot_engine import Assistant
    from bot_engine.conversation_tests import run_project_tests

    reporter("loading the model", 0.0)
    assistant = Assistant.load(version.project_path, model_dir=settings.HUB["MODEL_DIR"])
    report = run_project_tests(assistant, version.project_path, progress=reporter)
    version.tests_passed, version.tests_failed = report.passed, report.failed
    version.tested_at = timezone.now()
    version.save(update_fields=["tests_passed", "tests_failed", "tested_at"])
    return {
        "passed": report.passed,
        "failed": report.failed,
        "summary": report.closing_line(),
        "failures": report.failures[:200],
        "errors": report.errors[:200],
    }


def _finish(job: AssistantJob, status: str, result: dict | None = None, error: str = "") -> None:
    AssistantJob.objects.filter(pk=job.pk).update(
        status=status,
        result=result or {},
        error=error[:10000],
        progress=1.0 if status == JobStatus.SUCCEEDED else job.progress,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()


class _Progress:
    """The engine's progress callback: saves step and fraction (throttled), echoes them."""

    def __init__(self, job_id: int, echo: Echo | None):
        self.job_id = job_id
        self.echo = echo
        self.written_at = 0.0

    def __call__(self, step: str, fraction: float) -> None:
        if self.echo is not None:
            self.echo(step, fraction)
        now = time.monotonic()
        if fraction < 1 and now - self.written_at < _PROGRESS_EVERY:
            return
        self.written_at = now
        AssistantJob.objects.filter(pk=self.job_id).update(
            step=step[:200], progress=max(0.0, min(1.0, fraction)), heartbeat_at=timezone.now()
        )


class _Heartbeat:
    """While a job runs, tell the database every few seconds that its process is alive."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="assistant-job-heartbeat")

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        try:
            while not self.stop.wait(HEARTBEAT_SECONDS):
                AssistantJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()
