"""Assistants, their versions (immutable snapshots of a Rasa project), jobs and deployments.

Which version a site runs is one `Deployment` row per site key, so "exactly one active version
per site" is the database's unique constraint, and `Activation` rows are its history (what a
rollback goes back to). Rows change only through `handoff_hub.assistants.actions`.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

SITE_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,59}$"
site_key_validator = RegexValidator(
    SITE_KEY_PATTERN,
    "A site key is lower-case letters, digits, '.', '_' or '-' (at most 60), or blank for all.",
)


def describe_site(site: str) -> str:
    return site or "every site"


class Assistant(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "hub"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ValidationStatus(models.TextChoices):
    NOT_RUN = "not_run", "Not validated"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Has errors"


class VersionSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded zip"
    DIRECTORY = "directory", "Directory on the server"


class AssistantVersion(models.Model):
    """One Rasa project, copied into the hub's assistant store when it was added (immutable)."""

    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(editable=False)
    notes = models.CharField(max_length=200, blank=True, help_text="What changed.")
    source = models.CharField(max_length=10, choices=VersionSource.choices, editable=False)
    source_name = models.CharField(
        max_length=500, blank=True, editable=False, help_text="Zip file name or directory."
    )
    project_path = models.CharField(max_length=500, editable=False)
    content_sha256 = models.CharField(max_length=64, editable=False, db_index=True)
    file_count = models.PositiveIntegerField(default=0, editable=False)
    size_bytes = models.PositiveBigIntegerField(default=0, editable=False)
    validation_status = models.CharField(
        max_length=10, choices=ValidationStatus.choices, default=ValidationStatus.NOT_RUN
    )
    # [{"level", "file", "line", "key", "message"}], errors first.
    validation_messages = models.JSONField(default=list, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    model_fingerprint = models.CharField(max_length=80, blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    tests_passed = models.PositiveIntegerField(null=True, blank=True)
    tests_failed = models.PositiveIntegerField(null=True, blank=True)
    tested_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "hub"
        ordering = ["assistant", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["assistant", "number"], name="assistant_version_number_unique"
            )
        ]
        permissions = [("activate_assistantversion", "Can activate and roll back versions")]

    def __str__(self) -> str:
        return f"{self.assistant.name} v{self.number}"

    @property
    def is_trained(self) -> bool:
        return bool(self.model_fingerprint)

    @property
    def test_summary(self) -> str:
        if self.tests_passed is None:
            return "not run"
        return f"{self.tests_passed} passed, {self.tests_failed} failed"


class JobKind(models.TextChoices):
    TRAIN = "train", "Train"
    TEST = "test", "Test"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    FAILED = "failed", "Failed"


class AssistantJob(models.Model):
    """Training or testing one version, run in the background by `assistants.runner`."""

    version = models.ForeignKey(AssistantVersion, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    step = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # Tests: {"passed", "failed", "failures": [...], "errors": [...]}; training: {"fingerprint"}.
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    worker = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "hub"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="assistant_job_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class ActivationKind(models.TextChoices):
    ACTIVATE = "activate", "Activated"
    ROLLBACK = "rollback", "Rolled back"


class Activation(models.Model):
    """History: a version was made live for a site. `replaces` is what a rollback returns to."""

    site = models.CharField(max_length=60, blank=True, validators=[site_key_validator])
    version = models.ForeignKey(
        AssistantVersion, on_delete=models.CASCADE, related_name="activations"
    )
    kind = models.CharField(max_length=10, choices=ActivationKind.choices)
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "hub"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version} on {describe_site(self.site)}"


class Deployment(models.Model):
    """The version a site key runs now: one row per site, so one active version per site."""

    site = models.CharField(max_length=60, unique=True, blank=True, validators=[site_key_validator])
    version = models.ForeignKey(
        AssistantVersion, on_delete=models.PROTECT, related_name="deployments"
    )
    activation = models.ForeignKey(Activation, on_delete=models.PROTECT, related_name="+")
    activated_at = models.DateTimeField()
    # Bumped by every activation of this site, so a changed row is noticed cheaply.
    generation = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "hub"
        ordering = ["site"]

    def __str__(self) -> str:
        return f"{describe_site(self.site)}: {self.version}"
