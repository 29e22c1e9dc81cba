"""Scripted deployment of a project directory: import (or reuse), validate, train, activate.

Used by `make demo` (via `setup_demo`) and `manage.py import_assistant`; running it again with
unchanged files changes nothing.
"""

from dataclasses import dataclass
from pathlib import Path

from handoff_hub.assistants import actions, archives, runner
from handoff_hub.assistants.models import (
    Assistant,
    AssistantJob,
    AssistantVersion,
    Deployment,
    JobKind,
    JobStatus,
    ValidationStatus,
)


@dataclass
class DeployOutcome:
    version: AssistantVersion
    imported: bool
    trained: bool
    activated: bool


def line_progress(write):
    """A progress callback that writes one line per step (readable in logs, unlike a bar)."""
    last = {"step": None}

    def show(step: str, fraction: float) -> None:
        if step != last["step"]:
            last["step"] = step
            write(f"  {fraction:4.0%}  {step}")

    return show


def run_now(version: AssistantVersion, kind: str, echo=None, user=None) -> AssistantJob:
    """Run a train or test job in this thread (recorded like any job), not in the background."""
    job = AssistantJob.objects.create(
        version=version, kind=kind, status=JobStatus.RUNNING, requested_by=user
    )
    AssistantJob.objects.filter(pk=job.pk).update(worker=runner.worker_name())
    runner.run_job(job, echo)
    version.refresh_from_db()
    return job


def deploy_directory(
    name: str, directory: str | Path, site: str = "", echo=None, user=None, activate=True
) -> DeployOutcome:
    """Make `directory`'s project the active version of assistant `name` for `site`."""
    assistant, _ = Assistant.objects.get_or_create(name=name)
    digest, _count, _size = archives.content_digest(archives.find_project_root(Path(directory)))
    version = (
        assistant.versions.filter(content_sha256=digest).exclude(
            validation_status=ValidationStatus.INVALID
        )
    ).first()
    imported = version is None
    if imported:
        version = actions.add_version_from_directory(assistant, str(directory), user)
    if version.validation_status != ValidationStatus.VALID:
        errors = [m for m in version.validation_messages if m["level"] == "error"]
        lines = "\n".join(f"{m['file']}:{m['line'] or ''} {m['message']}" for m in errors)
        raise actions.LifecycleError(f"{version} has validation errors:\n{lines}")
    trained = not version.is_trained
    if trained:
        job = run_now(version, JobKind.TRAIN, echo, user)
        if job.status != JobStatus.SUCCEEDED:
            raise actions.LifecycleError(f"Training {version} failed: {job.error}")
    activated = False
    if activate and not Deployment.objects.filter(site=site, version=version).exists():
        actions.activate_version(version, site, user)
        activated = True
    return DeployOutcome(version, imported, trained, activated)
