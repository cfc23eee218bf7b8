"""``asqla.testing``'s public names, pinned so that the API never grows by accident."""

from __future__ import annotations

import asqla.testing


def test_the_public_names() -> None:
    assert asqla.testing.__all__ == [
        "LifespanError",
        "OuterTransaction",
        "PluginSettings",
        "app_client",
        "build_schema",
        "create_database",
        "drop_database",
        "worker_database_url",
    ]
    for name in asqla.testing.__all__:
        assert getattr(asqla.testing, name).__module__.startswith("asqla.testing.")
