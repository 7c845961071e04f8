from django.urls import path

from content import views

app_name = "content"

urlpatterns = [
    path("", views.document_list, name="document-list"),
    path("search/", views.search, name="search"),
    path("documents/<int:document_id>/", views.document_detail, name="document-detail"),
    path("documents/status/", views.document_statuses, name="document-statuses"),
]
