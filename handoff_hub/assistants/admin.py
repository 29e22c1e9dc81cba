"""Django admin for the assistant lifecycle: upload, validate, train, test, activate, roll back.
(Deployments, their history and the job log: `admin_history`.)

Versions are immutable in admin (only their notes change); every lifecycle step is a button on
the version's page that calls `assistants.actions`, and training and tests run in the
background while the page shows their progress.
"""

from django.contrib import admin, messages
from django.db.models import Count
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from handoff_hub.assistants import actions, runner
from handoff_hub.assistants.forms import ActivateForm, AddVersionForm
from handoff_hub.assistants.models import (
    Assistant,
    AssistantJob,
    AssistantVersion,
    Deployment,
    JobKind,
    JobStatus,
    ValidationStatus,
    describe_site,
)

ACTIVATE_PERMISSION = "hub.activate_assistantversion"


def _active_sites(version: AssistantVersion) -> str:
    sites = [describe_site(d.site) for d in version.deployments.all()]
    return ", ".join(sites) or "—"


class VersionInline(admin.TabularInline):
    model = AssistantVersion
    fields = ("version_link", "notes", "validation_status", "trained_at", "tests", "active_on")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Version")
    def version_link(self, version: AssistantVersion) -> str:
        url = reverse("admin:hub_assistantversion_change", args=[version.pk])
        return format_html('<a href="{}">v{}</a>', url, version.number)

    @admin.display(description="Tests")
    def tests(self, version: AssistantVersion) -> str:
        return version.test_summary

    @admin.display(description="Active on")
    def active_on(self, version: AssistantVersion) -> str:
        return _active_sites(version)


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    list_display = ("name", "version_count", "active_on", "created_at")
    search_fields = ("name", "description")
    inlines = [VersionInline]
    change_form_template = "admin/hub/assistant/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(version_total=Count("versions"))

    @admin.display(description="Versions", ordering="version_total")
    def version_count(self, assistant: Assistant) -> int:
        return assistant.version_total

    @admin.display(description="Active on")
    def active_on(self, assistant: Assistant) -> str:
        deployments = Deployment.objects.filter(version__assistant=assistant).select_related(
            "version"
        )
        return (
            ", ".join(f"{describe_site(d.site)} (v{d.version.number})" for d in deployments) or "—"
        )


