"""The exit codes: a contract pipelines branch on (printed by ``--help``, tabled in the README).

Kept in a module of their own so that every command module can name them
without importing the ``fleet.cli`` package, which registers the commands.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_HALTED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_WAITING = 4
EXIT_UNREACHABLE = 5
EXIT_KILLED = 137

EXIT_CODES = (
    (EXIT_OK, "done (cutover/resume: DONE; rollback/abort: done, or nothing was in flight)"),
    (EXIT_HALTED, "halted, failed or rolled back; --dry-run: a cutover would run"),
    (EXIT_USAGE, "usage or configuration error"),
    (EXIT_LOCKED, "locked by another run (or a request handed to it is not carried out yet)"),
    (EXIT_WAITING, "waiting for a person: confirm destroying the old slot (fleet resume ENV --yes) or approve a "
                  "step (fleet approve ENV)"),
    (EXIT_UNREACHABLE, "could not reach a provider or the state store; nothing changed"),
    (EXIT_KILLED, "rehearse --fault crash-*: killed on purpose (SIGKILL); finish with fleet resume"),
)
