"""Every ORM table; importing this module registers them all on Base.metadata."""

from nubo.models.account import Account, AccountStatus
from nubo.models.base import Base
from nubo.models.refresh_token import RefreshToken
from nubo.models.user import Role, User

__all__ = ["Account", "AccountStatus", "Base", "RefreshToken", "Role", "User"]
