from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "handoff_hub"
    label = "hub"
    verbose_name = "Handoff Hub"
    default_auto_field = "django.db.models.BigAutoField"
