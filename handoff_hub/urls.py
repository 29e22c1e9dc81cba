from django.contrib import admin
from django.urls import include, path

from handoff_hub import views

urlpatterns = [
    path("", views.demo_site, name="demo-site"),
    path("healthz", views.healthz, name="healthz"),
    path("console/", include("agent_console.urls")),
    path("admin/", admin.site.urls),
]
