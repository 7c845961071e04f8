"""The vector contract's data and helpers."""

from __future__ import annotations

import numpy as np

COLLECTION = "contract.vectors"
MODEL = "model-a"


class Boom(Exception):
    pass


def same_vector(got, expected, store) -> bool:
    """Equal bit for bit where the store promises it, else within float32 precision."""
    got, expected = list(got), list(expected)
    if store.features.exact_vector_round_trip:
        return got == expected
    return len(got) == len(expected) and np.allclose(got, expected, rtol=1e-6, atol=1e-7)
