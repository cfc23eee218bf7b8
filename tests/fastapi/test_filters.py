"""filter_params / sort_param: declared filters as documented query parameters, others refused."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import MetaData, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import Database
from asqla.fastapi import Session, filter_params, sort_param
from asqla.model import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, BigIntPrimaryKey, Timestamps
from asqla.repository import FilterSet, FilterSpec, Repository, Sort

from .conftest import MakeApp, MakeClient


class Model(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class Book(BigIntPrimaryKey, Timestamps, Model):
    __tablename__ = "book"
    title: Mapped[str] = mapped_column(String(100))
    pages: Mapped[int]
    secret: Mapped[str] = mapped_column(String(20), default="s3cret")


class Books(Repository[Book]):
    filters = FilterSpec(title=["eq", "contains"], pages=["gt", "in"], created_at=["lt"])
    sortable = ("title", "pages")


BookFilters = filter_params(Books)
BookSort = sort_param(Books, default="pages")


@pytest.fixture
async def app(db: Database, make_app: MakeApp) -> FastAPI:
    await db.create_all(Model.metadata)
    async with db.session() as s:
        await Books(s).create_many(
            [{"title": "Dune", "pages": 600}, {"title": "Emma", "pages": 400}]
        )
    app = make_app(db)

    @app.get("/books")
    async def books(
        session: Session,
        filters: Annotated[FilterSet, Depends(BookFilters)],
        sort: Annotated[Sort, Depends(BookSort)],
        limit: int = 10,
    ) -> list[dict[str, Any]]:
        rows = await Books(session).list(filters, sort=sort)
        return [{"title": row.title, "pages": row.pages} for row in rows[:limit]]

    return app


def test_declared_filters_appear_in_the_openapi_schema(db: Database, make_app: MakeApp) -> None:
    app = make_app(db)

    @app.get("/books")
    async def books(
        filters: Annotated[FilterSet, Depends(BookFilters)],
        sort: Annotated[Sort, Depends(BookSort)],
    ) -> int:
        return len(filters.conditions)

    operation = app.openapi()["paths"]["/books"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert sorted(parameters) == [
        "created_at__lt",
        "pages__gt",
        "pages__in",
        "sort",
        "title",
        "title__contains",
    ]
    assert all(p["in"] == "query" and not p["required"] for p in parameters.values())
    assert {"type": "integer"} in parameters["pages__gt"]["schema"]["anyOf"]
    created = parameters["created_at__lt"]["schema"]["anyOf"][0]
    assert created == {"type": "string", "format": "date-time"}
    assert "Allowed: title, pages" in parameters["sort"]["description"]
    assert parameters["sort"]["schema"]["anyOf"][0]["type"] == "string"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("", ["Emma", "Dune"], id="default-sort"),
        pytest.param("?title=Dune", ["Dune"], id="eq"),
        pytest.param("?title__contains=m&sort=-title", ["Emma"], id="contains"),
        pytest.param("?pages__gt=500", ["Dune"], id="typed"),
        pytest.param("?pages__in=400,600&sort=-pages", ["Dune", "Emma"], id="in"),
        pytest.param("?sort=title&limit=1", ["Dune"], id="other-parameters-pass"),
    ],
)
async def test_filters_from_the_query(
    app: FastAPI, make_client: MakeClient, query: str, expected: list[str]
) -> None:
    response = await make_client(app).get(f"/books{query}")
    assert response.status_code == 200, response.text
    assert [book["title"] for book in response.json()] == expected


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        pytest.param(
            "?secret=s3cret", r"Unknown query parameter\(s\) \['secret'\]", id="undeclared"
        ),
        pytest.param("?titel=Dune", r"\['titel'\]", id="typo"),
        pytest.param("?title__eq=Dune", r"\['title__eq'\]", id="eq-is-the-bare-name"),
        pytest.param("?title__raw=x", r"\['title__raw'\]", id="operator"),
        pytest.param("?pages__in=1,x", r"Invalid value '1,x' for filter 'pages__in'", id="value"),
        pytest.param("?created_at__lt=2024-01-01T00:00:00%2B00:00&x=1", r"\['x'\]", id="mixed"),
    ],
)
async def test_undeclared_parameters_get_a_400_listing_the_allowed_ones(
    app: FastAPI, make_client: MakeClient, query: str, detail: str
) -> None:
    response = await make_client(app).get(f"/books{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "filter"
    assert body["allowed"] == {
        "title": ["eq", "contains"],
        "pages": ["gt", "in"],
        "created_at": ["lt"],
    }
    assert re.search(detail, body["detail"])


async def test_a_bad_sort_gets_a_400_listing_the_sortable_columns(
    app: FastAPI, make_client: MakeClient
) -> None:
    response = await make_client(app).get("/books?sort=secret")
    assert response.status_code == 400
    assert response.json()["allowed"] == {"sort": ["title", "pages"]}
    assert "Cannot sort by 'secret'" in response.json()["detail"]


async def test_a_badly_typed_value_is_a_validation_error(
    app: FastAPI, make_client: MakeClient
) -> None:
    # FastAPI checks the declared type first, as for any typed query parameter.
    response = await make_client(app).get("/books?pages__gt=many")
    assert response.status_code == 422
    naive = await make_client(app).get("/books?created_at__lt=2024-01-01T00:00:00")
    assert naive.status_code == 422


# -- aliases: the API's own names for filters --------------------------------------------------

AliasedFilters = filter_params(Books, aliases={"name": "title", "q": "title__contains"})


@pytest.fixture
async def aliased_app(app: FastAPI) -> FastAPI:
    @app.get("/aliased")
    async def aliased(
        session: Session, filters: Annotated[FilterSet, Depends(AliasedFilters)]
    ) -> list[str]:
        return [row.title for row in await Books(session).list(filters, sort="title")]

    return app


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("?name=Dune", ["Dune"], id="eq"),
        pytest.param("?q=m", ["Emma"], id="operator"),
        pytest.param("?pages__gt=500", ["Dune"], id="not-aliased"),
        pytest.param("", ["Dune", "Emma"], id="none"),
    ],
)
async def test_an_aliased_filter_is_read_under_its_alias(
    aliased_app: FastAPI, make_client: MakeClient, query: str, expected: list[str]
) -> None:
    response = await make_client(aliased_app).get(f"/aliased{query}")

    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_an_aliased_filter_is_not_read_under_its_own_name(
    aliased_app: FastAPI, make_client: MakeClient
) -> None:
    response = await make_client(aliased_app).get("/aliased?title=Dune")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "['title']" in detail
    assert "`name` is `title`. `q` is `title__contains`." in detail


def test_aliases_show_in_the_openapi_schema(aliased_app: FastAPI) -> None:
    operation = aliased_app.openapi()["paths"]["/aliased"]["get"]

    assert sorted(p["name"] for p in operation["parameters"]) == [
        "created_at__lt",
        "name",
        "pages__gt",
        "pages__in",
        "q",
    ]


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        pytest.param(
            {"author": "author.username"},
            r"maps 'author' to 'author.username', which is not a filter of Books \(\[",
            id="unknown-filter",
        ),
        pytest.param(
            {"pages__gt": "title"},
            r"gives 'title' the name 'pages__gt', which is already the 'pages__gt' filter's",
            id="taken-name",
        ),
    ],
)
def test_a_bad_alias_is_refused_when_the_dependency_is_made(
    aliases: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        filter_params(Books, aliases=aliases)
