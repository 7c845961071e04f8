from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Strata core"

    def ready(self) -> None:
        from core import outbox

        outbox.autodiscover_handlers()
