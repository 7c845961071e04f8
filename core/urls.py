from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core import views
from core.login_throttle import ThrottledLoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("workspace/switch/", views.workspace_switch, name="workspace-switch"),
    path("healthz", views.healthz, name="healthz"),
    path("storage/report/", views.storage_report, name="storage-report"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/login/", views.admin_login),  # before the admin's own: 429 when throttled
    path("admin/", admin.site.urls),
]

# Each domain app mounts its pages under its own prefix when it has them.
for _app in ("content", "knowledge", "agents"):
    try:
        urlpatterns.append(path(f"{_app}/", include(f"{_app}.urls")))
    except ModuleNotFoundError as exc:  # app has no pages yet
        if exc.name != f"{_app}.urls":
            raise
