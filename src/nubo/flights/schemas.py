"""Request and response shapes of the flights domain."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from nubo.kit.listing import Holes
from nubo.kit.s3_multipart import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE
from nubo.kit.schemas import RequestModel, ResponseModel
from nubo.models import BleedStatus, ProcessingStatus

_REGISTRATION = re.compile(r"^[A-Z0-9]{1,7}(?:-[A-Z0-9]{1,7})?$")
_AIRPORT = re.compile(r"^(?:[A-Z]{3}|[A-Z]{4})$")  # IATA (3) or ICAO (4)
_FLIGHT_NUMBER = re.compile(r"^[A-Z0-9]{2,3}[0-9]{1,4}[A-Z]?$")


def _registration(value: str) -> str:
    value = value.strip().upper()
    if not _REGISTRATION.fullmatch(value):
        raise ValueError("an aircraft registration such as PR-XBA or N12345")
    return value


def _airport(value: str) -> str:
    value = value.strip().upper()
    if not _AIRPORT.fullmatch(value):
        raise ValueError("an ICAO (4 letters) or IATA (3 letters) airport code")
    return value


def _flight_number(value: str) -> str:
    value = value.strip().upper().replace(" ", "")
    if not _FLIGHT_NUMBER.fullmatch(value):
        raise ValueError("a flight number such as LA3401 or AZU4050")
    return value


Registration = Annotated[str, Field(min_length=2, max_length=16), AfterValidator(_registration)]
Airport = Annotated[str, Field(min_length=3, max_length=4), AfterValidator(_airport)]
FlightNumber = Annotated[str, Field(min_length=3, max_length=16), AfterValidator(_flight_number)]
AircraftType = Annotated[str, Field(min_length=1, max_length=40)]


class FlightCreate(RequestModel):
    account_id: uuid.UUID | None = Field(
        default=None, description="operators only; defaults to the caller's account"
    )
    registration: Registration
    aircraft_type: AircraftType | None = None
    flight_number: FlightNumber | None = None
    origin: Airport | None = None
    destination: Airport | None = None
    departure_at: AwareDatetime | None = None
    arrival_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _times_in_order(self) -> FlightCreate:
        if self.departure_at and self.arrival_at and self.arrival_at < self.departure_at:
            raise ValueError("arrival_at is before departure_at")
        return self


class FileOut(ResponseModel):
    key: str
    size: int
    sha256: str
    format: str
    name: str | None
    uploaded_at: datetime


class ErrorOut(ResponseModel):
    code: str
    message: str


class FlightOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    registration: str
    aircraft_type: str | None
    flight_number: str | None
    origin: str | None
    destination: str | None
    departure_at: datetime | None
    arrival_at: datetime | None
    processing_status: ProcessingStatus
    processing_run: int
    bleed_status: BleedStatus | None
    integrity_score: float | None
    engine_scores: dict[str, Any] | None
    findings: list[dict[str, Any]] | None = Field(
        description="each with `engine`, `code`, `severity`, `message`, `message_pt`, "
        "`evidence`, and where it was seen: `start_s`, `end_s` (seconds from the "
        "recording's start), `seconds`, `phase` (null when it cannot be placed)"
    )
    phases: list[dict[str, Any]] | None
    model_version: str | None
    rows_read: int | None = Field(description="data rows in the file (null until processed)")
    rows_used: int | None = Field(
        description="rows the analysis used: rows without a usable time, masked rows and "
        "replaced duplicate timestamps are not"
    )
    coverage: dict[str, Any] | None
    warnings: list[str] | None
    error: ErrorOut | None
    file: FileOut | None
    processed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, flight: Any) -> FlightOut:
        """The flight's record as the API shows it. Built without validation: every value
        comes from a row whose columns already have these types, and validating the JSON
        columns (findings, phases, coverage) walked every nested value of every row."""
        file = None
        if flight.file_key is not None:
            file = FileOut.model_construct(
                key=flight.file_key,
                size=flight.file_size,
                sha256=flight.file_sha256,
                format=flight.file_format,
                name=flight.file_name,
                uploaded_at=flight.file_uploaded_at,
            )
        error = flight.error_code
        data = {name: getattr(flight, name) for name in _ROW_FIELDS}
        return cls.model_construct(
            **data,
            error=None if error is None else ErrorOut.model_construct(
                code=error, message=flight.error_message or ""
            ),
            file=file,
        )


_ROW_FIELDS = tuple(name for name in FlightOut.model_fields if name not in ("file", "error"))


def flight_item(row: Sequence[Any], stored: Holes) -> dict[str, Any]:
    """A `FlightOut` as the dict its JSON is written from, fields in the model's order, from a
    row of `repository.LIST_COLUMNS` (ids, codes and instants as text, JSON columns as
    stored, copied into the page as they are: `stored`)."""
    (
        id_, account_id, registration, aircraft_type, flight_number, origin, destination,
        departure_at, arrival_at, processing_status, processing_run, bleed_status,
        integrity_score, engine_scores, findings, phases, model_version, rows_read, rows_used,
        coverage, warnings, error_code, error_message, file_key, file_size, file_sha256,
        file_format, file_name, file_uploaded_at, processed_at, created_at, updated_at,
    ) = row
    return {
        "id": id_, "account_id": account_id, "registration": registration,
        "aircraft_type": aircraft_type, "flight_number": flight_number, "origin": origin,
        "destination": destination, "departure_at": departure_at, "arrival_at": arrival_at,
        "processing_status": processing_status, "processing_run": processing_run,
        "bleed_status": bleed_status, "integrity_score": integrity_score,
        "engine_scores": stored(engine_scores), "findings": stored(findings),
        "phases": stored(phases), "model_version": model_version,
        "rows_read": rows_read, "rows_used": rows_used, "coverage": stored(coverage),
        "warnings": stored(warnings),
        "error": None if error_code is None else {
            "code": error_code, "message": error_message or ""
        },
        "file": None if file_key is None else {
            "key": file_key, "size": file_size, "sha256": file_sha256, "format": file_format,
            "name": file_name, "uploaded_at": file_uploaded_at,
        },
        "processed_at": processed_at, "created_at": created_at, "updated_at": updated_at,
    }


class FlightEventOut(ResponseModel):
    id: int
    flight_id: uuid.UUID
    status: str
    message: str | None
    data: dict[str, Any] | None
    created_at: datetime


MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit of one PUT


class UploadUrlIn(RequestModel):
    """Optional JSON body of `upload-url`. With `size` above the multipart threshold (or
    `multipart: true`) the grant is a presigned multipart upload, else a single PUT."""

    file_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    size: Annotated[int, Field(gt=0, description="the file's size in bytes")] | None = None
    part_size: (
        Annotated[
            int,
            Field(
                ge=MIN_PART_SIZE,
                le=MAX_PART_SIZE,
                description="multipart only: bytes per part (all but the last)",
            ),
        ]
        | None
    ) = None
    multipart: bool | None = Field(
        default=None,
        description="force a multipart (true, needs `size`) or single PUT (false) grant; "
        "by default multipart above the threshold",
    )

    @model_validator(mode="after")
    def _consistent(self) -> UploadUrlIn:
        if self.multipart and self.size is None:
            raise ValueError("a multipart upload needs `size`")
        if self.multipart is False and self.size is not None and self.size > MAX_SINGLE_PUT:
            raise ValueError(f"a single PUT holds at most {MAX_SINGLE_PUT} bytes")
        if self.size and self.part_size and -(-self.size // self.part_size) > MAX_PARTS:
            raise ValueError(f"part_size gives more than {MAX_PARTS} parts")
        return self


class UploadUrlOut(ResponseModel):
    method: Literal["PUT"] = "PUT"
    url: str
    key: str
    expires_at: datetime
    max_bytes: int


class PartUrlOut(ResponseModel):
    part_number: int
    url: str


class MultipartUploadOut(ResponseModel):
    """PUT part `n` (bytes `(n-1)*part_size` up to `n*part_size`) to its URL, keep each
    answer's `ETag`, then send them to `upload-complete`."""

    method: Literal["multipart"] = "multipart"
    upload_id: str
    key: str
    part_size: int
    parts: list[PartUrlOut]
    expires_at: datetime
    max_bytes: int


class PartIn(RequestModel):
    part_number: Annotated[int, Field(ge=1, le=MAX_PARTS)]
    etag: Annotated[str, Field(min_length=1, max_length=256)]


class UploadCompleteIn(RequestModel):
    """Body of `upload-complete` after a multipart grant (none after a single PUT)."""

    parts: Annotated[list[PartIn], Field(min_length=1, max_length=MAX_PARTS)]

    @model_validator(mode="after")
    def _unique(self) -> UploadCompleteIn:
        numbers = [p.part_number for p in self.parts]
        if len(set(numbers)) != len(numbers):
            raise ValueError("part numbers must be unique")
        return self
