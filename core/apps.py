from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Strata core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished

        from core import initial_password, outbox
        from core.storage import storages

        outbox.autodiscover_handlers()
        user_logged_in.connect(initial_password.forget_on_login, dispatch_uid="strata-initial-password")
        # Like Django's caches: release the storage clients a request opened.
        request_finished.connect(storages.close_all, dispatch_uid="strata.storage.close_all")
