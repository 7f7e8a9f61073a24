"""Class labels: the sorted classes of a column of labels, and each label's index.

Shared by ``xlnn train`` (labels from a CSV) and the script ``train_network``
(labels from cells), so that both number the classes the same way: the
network's output ``k`` is the ``k``-th class in this order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

#: Why labels of one class cannot train: the end of each such refusal, which
#: names where the labels came from (a CSV, cells, one-hot rows).
NEEDS_TWO_CLASSES = "a classifier needs at least two classes"


def class_indices(labels: Iterable[str]) -> tuple[tuple, np.ndarray]:
    """The sorted classes of ``labels``, and each label's index among them.

    When every label is a finite number the classes are numbers (``7`` and
    ``7.0`` are one class), sorted by value; otherwise text, sorted.

    >>> class_indices(["7", "10", "7.0"])
    ((7.0, 10.0), array([0, 1, 0]))
    >>> class_indices(["cat", "dog", "cat"])
    (('cat', 'dog'), array([0, 1, 0]))
    """
    labels = list(labels)
    numbers = [_number(label) for label in labels]
    keys = numbers if None not in numbers else labels
    classes = tuple(sorted(set(keys)))
    index = {key: i for i, key in enumerate(classes)}
    return classes, np.array([index[key] for key in keys], dtype=np.intp)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def shown(label) -> str:
    """A class as a person reads it: ``7`` for 7.0.

    >>> shown(7.0), shown(0.5), shown("cat")
    ('7', '0.5', 'cat')
    """
    return f"{label:g}" if isinstance(label, float) else str(label)
