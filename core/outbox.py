def autodiscover_handlers() -> None:
    """Placeholder, replaced by the outbox implementation."""
