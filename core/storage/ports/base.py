"""What every port shares: ``features``, ``close()``, error mapping, and sealed public methods.

A port (``DocumentStore``, ``VectorStore``, ``GraphStore``, ``Cache``) is an abstract base class
whose public methods validate their arguments once and then call protected ``_do_*`` hooks.
Adapters implement the hooks only: overriding a public port method raises TypeError when the
adapter class is defined, so no adapter can skip the validation.
"""

from __future__ import annotations

import time
from abc import ABC
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from core.storage import timings
from core.storage.ports.errors import StorageError
from core.storage.ports.features import StoreFeatures

R = TypeVar("R")


class Store(ABC):  # noqa: B024 (hooks are abstract in the ports)
    """Base of every port."""

    features: StoreFeatures = StoreFeatures()
    #: (app, kind, alias) of an instance made by the storage handler (its calls are timed)
    storage_label: tuple[str, str, str] = ("", "", "")
    #: the public methods of the ports this class implements (set by __init_subclass__)
    _sealed: ClassVar[frozenset[str]] = frozenset()
    _is_port: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_is_port"):
            public = {name for name, value in cls.__dict__.items() if callable(value) and not name.startswith("_")}
            cls._sealed = frozenset(cls._sealed | public | {"close"})
            return
        overridden = sorted(cls._sealed & set(cls.__dict__))
        if overridden:
            raise TypeError(
                f"{cls.__qualname__} overrides {', '.join(overridden)} of its port; implement the "
                "protected _do_* hooks instead (the port's public methods validate, then call them)"
            )

    def close(self) -> None:
        """Release connections that should not outlive a request or a forked worker; the store
        stays usable and reconnects on its next call."""
        self._run(self._do_close)

    def _do_close(self) -> None:  # noqa: B027 (optional hook)
        """Adapters with their own clients close (or drop) them here."""

    def _map_error(self, error: Exception) -> StorageError | None:
        """The port error for a client error (e.g. connection refused -> StoreUnavailable), or
        None to let it propagate as it is."""
        return None

    def _run(self, hook: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Call a hook, mapping the client's errors onto the port's (and timing it)."""
        started = time.perf_counter()
        try:
            return hook(*args, **kwargs)
        except StorageError:
            raise
        except Exception as error:
            mapped = self._map_error(error)
            if mapped is None:
                raise
            raise mapped from error
        finally:
            timings.record(self.storage_label, getattr(hook, "__name__", "call"), time.perf_counter() - started)
