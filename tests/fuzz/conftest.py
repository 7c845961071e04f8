"""The fuzz suite: Hypothesis, seeded (``derandomize``: the same inputs on every run) and
bounded (``max_examples`` per test, no deadline, no example database). The default run makes
over 5,000 bad inputs in all; ``./strata test --slow`` runs ten times as many.

Each test counts the inputs it really ran; the total is printed at the end of the run."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

GENERATED: Counter[str] = Counter()

settings.register_profile(
    "strata-fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(request: pytest.FixtureRequest, default: int) -> int:
    """``default`` inputs, ten times as many with ``--slow``."""
    return default * 10 if request.config.getoption("--slow") else default


@pytest.fixture
def count(request):
    """Call ``count()`` once per generated input; the test's total is checked and reported."""
    name = request.node.name
    start = GENERATED[name]

    def tick() -> None:
        GENERATED[name] += 1

    tick.ran = lambda: GENERATED[name] - start  # type: ignore[attr-defined]
    return tick


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if GENERATED:
        total = sum(GENERATED.values())
        terminalreporter.write_line(f"fuzz: {total} generated inputs in {len(GENERATED)} tests")
