"""scikit-learn estimators, read from the object in Python.

:func:`from_sklearn` reads a fitted ``MLPClassifier``, ``MLPRegressor``, or a
``Pipeline`` of ``StandardScaler``/``MinMaxScaler`` steps ending in one of
them. It is never given a file: unpickling a scikit-learn file can run any
code the file names, so the command line refuses them (convert with
``skl2onnx``, or call this function on the estimator you trained).

Everything else (other estimators or steps, multilabel classifiers, the
Poisson regressor's exp output, a clipping MinMaxScaler) is refused with a
:class:`~xlnn.export.sources.SourceError` naming it.

scikit-learn computes in the dtype it was fitted in: a model fitted on
float32 data is checked against float32 inference, which agrees with xlnn's
float64 to about 1e-7, not 1e-9.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence

import numpy as np

from xlnn.export.sources import SourceError, sha256
from xlnn.functions import catalog
from xlnn.model import Affine, Model, Source
from xlnn.network import Dense, Network

#: scikit-learn's activation names (``ACTIVATIONS`` in
#: sklearn/neural_network/_base.py) -> xlnn catalog names.
ACTIVATION_NAMES = {
    activation.sklearn_name: activation.name
    for activation in catalog.TABLE
    if activation.sklearn_name
}


def from_sklearn(estimator, *, feature_names: Sequence[str] | None = None) -> Model:
    """The model of a fitted scikit-learn MLP, or a Pipeline of scalers and one.

    ``feature_names`` name the inputs when the estimator was fitted without
    them; when it has ``feature_names_in_`` they must be the same names.
    The model's reference is ``predict_proba`` (classifiers) or ``predict``
    (regressors, as a 2-D array) of ``estimator`` itself, scalers included.

    Raises
    ------
    SourceError
        Naming the estimator, step or setting xlnn cannot export exactly.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        *steps, (_, mlp) = estimator.steps
        preprocessing = tuple(
            affine
            for name, step in steps
            if (affine := _scaler_step(name, step)) is not None
        )
    else:
        mlp, steps, preprocessing = estimator, [], ()
    if not isinstance(mlp, MLPClassifier | MLPRegressor):
        raise SourceError(
            f"cannot export {_name(mlp)}: xlnn reads MLPClassifier, MLPRegressor, "
            "or a Pipeline of StandardScaler/MinMaxScaler steps ending in one"
        )
    network = _network(mlp)
    _check_widths(preprocessing, steps, network)
    names = _feature_names(estimator, feature_names, network.n_inputs)
    source = Source(_describe(estimator), "scikit-learn", _parameters_sha256(mlp))
    common = dict(preprocessing=preprocessing, feature_names=names, source=source)
    if isinstance(mlp, MLPRegressor):
        return Model(
            network, output="values", reference=_regression(estimator), **common
        )
    return Model(
        network,
        output="binary" if network.layers[-1].n_outputs == 1 else "probabilities",
        classes=tuple(np.asarray(mlp.classes_).tolist()),
        reference=_probabilities(estimator),
        **common,
    )


def _network(mlp) -> Network:
    if not hasattr(mlp, "coefs_"):
        raise SourceError(f"{_name(mlp)} is not fitted; call fit first")
    hidden = _activation(mlp, "activation", mlp.activation)
    output = _activation(mlp, "out_activation_", mlp.out_activation_)
    binarizer = getattr(mlp, "_label_binarizer", None)
    if getattr(binarizer, "y_type_", None) == "multilabel-indicator":
        raise SourceError(
            f"cannot export a multilabel {_name(mlp)} "
            f"({mlp.n_outputs_} independent sigmoid outputs); "
            "xlnn exports one label per sample"
        )
    layers = [
        Dense(weights, bias, hidden)
        for weights, bias in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True)
    ]
    layers.append(Dense(mlp.coefs_[-1], mlp.intercepts_[-1], output))
    return Network(tuple(layers))


def _activation(mlp, attribute: str, name: str) -> str:
    try:
        return ACTIVATION_NAMES[name]
    except KeyError:
        raise SourceError(
            f"cannot export {_name(mlp)} with {attribute}={name!r}; "
            f"xlnn has {', '.join(sorted(ACTIVATION_NAMES))}"
        ) from None


