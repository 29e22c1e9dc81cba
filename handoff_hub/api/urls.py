from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from handoff_hub.api import views
from handoff_hub.api.analytics import AnalyticsReportView

router = DefaultRouter()
router.register("conversations", views.ConversationViewSet, basename="conversation")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("canned-responses", views.CannedResponseViewSet, basename="canned-response")

urlpatterns = [
    path("", include(router.urls)),
    path("analytics/", AnalyticsReportView.as_view(), name="analytics"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
