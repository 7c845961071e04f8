from django.urls import include, path

from agents import views

app_name = "agents"

urlpatterns = [
    path("", views.agent_list, name="agent-list"),
    path("<int:agent_id>/chat/", views.chat, name="chat"),
    path("<int:agent_id>/chat/send/", views.chat_send, name="chat-send"),
    path("", include("agents.flywheel.urls")),  # feedback, analytics (the usage-analytics flywheel)
]
