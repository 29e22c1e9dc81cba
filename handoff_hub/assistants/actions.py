"""Changing assistants: add a version, validate it, ask for training or tests, activate, roll back.

Each function either refuses with a `LifecycleError` whose message an admin can act on, or makes
its change in one transaction. Activation locks the site's `Deployment` row, so two admins
activating at once are serialised and the history stays a single chain.
"""

import shutil
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from bot_engine import ProjectError, ValidationMessage
from bot_engine.loading.project import load_project
from handoff_hub.assistants import archives, registry
from handoff_hub.assistants.models import (
    Activation,
    ActivationKind,
    Assistant,
    AssistantJob,
    AssistantVersion,
    Deployment,
    JobKind,
    JobStatus,
    ValidationStatus,
    VersionSource,
    describe_site,
    site_key_validator,
)

_ACTIVATION_ATTEMPTS = 3


class LifecycleError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---- adding versions ----
def add_version_from_zip(
    assistant: Assistant, upload, user=None, notes: str = ""
) -> AssistantVersion:
    """Unpack an uploaded project zip safely, store it as the next version, validate it."""
    try:
        imported = archives.extract_zip(upload)
    except archives.ImportProblem as problem:
        raise LifecycleError(str(problem)) from None
    name = Path(getattr(upload, "name", "") or "upload.zip").name
    return _add_version(assistant, imported, VersionSource.UPLOAD, name, user, notes)


def add_version_from_directory(
    assistant: Assistant, directory: str, user=None, notes: str = ""
) -> AssistantVersion:
    """Copy a project directory on the server (a snapshot) as the next version, validate it."""
    try:
        imported = archives.copy_directory(directory)
    except archives.ImportProblem as problem:
        raise LifecycleError(str(problem)) from None
    source = str(Path(directory).expanduser().resolve())
    return _add_version(assistant, imported, VersionSource.DIRECTORY, source, user, notes)


def _add_version(assistant, imported, source, source_name, user, notes) -> AssistantVersion:
    final_root = None
    try:
        with transaction.atomic():
            locked = Assistant.objects.select_for_update().get(pk=assistant.pk)
            number = (locked.versions.aggregate(top=Max("number"))["top"] or 0) + 1
            final_root = archives.place(imported, locked.pk, number)
            version = AssistantVersion.objects.create(
                assistant=locked,
                number=number,
                notes=notes[:200],
                source=source,
                source_name=source_name[:500],
                project_path=str(final_root),
                content_sha256=imported.content_sha256,
                file_count=imported.file_count,
                size_bytes=imported.size_bytes,
                created_by=user,
            )
    except BaseException:
        archives.discard(imported)
        if final_root is not None:
            shutil.rmtree(_version_folder(final_root), ignore_errors=True)
        raise
    return validate_version(version)


def _version_folder(project_root: Path) -> Path:
    """The store folder a version owns (its project root may be one level below it)."""
    store = archives.store_root().resolve()
    path = Path(project_root).resolve()
    while path.parent.parent != store and path.parent != path:
        path = path.parent
    return path


def delete_version_files(version: AssistantVersion) -> None:
    """Remove a deleted version's copy from the store (never anything outside the store)."""
    folder = _version_folder(Path(version.project_path))
    if archives.store_root().resolve() in folder.parents:
        shutil.rmtree(folder, ignore_errors=True)


def same_content_as(version: AssistantVersion) -> AssistantVersion | None:
    """An earlier version of the same assistant with identical files, if any."""
    return (
        AssistantVersion.objects.filter(
            assistant=version.assistant_id, content_sha256=version.content_sha256
        )
        .exclude(pk=version.pk)
        .order_by("number")
        .first()
    )


# ---- validating ----
def message_as_dict(message: ValidationMessage) -> dict:
    return {
        "level": message.level,
        "file": message.file,
        "line": message.line,
        "key": message.key,
        "message": message.message,
    }


def record_validation(version: AssistantVersion, errors: list, warnings: list) -> None:
    version.validation_status = ValidationStatus.INVALID if errors else ValidationStatus.VALID
    version.validation_messages = [message_as_dict(m) for m in [*errors, *warnings]]
    version.validated_at = timezone.now()
    version.save(update_fields=["validation_status", "validation_messages", "validated_at"])


