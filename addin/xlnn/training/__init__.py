"""Training the book's two-layer network on a user's data.

``xlnn train`` (:mod:`~xlnn.training.command`, a CSV in, an ``.npz`` out) and
the script ``train_network`` (:mod:`~xlnn.training.from_cells`, cells in, a
trained network out) number the classes alike (:mod:`~xlnn.training.classes`);
the maths is :mod:`xlnn.learning`.
"""
