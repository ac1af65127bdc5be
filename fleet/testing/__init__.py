"""Test and rehearsal helpers that ship with fleet: object builders and a kmock-backed API server."""
