"""Benchmarks that need the worker side (torch, generators): `atelier bench text|queue`."""
