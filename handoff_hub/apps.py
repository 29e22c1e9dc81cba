from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class HubConfig(AppConfig):
    name = "handoff_hub"
    label = "hub"
    verbose_name = "Handoff Hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from handoff_hub import hooks, system_checks  # noqa: F401 - registers the checks
        from handoff_hub.models import Webhook

        # The group commit keeps a copy of the active webhooks; a change here shows at once.
        post_save.connect(hooks.forget_webhooks, sender=Webhook, dispatch_uid="webhook-saved")
        post_delete.connect(hooks.forget_webhooks, sender=Webhook, dispatch_uid="webhook-deleted")
