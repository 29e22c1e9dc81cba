from django.contrib.auth import views as auth_views
from django.urls import path

from agent_console import views

app_name = "agent_console"

urlpatterns = [
    path("", views.console, name="console"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/data", views.dashboard_data, name="dashboard-data"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="agent_console/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
