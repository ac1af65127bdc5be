"""Notifications and hooks over HTTP: webhooks (Slack, generic JSON), their outbox, smoke-test hooks."""
