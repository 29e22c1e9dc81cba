"""The three roles of the hub as Django groups: Agent, Supervisor, Admin."""

from django.db import migrations

# Model names per role and the permissions each role gets on them.
ROLE_PERMISSIONS = {
    "Agent": {
        "conversation": ["view"],
        "message": ["view"],
        "handoffticket": ["view"],
        "privatenote": ["view", "add"],
        "cannedresponse": ["view"],
        "queue": ["view"],
        "agentprofile": ["view"],
    },
    "Supervisor": {
        "conversation": ["view", "change"],
        "message": ["view"],
        "handoffticket": ["view"],
        "auditevent": ["view"],
        "privatenote": ["view", "add"],
        "cannedresponse": ["view", "add", "change", "delete"],
        "queue": ["view", "change"],
        "agentprofile": ["view", "change"],
    },
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrations; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, models in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for model, actions in models.items():
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="hub", codename__in=codenames)
            )
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.add(*Permission.objects.filter(content_type__app_label="hub"))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["Agent", "Supervisor", "Admin"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0003_queue_availability"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
