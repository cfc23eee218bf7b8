"""The API's routes, one module per resource of the spec, mounted under ``/api``."""

from fastapi import APIRouter

from . import articles, comments, favorites, profiles, tags, users

__all__ = ["api"]

api = APIRouter()
for module in (users, profiles, articles, favorites, comments, tags):
    api.include_router(module.router)
