"""The book's own chapter 3 code, run on xlnn.activations.

"Deep Learning from Scratch" (Koki Saitoh) imports its activations with
``from common.functions import *``; with ``from xlnn.activations import *`` in
that line, its code runs unchanged. The printed figures are the book's
(section 3.2.4 for sigmoid, 3.4.3 for the three-layer network, 3.5.2 for
softmax), as NumPy prints float64 arrays today (the book's NumPy put extra
spaces: ``[ 0.31682708  0.69627909]``).
"""

from __future__ import annotations

import contextlib
import io

from xlnn import activations

# The book's code (ch03), with only its import line changed.
BOOK_CHAPTER_3 = """
import numpy as np
from xlnn.activations import *

x = np.array([-1.0, 1.0, 2.0])
print(step_function(x))
print(sigmoid(x))


def init_network():
    network = {}
    network['W1'] = np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])
    network['b1'] = np.array([0.1, 0.2, 0.3])
    network['W2'] = np.array([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]])
    network['b2'] = np.array([0.1, 0.2])
    network['W3'] = np.array([[0.1, 0.3], [0.2, 0.4]])
    network['b3'] = np.array([0.1, 0.2])

    return network


def forward(network, x):
    W1, W2, W3 = network['W1'], network['W2'], network['W3']
    b1, b2, b3 = network['b1'], network['b2'], network['b3']

    a1 = np.dot(x, W1) + b1
    z1 = sigmoid(a1)
    a2 = np.dot(z1, W2) + b2
    z2 = sigmoid(a2)
    a3 = np.dot(z2, W3) + b3
    y = identity_function(a3)

    return y


network = init_network()
x = np.array([1.0, 0.5])
y = forward(network, x)
print(y)

a = np.array([0.3, 2.9, 4.0])
y = softmax(a)
print(y)
print(np.sum(y))
"""

# What the book prints for each print() above. The step function's is
# [0 1 1] in the book, whose step_function returns ints; xlnn's returns
# float64, as every xlnn function does.
BOOK_PRINTS = [
    "[0. 1. 1.]",
    "[0.26894142 0.73105858 0.88079708]",
    "[0.31682708 0.69627909]",
    "[0.01821127 0.24519181 0.73659691]",
    "1.0",
]


def test_the_books_chapter_3_code_runs_with_xlnn_activations():
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(BOOK_CHAPTER_3, "ch03.py", "exec"), {"__name__": "ch03"})
    assert printed.getvalue().splitlines() == BOOK_PRINTS


def test_the_books_names_are_the_same_functions():
    assert activations.step_function is activations.step
    assert activations.identity_function is activations.identity
    assert {"step_function", "identity_function"} <= set(activations.__all__)
