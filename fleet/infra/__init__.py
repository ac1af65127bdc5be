"""The Pulumi program that creates an environment's slots (``main: fleet/infra/`` in Pulumi.yaml).

Only ``settings`` and ``layout`` are pure; the other modules import pulumi and
are loaded by the Pulumi language host or by tests, never by the CLI.
"""
