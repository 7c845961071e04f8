from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Strata core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from core import initial_password, outbox

        outbox.autodiscover_handlers()
        user_logged_in.connect(initial_password.forget_on_login, dispatch_uid="strata-initial-password")
