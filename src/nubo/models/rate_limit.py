from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nubo.models.base import Base


class RateLimitWindow(Base):
    """Attempts counted in one fixed window, shared by every API process.

    The key is a scope and a hash of the subject (an email, an address): the table says how
    often something was tried, never who or from where.
    """

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_s: Mapped[float] = mapped_column(Float, index=True)  # epoch seconds, any process
    count: Mapped[int] = mapped_column(Integer)
