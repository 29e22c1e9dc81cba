"""Roles for the assistant lifecycle and analytics: supervisors read, admins run everything."""

from django.db import migrations

SUPERVISOR = {
    "conversation": ["view_analytics"],
    "assistant": ["view_assistant"],
    "assistantversion": ["view_assistantversion"],
    "assistantjob": ["view_assistantjob"],
    "deployment": ["view_deployment"],
    "activation": ["view_activation"],
}
ADMIN_MODELS = ["assistant", "assistantversion", "assistantjob", "deployment", "activation"]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrations; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    hub = Permission.objects.filter(content_type__app_label="hub")
    supervisor, _ = Group.objects.get_or_create(name="Supervisor")
    for model, codenames in SUPERVISOR.items():
        supervisor.permissions.add(*hub.filter(content_type__model=model, codename__in=codenames))
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.add(*hub.filter(content_type__model__in=ADMIN_MODELS))
    admin.permissions.add(*hub.filter(codename="view_analytics"))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="hub").filter(
        content_type__model__in=ADMIN_MODELS
    ) | Permission.objects.filter(content_type__app_label="hub", codename="view_analytics")
    for group in Group.objects.filter(name__in=["Supervisor", "Admin"]):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [("hub", "0005_assistant_lifecycle")]

    operations = [migrations.RunPython(grant, revoke)]
