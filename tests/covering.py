"""Test cases that try every item of two lists without trying every pair."""

from __future__ import annotations

from collections.abc import Sequence


def each_once(first: Sequence, second: Sequence) -> list[tuple]:
    """Pairs in which every item of ``first`` and every item of ``second`` appears.

    For two parameters that go through independent code, such as every
    activation (each calls the same input check first) and every kind of bad
    input (each a branch of that check): ``max(len(first), len(second))``
    cases instead of the product, and no item untried.

    >>> each_once("abc", [1, 2])
    [('a', 1), ('b', 2), ('c', 1)]
    """
    count = max(len(first), len(second))
    return [(first[i % len(first)], second[i % len(second)]) for i in range(count)]
