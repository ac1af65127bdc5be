"""Running the engine for a production command: the real adapters, the live progress line, exit codes on the way.

Shared by the commands that run cutovers (:mod:`fleet.cli.running`) and
``fleet upgrade`` (:mod:`fleet.cli.upgrade`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fleet.cli.options import confirm, current

if TYPE_CHECKING:
    from fleet.config import EnvironmentConfig
    from fleet.domain.machine import EnvironmentState
    from fleet.engine import Engine


def drive(
    config: EnvironmentConfig, action: Callable[[Engine], EnvironmentState], *, yes: bool = False
) -> EnvironmentState:
    """Run ``action`` on an engine wired to the environment's real adapters, with the live progress line."""
    from fleet.cli.exits import EXIT_LOCKED
    from fleet.cli.progress import Progress
    from fleet.engine import Engine, RequestPending
    from fleet.errors import CutoverHalted, ProviderError
    from fleet.wiring import production_ports

    ctx = current()
    # Before the lock and before any adapter: a rehearsal's state, or a history that does not match its state,
    # is refused here (exit 2) with nothing touched.
    ctx.store(config).load(config.name)
    progress = Progress()
    ports = production_ports(config, ctx.project(), progress, confirm(yes))
    try:
        return action(Engine(ctx.store(config), ports))
    except RequestPending as err:
        err.exit_code = EXIT_LOCKED
        raise
    except ProviderError as err:
        if progress.changed:  # exit 5 promises nothing changed; this run had already committed a step
            raise CutoverHalted(
                f"{err}; the state is saved at the last checkpoint, continue with: fleet resume {config.name}",
                phase="unknown",
            ) from err
        raise
    finally:
        progress.close()
