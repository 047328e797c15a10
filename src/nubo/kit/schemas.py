from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from starlette.responses import Response


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class RequestModel(BaseModel):
    """Request bodies: unknown fields are refused, so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it at the edge rather than fail in the DB.
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """The model as a JSON response, serialised once.

    A route that returns a model has FastAPI dump it to a dict, validate that dict again
    against the route's `response_model`, encode it and `json.dumps` it: on a page of 50 rows
    most of the request's CPU. The model is already the response's shape (the route keeps
    `response_model` for its documentation); the JSON is the same.
    """
    return Response(model.model_dump_json(), status_code, media_type="application/json")
