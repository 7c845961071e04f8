"""The flywheel's URLs, included by agents/urls.py under /agents/."""

from django.urls import path

from agents.flywheel import views

urlpatterns = [
    path("events/<int:event_id>/feedback/", views.event_feedback, name="event-feedback"),
    path("analytics/", views.analytics, name="analytics"),
]
