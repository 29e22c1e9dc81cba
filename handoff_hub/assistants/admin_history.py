"""Admin for what the lifecycle leaves behind: which version each site runs (with rollback), the
activation history, and the log of training and test jobs. All read-only: they change only
through the lifecycle buttons and actions."""

from django.contrib import admin, messages
from django.utils.html import format_html_join

from handoff_hub.assistants import actions
from handoff_hub.assistants.admin import ACTIVATE_PERMISSION
from handoff_hub.assistants.models import Activation, AssistantJob, Deployment, describe_site


@admin.action(description="Roll back the selected sites to their previous version")
def rollback_selected(modeladmin, request, queryset):
    if not request.user.has_perm(ACTIVATE_PERMISSION):
        modeladmin.message_user(request, "You may not roll back versions.", messages.ERROR)
        return
    for deployment in queryset:
        try:
            done = actions.rollback_site(deployment.site, request.user)
        except actions.LifecycleError as error:
            modeladmin.message_user(request, error.message, messages.WARNING)
        else:
            where = describe_site(done.site).capitalize()
            modeladmin.message_user(request, f"{where} is back on {done.version}.")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ("site_label", "version", "activated_at", "activated_by", "history")
    actions = [rollback_selected]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("version__assistant", "activation__actor")
        )

    @admin.display(description="Site", ordering="site")
    def site_label(self, deployment: Deployment) -> str:
        return describe_site(deployment.site)

    @admin.display(description="By")
    def activated_by(self, deployment: Deployment):
        return deployment.activation.actor

    @admin.display(description="History")
    def history(self, deployment: Deployment) -> str:
        rows = Activation.objects.filter(site=deployment.site).select_related("version__assistant")
        return format_html_join(
            ", ", "{} {}", ((a.get_kind_display().lower(), a.version) for a in rows[:5])
        )


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "site", "version", "actor")
    list_filter = ("kind", "site")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AssistantJob)
class AssistantJobAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "version", "status", "progress", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = ("error", "result")
