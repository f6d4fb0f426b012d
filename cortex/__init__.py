"""Cortex: an AI customer-chat platform built as a Ray Serve cluster."""

__version__ = "0.1.0"
