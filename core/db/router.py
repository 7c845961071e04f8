"""Database router: a dedicated documents database holds the document tables only.

Every alias in ``settings.STRATA_DOCUMENT_DATABASES`` (``documents``) gets the tables of the
JSONB document adapter (``strata_document_collection`` / ``strata_document``) and nothing else,
so ``migrate --database documents`` prepares it. Queries are not routed: the adapter names its
connection (``PostgresDocumentStore(using="documents")``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DOCUMENT_MODELS = {"documentcollection", "documentrecord"}


class StorageRouter:
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if db in getattr(settings, "STRATA_DOCUMENT_DATABASES", ()):
            return app_label == "core" and model_name in DOCUMENT_MODELS
        return None
