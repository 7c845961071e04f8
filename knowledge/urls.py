from django.urls import path

from knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("", views.entity_list, name="entity-list"),
    path("entities/<int:entity_id>/", views.entity_detail, name="entity-detail"),
    path("explore/", views.explore, name="explore"),
    path("graph.json", views.graph_json, name="graph-json"),
    path("cypher/", views.cypher_console, name="console"),
]