@admin.register(AssistantVersion)
class AssistantVersionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "notes",
        "validation_status",
        "trained",
        "tests",
        "active_on",
        "created_at",
    )
    list_filter = ("assistant", "validation_status")
    search_fields = ("assistant__name", "notes", "source_name")
    fields = (
        "assistant",
        "number",
        "notes",
        "source",
        "source_name",
        "file_count",
        "size_bytes",
        "content_sha256",
        "validation_status",
        "validated_at",
        "model_fingerprint",
        "trained_at",
        "tested_at",
        "created_by",
        "created_at",
    )
    readonly_fields = tuple(f for f in fields if f != "notes")
    change_form_template = "admin/hub/assistantversion/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("assistant")
            .prefetch_related("deployments")
        )

    @admin.display(boolean=True, description="Trained")
    def trained(self, version: AssistantVersion) -> bool:
        return version.is_trained

    @admin.display(description="Tests")
    def tests(self, version: AssistantVersion) -> str:
        return version.test_summary

    @admin.display(description="Active on")
    def active_on(self, version: AssistantVersion) -> str:
        return _active_sites(version)

    # ---- adding: a form of our own, since the files are imported, not typed in ----
    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            return self._refuse(request)
        initial = {"assistant": request.GET.get("assistant")}
        form = AddVersionForm(request.POST or None, request.FILES or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            version = self._import(request, form)
            if version is not None:
                return HttpResponseRedirect(self._change_url(version))
        context = {
            **self.admin_site.each_context(request),
            "title": "Add an assistant version",
            "form": form,
            "opts": self.model._meta,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/hub/assistantversion/add_version.html", context)

    def _import(self, request, form: AddVersionForm) -> AssistantVersion | None:
        data = form.cleaned_data
        try:
            if data["archive"]:
                version = actions.add_version_from_zip(
                    data["assistant"], data["archive"], request.user, data["notes"]
                )
            else:
                version = actions.add_version_from_directory(
                    data["assistant"], data["directory"], request.user, data["notes"]
                )
        except actions.LifecycleError as error:
            form.add_error("archive" if data["archive"] else "directory", error.message)
            return None
        self.log_addition(request, version, [{"added": {}}])
        twin = actions.same_content_as(version)
        if twin is not None:
            self.message_user(
                request, f"{version} has the same files as v{twin.number}.", messages.WARNING
            )
        valid = version.validation_status == ValidationStatus.VALID
        outcome = version.get_validation_status_display()
        self.message_user(
            request, f"{version} added: {outcome}.", messages.SUCCESS if valid else messages.ERROR
        )
        return version

    # ---- the lifecycle page ----
    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if version is not None:
            jobs = self._current_jobs(version)
            # Read after the jobs: a job that ended meanwhile has already updated the version,
            # so the page never shows a finished job beside a stale version (nothing to poll).
            version.refresh_from_db()
            extra.update(
                version=version,
                errors=[m for m in version.validation_messages if m.get("level") == "error"],
                warnings=[m for m in version.validation_messages if m.get("level") != "error"],
                jobs=jobs,
                last_test=next((j for j in jobs if j.kind == JobKind.TEST and j.is_finished), None),
                deployments=actions.deployments_of(version),
                activate_form=ActivateForm(),
                can_change=self.has_change_permission(request, version),
                can_activate=request.user.has_perm(ACTIVATE_PERMISSION),
                status_url=reverse("admin:hub_assistantversion_status", args=[version.pk]),
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        def wrap(view, name):
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"hub_assistantversion_{name}",
            )

        return [
            wrap(self.validate_view, "validate"),
            wrap(self.train_view, "train"),
            wrap(self.test_view, "test"),
            wrap(self.activate_view, "activate"),
            wrap(self.rollback_view, "rollback"),
            wrap(self.status_view, "status"),
            *super().get_urls(),
        ]

    def _change_url(self, version: AssistantVersion) -> str:
        return reverse("admin:hub_assistantversion_change", args=[version.pk])

    def _refuse(self, request) -> HttpResponse:
        return TemplateResponse(
            request, "admin/hub/refused.html", self.admin_site.each_context(request), status=403
        )

    def _lifecycle_step(self, request, object_id, step, permission: str | None = None):
        """Run one POSTed lifecycle step and come back to the version's page with its result."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = get_object_or_404(AssistantVersion, pk=object_id)
        allowed = (
            request.user.has_perm(permission)
            if permission
            else self.has_change_permission(request, version)
        )
        if not allowed:
            return self._refuse(request)
        try:
            note = step(version)
        except actions.LifecycleError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, note, messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(version))

    def validate_view(self, request, object_id):
        def validate(version):
            actions.validate_version(version)
            errors = sum(1 for m in version.validation_messages if m["level"] == "error")
            if errors:
                raise actions.LifecycleError(f"{version} has {errors} error(s); see below.")
            return f"{version} is valid."

        return self._lifecycle_step(request, object_id, validate)

    def train_view(self, request, object_id):
        def train(version):
            actions.request_job(version, JobKind.TRAIN, request.user)
            return f"Training {version} in the background; progress is shown below."

        return self._lifecycle_step(request, object_id, train)

    def test_view(self, request, object_id):
        def test(version):
            actions.request_job(version, JobKind.TEST, request.user)
            return f"Running the tests of {version} in the background."

        return self._lifecycle_step(request, object_id, test)

    def activate_view(self, request, object_id):
        def activate(version):
            form = ActivateForm(request.POST)
            if not form.is_valid():
                raise actions.LifecycleError(" ".join(form.errors.get("site", ["Bad site key."])))
            site = form.cleaned_data["site"]
            actions.activate_version(version, site, request.user)
            failing = version.tests_failed
            tail = f" Note: its last test run had {failing} failure(s)." if failing else ""
            return f"{version} is now active for {describe_site(site)}.{tail}"

        return self._lifecycle_step(request, object_id, activate, ACTIVATE_PERMISSION)

    def rollback_view(self, request, object_id):
        def rollback(version):
            site = request.POST.get("site", "")
            deployment = actions.rollback_site(site, request.user)
            return f"{describe_site(site).capitalize()} is back on {deployment.version}."

        return self._lifecycle_step(request, object_id, rollback, ACTIVATE_PERMISSION)

    def _current_jobs(self, version: AssistantVersion) -> list[AssistantJob]:
        """The version's latest jobs, after settling those no process runs any more."""
        runner.fail_stale_jobs()
        jobs = list(version.jobs.all()[:10])
        if any(job.status == JobStatus.QUEUED for job in jobs):
            runner.wake_runner()  # e.g. queued just before a restart: this process takes it
        return jobs

    def status_view(self, request, object_id) -> JsonResponse:
        """What the version page polls while a job runs."""
        version = get_object_or_404(AssistantVersion, pk=object_id)
        if not self.has_view_permission(request, version):
            return JsonResponse({"error": "Not allowed."}, status=403)
        jobs = [
            {
                "id": job.pk,
                "kind": job.kind,
                "status": job.status,
                "progress": round(job.progress, 3),
                "step": job.step,
                "error": job.error,
            }
            for job in self._current_jobs(version)
        ]
        return JsonResponse({"version": version.pk, "jobs": jobs})

    # ---- deleting removes the stored copy too ----
    def delete_model(self, request, obj: AssistantVersion) -> None:
        super().delete_model(request, obj)
        actions.delete_version_files(obj)

    def delete_queryset(self, request, queryset) -> None:
        versions = list(queryset)
        super().delete_queryset(request, queryset)
        for version in versions:
            actions.delete_version_files(version)
