"""asqla: the async SQLAlchemy 2.x data layer for FastAPI services."""

from ._session import AsyncSession as AsyncSession
from .database import Database as Database
from .database import DatabaseStatus as DatabaseStatus
from .engine import create_engine as create_engine
from .exceptions import AsqlaError as AsqlaError
from .exceptions import CommitFailedError as CommitFailedError
from .exceptions import ConcurrentSessionUseError as ConcurrentSessionUseError
from .exceptions import ConfigurationError as ConfigurationError
from .exceptions import ConflictError as ConflictError
from .exceptions import DatabaseError as DatabaseError
from .exceptions import DatabaseUnavailableError as DatabaseUnavailableError
from .exceptions import DriverNotInstalledError as DriverNotInstalledError
from .exceptions import FilterError as FilterError
from .exceptions import ForeignKeyViolationError as ForeignKeyViolationError
from .exceptions import InvalidCursorError as InvalidCursorError
from .exceptions import InvalidQueryError as InvalidQueryError
from .exceptions import InvalidRowError as InvalidRowError
from .exceptions import NotFoundError as NotFoundError
from .exceptions import PoolTimeoutError as PoolTimeoutError
from .exceptions import QueryTimeoutError as QueryTimeoutError
from .exceptions import SerializationFailureError as SerializationFailureError
from .exceptions import SessionUsageError as SessionUsageError
from .exceptions import UniqueViolationError as UniqueViolationError
from .exceptions import VersionConflictError as VersionConflictError
from .presets import PRESETS as PRESETS
from .presets import EnginePreset as EnginePreset
from .settings import DatabaseSettings as DatabaseSettings

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "AsqlaError",
    "AsyncSession",
    "CommitFailedError",
    "ConcurrentSessionUseError",
    "ConfigurationError",
    "ConflictError",
    "Database",
    "DatabaseError",
    "DatabaseSettings",
    "DatabaseStatus",
    "DatabaseUnavailableError",
    "DriverNotInstalledError",
    "EnginePreset",
    "FilterError",
    "ForeignKeyViolationError",
    "InvalidCursorError",
    "InvalidQueryError",
    "InvalidRowError",
    "NotFoundError",
    "PoolTimeoutError",
    "QueryTimeoutError",
    "SerializationFailureError",
    "SessionUsageError",
    "UniqueViolationError",
    "VersionConflictError",
    "create_engine",
]
