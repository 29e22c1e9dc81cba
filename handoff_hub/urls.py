from django.contrib import admin
from django.urls import include, path

from handoff_hub import rasa_api, views

urlpatterns = [
    path("", views.demo_site, name="demo-site"),
    path("healthz", views.healthz, name="healthz"),
    path("console/", include("agent_console.urls")),
    path("analytics/", include("handoff_hub.analytics.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("handoff_hub.api.urls")),
    # Rasa-compatible endpoints, so existing Rasa clients work unchanged.
    path("webhooks/rest/webhook", rasa_api.rest_webhook, name="rasa-rest-webhook"),
    path("model/parse", rasa_api.model_parse, name="rasa-model-parse"),
    path(
        "conversations/<str:sender_id>/tracker",
        rasa_api.conversation_tracker,
        name="rasa-tracker",
    ),
]
