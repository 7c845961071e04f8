from django.urls import include, path

app_name = "agents"

urlpatterns = [
    path("", include("agents.flywheel.urls")),  # feedback, analytics (the usage-analytics flywheel)
]
