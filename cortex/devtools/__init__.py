"""Tools for tests and benchmarks: an OpenAI-format stand-in endpoint, where the shared data lives.

The running services never import this package.
"""
