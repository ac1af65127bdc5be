"""Worlds only the tests (and the benchmarks) use: an in-memory state store, a real kube-apiserver fixture.

What ``fleet rehearse`` needs lives in ``fleet/rehearsal/``; what only tests
need lives here, so the installed product carries no test-only module.
"""
