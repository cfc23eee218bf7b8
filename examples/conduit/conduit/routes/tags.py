"""``/tags``: the tags in use, most used first."""

from __future__ import annotations

from fastapi import APIRouter

from asqla.fastapi import ReadSession

from .. import schemas
from ..repositories import TagRepository

router = APIRouter(tags=["Tags"])


@router.get("/tags", operation_id="GetTags", summary="Get tags")
async def get_tags(session: ReadSession) -> schemas.TagsResponse:
    return schemas.TagsResponse(tags=await TagRepository(session).popular())
