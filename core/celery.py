"""The Celery application (broker: Redis). Tasks live in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

app = Celery("strata")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _fresh_storage_clients(**kwargs) -> None:
    """A forked worker process must not use its parent's store clients: drop them."""
    from core.storage import storages

    storages.reset()


@worker_process_shutdown.connect
def _close_storage_clients(**kwargs) -> None:
    from core.storage import storages

    storages.close_all()
