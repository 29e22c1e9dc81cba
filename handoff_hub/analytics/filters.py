"""What a report covers: a range of days and, optionally, one queue, agent or assistant version.

The same form reads the dashboard's query string, the CSV link and the REST API's parameters.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from handoff_hub.assistants.models import AssistantVersion
from handoff_hub.models import Queue

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Scope:
    start: date
    end: date  # inclusive
    queue_id: int | None = None
    agent_id: int | None = None
    version_id: int | None = None

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_before(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "queue": self.queue_id,
            "agent": self.agent_id,
            "version": self.version_id,
        }


def default_scope(today: date | None = None) -> Scope:
    today = today or timezone.localdate()
    return Scope(today - timedelta(days=DEFAULT_DAYS - 1), today)


def _agents():
    users = get_user_model().objects.filter(agent_profile__isnull=False)
    return users.select_related("agent_profile").order_by("username")


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return user.agent_profile.name


class AnalyticsFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    queue = forms.ModelChoiceField(Queue.objects.all(), required=False, empty_label="All queues")
    agent = AgentChoiceField(_agents(), required=False, empty_label="All agents")
    version = forms.ModelChoiceField(
        AssistantVersion.objects.select_related("assistant"),
        required=False,
        empty_label="All versions",
    )

    def clean(self) -> dict:
        data = super().clean()
        fallback = default_scope()
        start, end = data.get("start"), data.get("end")
        end = end or (start + timedelta(days=DEFAULT_DAYS - 1) if start else fallback.end)
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"A report covers at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def scope(self) -> Scope:
        """The scope of a valid form."""
        data = self.cleaned_data
        return Scope(
            data["start"],
            data["end"],
            queue_id=data["queue"].pk if data.get("queue") else None,
            agent_id=data["agent"].pk if data.get("agent") else None,
            version_id=data["version"].pk if data.get("version") else None,
        )
