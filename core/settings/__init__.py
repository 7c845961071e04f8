"""Strata settings (``DJANGO_SETTINGS_MODULE=core.settings``). Everything secret or
deployment-specific comes from the environment.

With no ``DATABASE_URL`` / ``REDIS_URL`` the project runs on an embedded PostgreSQL (with
pgvector and Apache AGE) and an embedded Redis under ``STRATA_DATA_DIR`` (see core/embedded/).

One module per story (each imports what it reads from another); this package gathers them:

* ``env``         reading variables (``env_bool``, ``env_int``, ``env_list``)
* ``base``        the Django project: apps, middleware, templates, accounts, static files, logging
* ``database``    ``DATABASES`` (embedded or ``DATABASE_URL``) and the documents database
* ``background``  Redis (cache, broker), Celery and the outbox
* ``storage``     the storage ports' adapters, routes and moves, the advisor, graph and vectors
* ``security``    login throttling and the Content-Security-Policy
* ``content``, ``knowledge``, ``agents``   each app's settings
"""

from core.settings.agents import *  # noqa: F403
from core.settings.background import *  # noqa: F403
from core.settings.base import *  # noqa: F403
from core.settings.content import *  # noqa: F403
from core.settings.database import *  # noqa: F403
from core.settings.knowledge import *  # noqa: F403
from core.settings.security import *  # noqa: F403
from core.settings.storage import *  # noqa: F403
