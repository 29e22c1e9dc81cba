"""Admin forms of the assistant lifecycle: adding a version, choosing where to activate it."""

from django import forms

from handoff_hub.assistants.models import Assistant, Deployment, site_key_validator


class AddVersionForm(forms.Form):
    assistant = forms.ModelChoiceField(queryset=Assistant.objects.all())
    notes = forms.CharField(max_length=200, required=False, help_text="What changed.")
    archive = forms.FileField(
        required=False,
        label="Project zip",
        help_text="A zip of a Rasa project (domain.yml, config.yml, data/, tests/).",
    )
    directory = forms.CharField(
        max_length=500,
        required=False,
        label="…or a directory on the server",
        help_text="Copied as a snapshot; must be under HUB_ASSISTANT_IMPORT_DIRS.",
    )

    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("archive")) == bool(data.get("directory")):
            raise forms.ValidationError("Upload a zip or name a directory (one of the two).")
        return data


class ActivateForm(forms.Form):
    site = forms.CharField(
        max_length=60,
        required=False,
        validators=[site_key_validator],
        help_text="Blank: every site. A channel (web, rest) or a widget's data-site key.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_sites = list(Deployment.objects.values_list("site", flat=True))
