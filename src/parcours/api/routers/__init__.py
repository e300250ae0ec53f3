"""Thin routers of the JSON API: validate, call one care service in one transaction, shape the answer."""
