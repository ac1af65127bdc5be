"""Local stand-ins for a real cutover: a real HAProxy, two slot backends and a load generator.

A cutover's traffic logic (weights, analysis, rollback) can be exercised for
real on one machine, without clusters: HAProxy plays the load balancer, two
tiny HTTP servers play the slots' ingresses, and a bounded load generator
plays the users. The tests in ``tests/traffic``, ``bench/traffic.py`` and
``fleet rehearse`` are built from these parts. Everything binds to 127.0.0.1.
"""
