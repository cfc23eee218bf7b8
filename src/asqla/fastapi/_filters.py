"""FastAPI dependencies that read a repository's declared filters and sort from the query.

Example::

    from asqla.fastapi import filter_params, sort_param

    ArticleFilters = filter_params(ArticleRepository)
    ArticleSort = sort_param(ArticleRepository, default="-created_at")

    @app.get("/articles")
    async def list_articles(
        session: Session,
        filters: Annotated[FilterSet, Depends(ArticleFilters)],
        sort: Annotated[Sort, Depends(ArticleSort)],
    ) -> list[ArticleOut]:
        return await ArticleRepository(session).list(filters, sort=sort)

Each declared filter is a query parameter in the OpenAPI schema (``title``,
``title__contains``, ``author.username``...), typed after its column. A query
parameter the endpoint does not declare, filter or otherwise, is refused with
[`FilterError`][asqla.FilterError], which `add_exception_handlers()`
answers with a 400 listing the allowed filters, rather than being ignored: a
typo such as ``?titel=x`` would otherwise return every row.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Query, Request
from fastapi.dependencies.utils import get_flat_params

from ..exceptions import FilterError
from ..repository import FilterSet, Repository, Sort

__all__ = ["filter_params", "sort_param"]


def filter_params(
    repository: type[Repository[Any]],
    *,
    strict: bool = True,
    aliases: Mapping[str, str] | None = None,
) -> Callable[..., Coroutine[Any, Any, FilterSet]]:
    """Return a dependency that parses ``repository.filters`` from the query string.

    Use it as ``filters: Annotated[FilterSet, Depends(filter_params(Repo))]``.
    With ``strict`` (the default), a query parameter that no part of the
    endpoint declares raises [`FilterError`][asqla.FilterError] (HTTP 400).

    ``aliases`` gives a filter another query parameter name, for an API whose
    names are fixed: ``aliases={"tag": "tags.name", "author":
    "author.username"}`` reads ``?tag=dragons`` as the ``tags.name`` filter.
    An aliased filter is taken under its alias only.

    Raises:
        ValueError: An alias names no declared filter, or takes the name of
            another filter.
    """
    model, spec = repository.model, repository.filters
    keys = spec.parameters(model)
    public = _public_names(repository.__name__, keys, aliases or {})
    names = {f"filter_{index}": key for index, key in enumerate(keys)}

    async def dependency(request: Request, **values: Any) -> FilterSet:
        if strict:
            _refuse_undeclared(request, spec.allowed, aliases or {})
        given = {names[name]: value for name, value in values.items() if value is not None}
        return spec.parse(model, given)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        *(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=Query(None, alias=public[key], description=_describe(key)),
                annotation=keys[key] | None,
            )
            for name, key in names.items()
        ),
    ]
    dependency.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    dependency.__name__ = f"{repository.__name__}_filters"
    return dependency


def _public_names(
    repository: str, keys: Mapping[str, Any], aliases: Mapping[str, str]
) -> dict[str, str]:
    """Each filter key's query parameter name: its alias, or itself."""
    public = {key: key for key in keys}
    for alias, key in aliases.items():
        if key not in keys:
            raise ValueError(
                f"filter_params({repository}, aliases=...) maps {alias!r} to {key!r}, which "
                f"is not a filter of {repository} ({sorted(keys)}). Declare it in "
                f"{repository}.filters, or alias one of those."
            )
        if alias in keys and alias != key:
            raise ValueError(
                f"filter_params({repository}, aliases=...) gives {key!r} the name {alias!r}, "
                f"which is already the {alias!r} filter's. Choose another name."
            )
        public[key] = alias
    return public


def sort_param(
    repository: type[Repository[Any]], *, default: str | None = None, name: str = "sort"
) -> Callable[..., Coroutine[Any, Any, Sort]]:
    """Return a dependency that parses the ``sort`` query parameter against ``sortable``.

    ``?sort=-created_at,title`` sorts by ``created_at`` descending, then
    ``title``; ``default`` applies when the parameter is absent.
    """
    allowed = ", ".join(repository.sortable) or "nothing"

    async def dependency(text: str | None = default) -> Sort:
        return repository.parse_sort(text)

    description = (
        f"Comma-separated columns to sort by, '-' in front for descending. Allowed: {allowed}."
    )
    parameter = inspect.Parameter(
        "text",
        inspect.Parameter.KEYWORD_ONLY,
        default=Query(default, alias=name, description=description),
        annotation=str | None,
    )
    dependency.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    dependency.__name__ = f"{repository.__name__}_sort"
    return dependency


def _describe(key: str) -> str:
    field, _, operator = key.rpartition("__") if "__" in key else (key, "", "eq")
    if operator in ("in", "not_in"):
        return f"{field} {operator.replace('_', ' ')} these comma-separated values."
    if operator == "is_null":
        return f"true: {field} is null; false: {field} is not null."
    return f"Filter: {field} {operator} this value."


def _refuse_undeclared(
    request: Request, allowed: dict[str, list[str]], aliases: Mapping[str, str]
) -> None:
    known = _declared_query_names(request)
    if known is None:
        return
    undeclared = [key for key in request.query_params if key not in known]
    if undeclared:
        renamed = "".join(f" `{alias}` is `{key}`." for alias, key in sorted(aliases.items()))
        raise FilterError(
            f"Unknown query parameter(s) {undeclared!r}. Filters are `field` (equality) or "
            f"`field__operator`, among {allowed!r}.{renamed}",
            allowed=allowed,
        )


def _declared_query_names(request: Request) -> frozenset[str] | None:
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:  # not called by FastAPI's routing
        return None
    # Every parameter of the endpoint and its dependencies: path, header and
    # cookie names too, a harmless superset of the query parameters. A walk of
    # the dependency tree, cheap next to the query; routes are not hashable.
    return frozenset(param.alias for param in get_flat_params(dependant))