def validate_version(version: AssistantVersion) -> AssistantVersion:
    """Load the project and record every error and warning with its file and line."""
    try:
        project = load_project(version.project_path)
    except ProjectError as error:
        record_validation(version, error.errors, error.warnings)
    else:
        record_validation(version, [], project.warnings)
    return version


# ---- training and testing (run by assistants.runner) ----
def request_job(version: AssistantVersion, kind: str, user=None) -> AssistantJob:
    """Queue training or tests for a version; the runner picks it up after commit."""
    from handoff_hub.assistants import runner

    if kind not in JobKind.values:
        raise LifecycleError(f"Unknown job kind {kind!r}.")
    if version.validation_status == ValidationStatus.INVALID:
        raise LifecycleError(f"{version} has validation errors; fix them and upload again.")
    runner.fail_stale_jobs()  # a job whose process died must not block a new one
    with transaction.atomic():
        AssistantVersion.objects.select_for_update().get(pk=version.pk)
        busy = version.jobs.filter(kind=kind, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        if busy.exists():
            raise LifecycleError(f"{version} is already being {_job_verb(kind)}.")
        job = AssistantJob.objects.create(
            version=version, kind=kind, requested_by=user, step="waiting for a runner"
        )
        transaction.on_commit(runner.wake_runner)
    return job


def _job_verb(kind: str) -> str:
    return "trained" if kind == JobKind.TRAIN else "tested"


# ---- activating ----
def check_activatable(version: AssistantVersion, site: str) -> None:
    try:
        if site:
            site_key_validator(site)
    except Exception as error:  # noqa: BLE001 - Django's ValidationError, re-worded
        raise LifecycleError(" ".join(getattr(error, "messages", [str(error)]))) from None
    if version.validation_status != ValidationStatus.VALID:
        raise LifecycleError(f"Validate {version} before activating it.")
    if not version.is_trained:
        raise LifecycleError(f"Train {version} before activating it.")


def activate_version(version: AssistantVersion, site: str = "", user=None) -> Deployment:
    """Make `version` the one `site` runs; running chats switch on their next turn."""
    check_activatable(version, site)
    return _with_retry(lambda: _switch(site, version, ActivationKind.ACTIVATE, user))


def rollback_site(site: str = "", user=None) -> Deployment:
    """Go back to the version `site` ran before its current activation."""

    def switch_back() -> Deployment:
        deployment = Deployment.objects.select_for_update().filter(site=site).first()
        if deployment is None:
            raise LifecycleError(f"No version is active for {describe_site(site)}.")
        previous = deployment.activation.replaces
        if previous is None:
            raise LifecycleError(
                f"{describe_site(site).capitalize()} has no earlier version to roll back to."
            )
        return _switch(site, previous.version, ActivationKind.ROLLBACK, user, previous.replaces)

    return _with_retry(switch_back)


def _with_retry(change) -> Deployment:
    # Two first activations of a new site both insert its row; the loser retries and updates.
    for attempt in range(_ACTIVATION_ATTEMPTS):
        try:
            with transaction.atomic():
                deployment = change()
                transaction.on_commit(registry.forget)
                return deployment
        except IntegrityError:
            if attempt == _ACTIVATION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _switch(site, version, kind, user, replaces: Activation | None = None) -> Deployment:
    """Point `site` at `version`, under the row lock of its Deployment (caller's transaction)."""
    deployment = Deployment.objects.select_for_update().filter(site=site).first()
    if kind == ActivationKind.ACTIVATE:
        if deployment is not None and deployment.version_id == version.pk:
            raise LifecycleError(f"{version} is already active for {describe_site(site)}.")
        replaces = deployment.activation if deployment is not None else None
    activation = Activation.objects.create(
        site=site, version=version, kind=kind, replaces=replaces, actor=user
    )
    now = timezone.now()
    if deployment is None:
        return Deployment.objects.create(
            site=site, version=version, activation=activation, activated_at=now, generation=1
        )
    deployment.version = version
    deployment.activation = activation
    deployment.activated_at = now
    deployment.generation += 1
    deployment.save()
    return deployment


def deployments_of(version: AssistantVersion) -> list[Deployment]:
    return list(Deployment.objects.filter(version=version).order_by("site"))