def _scaler_step(name: str, step) -> Affine | None:
    """The step as ``(x - offset) * scale``, or None for a passthrough step."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if step is None or step == "passthrough":
        return None
    if isinstance(step, StandardScaler | MinMaxScaler) and not hasattr(
        step, "n_features_in_"
    ):
        raise SourceError(f"pipeline step {name!r} ({_name(step)}) is not fitted")
    if isinstance(step, StandardScaler):
        return _standard(step)
    if isinstance(step, MinMaxScaler):
        if step.clip:
            raise SourceError(
                f"cannot export pipeline step {name!r}: MinMaxScaler(clip=True) "
                "clips to its range, which a per-feature scaling cannot do"
            )
        return _min_max(step)
    raise SourceError(
        f"cannot export pipeline step {name!r} ({_name(step)}); "
        "xlnn reads StandardScaler and MinMaxScaler steps before the MLP"
    )


def _standard(scaler) -> Affine:
    # StandardScaler.transform: X -= mean_ if with_mean; X /= scale_ if with_std.
    # The flags decide, not the attributes: mean_ is fitted (for the
    # variance) even when with_mean is False.
    n = scaler.n_features_in_
    offset = scaler.mean_ if scaler.with_mean else np.zeros(n)
    scale = 1.0 / scaler.scale_ if scaler.with_std else np.ones(n)
    return Affine(offset, scale, "StandardScaler")


def _min_max(scaler) -> Affine:
    # MinMaxScaler.transform: X *= scale_; X += min_, which is
    # (X - (-min_ / scale_)) * scale_; scale_ is never 0 (sklearn replaces a
    # zero data range by 1).
    return Affine(-scaler.min_ / scaler.scale_, scaler.scale_, "MinMaxScaler")


def _check_widths(preprocessing, steps, network: Network) -> None:
    for affine, (name, _) in zip(preprocessing, steps, strict=False):
        if affine.offset.size != network.n_inputs:
            raise SourceError(
                f"pipeline step {name!r} scales {affine.offset.size} features "
                f"but the MLP takes {network.n_inputs}"
            )


def _feature_names(estimator, given, n_inputs: int) -> tuple[str, ...] | None:
    try:
        fitted = estimator.feature_names_in_
    except AttributeError:
        fitted = None
    if fitted is not None:
        fitted = tuple(str(name) for name in fitted)
    if given is None:
        return fitted
    given = tuple(str(name) for name in given)
    if len(given) != n_inputs:
        raise SourceError(
            f"{len(given)} feature names for {n_inputs} inputs of {_name(estimator)}"
        )
    if fitted is not None and given != fitted:
        raise SourceError(
            f"feature_names {list(given)} differ from the names "
            f"{_name(estimator)} was fitted with, {list(fitted)}"
        )
    return given


def _probabilities(estimator):
    def reference(x: np.ndarray) -> np.ndarray:
        with _unnamed_input_allowed():
            return estimator.predict_proba(x)

    return reference


def _regression(estimator):
    def reference(x: np.ndarray) -> np.ndarray:
        with _unnamed_input_allowed():
            values = np.asarray(estimator.predict(x))
        return values.reshape(len(x), -1)  # one output comes back 1-D

    return reference


@contextlib.contextmanager
def _unnamed_input_allowed():
    # xlnn passes plain arrays in feature order; scikit-learn warns when a model
    # fitted on a DataFrame gets one. Only that warning is silenced.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="X does not have valid feature names",
            category=UserWarning,
        )
        yield


def _parameters_sha256(mlp) -> str:
    """SHA-256 of the weights and biases as float64, layer by layer.

    An estimator in memory has no file, so this identifies its parameters.
    """
    return sha256(
        np.ascontiguousarray(array, np.float64).tobytes()
        for weights, bias in zip(mlp.coefs_, mlp.intercepts_, strict=True)
        for array in (weights, bias)
    )


def _describe(estimator) -> str:
    steps = getattr(estimator, "steps", None)
    if steps is None:
        return _name(estimator)
    return f"Pipeline({', '.join(_name(step) for _, step in steps)})"


def _name(thing) -> str:
    return thing if isinstance(thing, str) else type(thing).__name__
