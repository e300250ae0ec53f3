"""Columnar adjudication at scale: batch runner, synthetic data."""
