"""Excel formula text for each activation, in the workbooks' two flavors.

- ``ADDIN``: a call of the add-in's function, ``SIGMOID(B4:D4)``.
- ``PLAIN``: the same numbers with built-in functions only (EXP, ABS, IF,
  MAX, SUM, TANH, LN, ERFC), for any Excel, LibreOffice and other spreadsheets.
  Written so that EXP never overflows, like :mod:`xlnn.activations`.

Each entry takes a range reference and returns a formula body (no ``=``) to
enter as an array formula over a range of the same shape. Softmax formulas
normalize the whole range they are given: pass them one sample (row) at a time.
"""

from __future__ import annotations


def _sigmoid(r: str) -> str:
    # exp(-|x|) never overflows: 1/(1+e) for x >= 0, e/(1+e) for x < 0.
    return f"IF({r}>=0,1,EXP(-ABS({r})))/(1+EXP(-ABS({r})))"


def _softmax(r: str) -> str:
    # The book's trick: subtract the max so the largest exponent is EXP(0).
    return f"EXP({r}-MAX({r}))/SUM(EXP({r}-MAX({r})))"


PLAIN = {
    "identity": lambda r: r,
    "step": lambda r: f"IF({r}>0,1,0)",
    "sigmoid": _sigmoid,
    "relu": lambda r: f"IF({r}>0,{r},0)",
    "tanh": lambda r: f"TANH({r})",
    "leaky_relu": lambda r: f"IF({r}>0,{r},0.01*{r})",
    "elu": lambda r: f"IF({r}>0,{r},EXP(IF({r}>0,0,{r}))-1)",
    # max(x, 0) + log(1 + exp(-|x|)): the stable softplus.
    "softplus": lambda r: f"IF({r}>0,{r},0)+LN(1+EXP(-ABS({r})))",
    "gelu": lambda r: f"{r}*ERFC(-{r}/SQRT(2))/2",
    "silu": lambda r: f"{r}*{_sigmoid(r)}",
    "softmax": _softmax,
}

#: The add-in's Excel function for each activation name.
ADDIN_NAMES = {
    "identity": "IDENTITY",
    "step": "STEP",
    "sigmoid": "SIGMOID",
    "relu": "RELU",
    "tanh": "TANH",
    "leaky_relu": "LEAKY_RELU",
    "elu": "ELU",
    "softplus": "SOFTPLUS",
    "gelu": "GELU",
    "silu": "SILU",
    "softmax": "SOFTMAX",
}

ADDIN = {
    name: (lambda r, function=function: f"{function}({r})")
    for name, function in ADDIN_NAMES.items()
}

FLAVORS = {"plain": PLAIN, "addin": ADDIN}


def activation_formula(flavor: str, activation: str, ref: str) -> str:
    """Formula body applying ``activation`` to the range ``ref`` in ``flavor``."""
    return FLAVORS[flavor][activation](ref)


def naive_softmax(ref: str) -> str:
    """The textbook softmax without the max shift: overflows past EXP(709.78)."""
    return f"EXP({ref})/SUM(EXP({ref}))"
