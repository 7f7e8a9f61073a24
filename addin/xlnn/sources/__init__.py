"""Readers that turn a trained model file into an xlnn.model.Model."""
