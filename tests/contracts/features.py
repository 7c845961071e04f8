"""Feature-gated contract cases, like Django's ``skipUnlessDBFeature``.

    @skip_unless_feature("supports_path_queries")
    def test_find_by_json_path(self, store, filled): ...

A case is skipped only where the adapter's declared ``store.features`` says it cannot do it;
every other case runs unchanged on every adapter. ``FeatureGate`` (a base of each contract
class) reads the marks through its autouse fixture.
"""

from __future__ import annotations

import pytest

MARK = "storage_features"


def skip_unless_feature(*names: str):
    """Run the case only when every named feature is true."""
    return pytest.mark.storage_features(unless=names)


def skip_if_feature(*names: str):
    """Skip the case when any named feature is true (cases about what a store without it does)."""
    return pytest.mark.storage_features(if_=names)


def missing_features(store, request) -> str | None:
    """Why the running case must be skipped for ``store``, or None."""
    features = store.features
    for mark in request.node.iter_markers(MARK):
        for name in mark.kwargs.get("unless", ()):
            if not getattr(features, name):
                return f"{type(store).__name__} lacks {name}"
        for name in mark.kwargs.get("if_", ()):
            if getattr(features, name):
                return f"{type(store).__name__} has {name}"
    return None


class FeatureGate:
    @pytest.fixture(autouse=True)
    def _feature_gate(self, request, store):
        reason = missing_features(store, request)
        if reason:
            pytest.skip(reason)
