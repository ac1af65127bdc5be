"""A stale Pulumi lock (its holder is a dead process of this host) is told apart from a live one."""

from __future__ import annotations

import os
import subprocess

from fleet.adapters.pulumi_locks import all_stale, lock_holders

MESSAGE = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
    "or delete the lock file with `pulumi cancel`.\n"
    "  file:///state/.pulumi/locks/organization/fleet/demo/5c1.json: created by root@{host} (pid {pid}) "
    "at 2026-11-30T10:30:00Z"
)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_holders_are_read_from_pulumis_message() -> None:
    assert lock_holders(MESSAGE.format(host="ci-7", pid=4242)) == [("ci-7", 4242)]


def test_a_lock_of_a_dead_process_on_this_host_is_stale() -> None:
    assert all_stale(MESSAGE.format(host="here", pid=dead_pid()), hostname="here")


def test_a_live_holder_another_host_or_an_unreadable_message_is_never_stale() -> None:
    assert not all_stale(MESSAGE.format(host="here", pid=os.getpid()), hostname="here")
    assert not all_stale(MESSAGE.format(host="elsewhere", pid=dead_pid()), hostname="here")
    assert not all_stale("error: the stack is currently locked", hostname="here")
