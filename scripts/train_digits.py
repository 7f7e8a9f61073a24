"""Train the 64-16-10 digits classifier that the sample workbook runs.

The network is dense -> sigmoid -> dense -> softmax, trained in plain NumPy
with Adam on cross-entropy, from a fixed seed, on scikit-learn's 8x8 digits.
The forward pass uses ``xlnn.activations``, the same functions Excel calls.

Rerun it (scikit-learn is needed only here, to retrain: the pip extra ``train``)::

    pip install -e ".[train]"
    python scripts/train_digits.py --force

It writes ``addin/xlnn/data/digits_mlp.npz`` (or ``--out PATH``) holding
``W1 b1 W2 b2`` (float64), ``test_images`` (360x64 raw pixels 0..16, float64),
``test_labels`` (int64), ``seed`` and ``test_accuracy``. The network trains on
pixel/16, but ``W1`` is stored divided by 16, so the stored network takes raw
pixel values 0..16 directly, as they would be typed into cells.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from xlnn.activations import sigmoid, softmax

SEED = 0
PIXEL_MAX = 16.0  # load_digits pixels are integers 0..16
HIDDEN_UNITS = 16
EPOCHS = 300
BATCH_SIZE = 32
LEARNING_RATE = 0.01
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "addin" / "xlnn" / "data" / "digits_mlp.npz"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite --out if it exists"
    )
    return parser.parse_args(argv)


def load_split(seed):
    """Return raw-pixel train/test images and labels; the test set is 20%, 360."""
    digits = load_digits()
    # Stratified, so every digit is as frequent in the test set as overall.
    return train_test_split(
        digits.data,
        digits.target.astype(np.int64),
        test_size=0.2,
        random_state=seed,
        stratify=digits.target,
    )


def init_params(rng, n_in, n_hidden, n_out):
    """Xavier-scaled weights, so sigmoid starts in its steep, learnable middle."""
    return {
        "W1": rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, 1.0 / np.sqrt(n_hidden), (n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


def forward(params, x):
    """Return the hidden activations and the class probabilities."""
    hidden = sigmoid(x @ params["W1"] + params["b1"])
    probs = softmax(hidden @ params["W2"] + params["b2"], axis=-1)
    return hidden, probs


def predict(params, x):
    return np.argmax(forward(params, x)[1], axis=1)


def accuracy(params, x, labels):
    return float(np.mean(predict(params, x) == labels))


def gradients(params, x, labels):
    """Backpropagate the mean cross-entropy of one mini-batch."""
    hidden, probs = forward(params, x)
    # Softmax followed by cross-entropy has the gradient probs - one_hot.
    d_logits = probs.copy()
    d_logits[np.arange(len(labels)), labels] -= 1.0
    d_logits /= len(labels)
    d_hidden = (d_logits @ params["W2"].T) * hidden * (1.0 - hidden)
    return {
        "W1": x.T @ d_hidden,
        "b1": d_hidden.sum(axis=0),
        "W2": hidden.T @ d_logits,
        "b2": d_logits.sum(axis=0),
    }


class Adam:
    """Adam (Kingma and Ba, 2015) with its usual defaults, updating in place."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        # Bias correction: m and v start at 0 and would shrink the first steps.
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)
        for k, g in grads.items():
            self.m[k] = self.beta1 * self.m[k] + (1.0 - self.beta1) * g
            self.v[k] = self.beta2 * self.v[k] + (1.0 - self.beta2) * g * g
            params[k] -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + self.eps)


def train(x, labels, rng):
    """Mini-batch Adam over shuffled batches; x is scaled to [0, 1]."""
    params = init_params(rng, x.shape[1], HIDDEN_UNITS, int(labels.max()) + 1)
    optimizer = Adam(params, LEARNING_RATE)
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.step(params, gradients(params, x[batch], labels[batch]))
    return params


def to_raw_pixel_network(params):
    """Fold the /16 input scaling into W1: x_raw @ (W1/16) == (x_raw/16) @ W1.

    Dividing by 16, a power of two, is exact in float64, so nothing is lost.
    """
    return {**params, "W1": params["W1"] / PIXEL_MAX}


def check_same_predictions(trained, stored, x_raw):
    """Refuse to save a network that predicts differently on raw pixels."""
    scaled = predict(trained, x_raw / PIXEL_MAX)
    raw = predict(stored, x_raw)
    if not np.array_equal(scaled, raw):
        raise AssertionError("raw-pixel network predicts differently from trained")


def save_atomically(path, arrays):
    """Write to a temp file in the same folder, then rename over ``path``.

    A reader never sees a half-written file, and os.replace is atomic only
    within one file system, hence the same folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=path.stem + ".", suffix=".tmp"
    )
    try:
        # A file object, not a name: savez would append ".npz" to a name.
        with os.fdopen(fd, "wb") as tmp:
            np.savez_compressed(tmp, **arrays)
        # mkstemp makes the file private (0600); package data must be readable.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def main(argv=None):
    args = parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; pass --force to overwrite it.", file=sys.stderr)
        return 1

    started = time.perf_counter()
    x_train, x_test, y_train, y_test = load_split(SEED)
    trained = train(x_train / PIXEL_MAX, y_train, np.random.default_rng(SEED))
    stored = to_raw_pixel_network(trained)
    check_same_predictions(trained, stored, np.concatenate([x_train, x_test]))

    train_accuracy = accuracy(stored, x_train, y_train)
    test_accuracy = accuracy(stored, x_test, y_test)
    save_atomically(
        args.out,
        {
            **stored,
            "test_images": x_test.astype(np.float64),
            "test_labels": y_test.astype(np.int64),
            "seed": np.array(SEED, dtype=np.int64),
            "test_accuracy": np.array(test_accuracy, dtype=np.float64),
        },
    )
    print(f"train accuracy {train_accuracy:.4f} ({len(y_train)} images)")
    print(f"test accuracy  {test_accuracy:.4f} ({len(y_test)} images)")
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
