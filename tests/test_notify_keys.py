"""Outbox keys, exactly as DESIGN.md and docs/notifications.md fix them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from monitor.notify import keys


def test_subscriber_keys() -> None:
    assert keys.group(17, "east@example.nhs.uk") == "group:17:east@example.nhs.uk"
    assert keys.event(4021, "board@example.nhs.uk") == "event:4021:board@example.nhs.uk"
    assert keys.digest("2025-W33", "east@example.nhs.uk") == "digest:2025-W33:east@example.nhs.uk"
    assert keys.confirm(3, "new@example.nhs.uk") == "confirm:3:new@example.nhs.uk"


def test_operator_keys_name_the_incident() -> None:
    op = "ops@example.nhs.uk"
    since = datetime(2025, 8, 14, 9, 30, tzinfo=UTC)
    assert keys.operator(keys.source_failing("ae", since), op) == (
        "operator:source:ae:2025-08-14T09:30:00+00:00:ops@example.nhs.uk"
    )
    assert keys.operator(keys.source_late("ae", date(2025, 8, 14)), op) == (
        "operator:late:ae:2025-08-14:ops@example.nhs.uk"
    )
    assert keys.operator(keys.publication_rejected(9), op) == (
        "operator:rejected:9:ops@example.nhs.uk"
    )
    assert keys.operator(keys.send_failed("a@b.nhs.uk", date(2025, 8, 14)), op) == (
        "operator:send:a@b.nhs.uk:2025-08-14:ops@example.nhs.uk"
    )
