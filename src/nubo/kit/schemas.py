from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


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
