"""Testing on real databases: the pytest plugin and the pieces it is built from.

Installing asqla installs the plugin (the ``pytest11`` entry point
``asqla``); ``docs/testing.md`` is the guide. The pieces below serve a
harness of your own, or another test runner:

- :class:`OuterTransaction`: one connection and one transaction per test,
  that every session joins through savepoints, rolled back at the end;
- :func:`app_client`: an ``httpx.AsyncClient`` on an ASGI app, its
  lifespan run around it;
- :func:`create_database`, :func:`drop_database` and
  :func:`worker_database_url`: uniquely named test databases;
- :func:`build_schema`: the schema from the migrations, else from the models.
"""

from ._client import LifespanError as LifespanError
from ._client import app_client as app_client
from ._databases import create_database as create_database
from ._databases import drop_database as drop_database
from ._databases import worker_database_url as worker_database_url
from ._isolation import OuterTransaction as OuterTransaction
from ._schema import build_schema as build_schema
from ._settings import PluginSettings as PluginSettings

__all__ = [
    "LifespanError",
    "OuterTransaction",
    "PluginSettings",
    "app_client",
    "build_schema",
    "create_database",
    "drop_database",
    "worker_database_url",
]
