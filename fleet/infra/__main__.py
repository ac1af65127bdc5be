"""Entry point the Pulumi language host runs for ``pulumi up -s <env>`` (and for fleet's Automation runs)."""

from fleet.infra.program import run

run()
