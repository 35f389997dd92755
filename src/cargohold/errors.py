"""The one exception tree of cargohold.

Every error a user can meet is a :class:`CargoholdError` with

- ``code``: a stable kebab-case identifier (documented in ``docs/errors.md``, pinned by a test);
- ``message``: one line saying what went wrong, naming the identifiers involved;
- ``hint``: what to do next (may be empty);
- ``details``: the identifiers involved, as a JSON-ready mapping;
- ``status``: the HTTP status the API answers with (one table, :data:`STATUS_BY_CODE`).

The tree::

    CargoholdError
    ├── NotFound (LookupError)                      404
    │   ├── TeamNotFound
    │   ├── ApiKeyNotFound
    │   ├── StorageProviderNotFound
    │   ├── DatasetNotFound
    │   ├── VersionNotFound
    │   ├── TagNotFound
    │   ├── FileNotInVersion (FileNotFoundError)
    │   ├── ObjectNotFound (FileNotFoundError)
    │   ├── SecretNotFound
    │   ├── WorkflowNotFound
    │   ├── WorkflowRunNotFound
    │   └── LogNotFound
    ├── InvalidInput (ValueError)                   400
    │   ├── InvalidReference
    │   ├── InvalidName
    │   ├── InvalidPath
    │   ├── SourcePathError
    │   ├── ContentMismatch
    │   └── InvalidSpec
    ├── Conflict                                    409
    │   ├── NameTaken
    │   ├── VersionCommitted
    │   ├── VersionNotCommitted
    │   └── ProviderInUse
    ├── IntegrityError                              500
    │   ├── HashMismatch
    │   └── ObjectMissing
    ├── Unauthorized                                401
    ├── QuotaExceeded                               413
    ├── StorageError (OSError)                      502
    │   ├── StorageAccessDenied
    │   ├── BucketNotFound
    │   └── StorageUnreachable
    ├── CatalogUnavailable                          503
    ├── ServerUnreachable                           503
    └── ConfigurationError                          500
        └── SandboxUnavailable

Subclasses of built-ins let file-like code catch what it already knows
(``except FileNotFoundError`` catches a missing file in a version).
"""

from __future__ import annotations

from typing import Any, ClassVar


class CargoholdError(Exception):
    """Base of every error cargohold raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        self.details = details

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        """The one JSON error shape, shared by `--json` output and the HTTP API."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "hint": self.hint,
                "details": self.details,
            }
        }


class NotFound(CargoholdError, LookupError):
    code = "not-found"
    status = 404


class TeamNotFound(NotFound):
    code = "team-not-found"


class ApiKeyNotFound(NotFound):
    code = "api-key-not-found"
    default_hint = "List the team's keys with: cargohold admin keys list --team TEAM"


class StorageProviderNotFound(NotFound):
    code = "storage-provider-not-found"
    default_hint = "List the providers with: cargohold storageProviders list"


class DatasetNotFound(NotFound):
    code = "dataset-not-found"
    default_hint = "List your datasets with: cargohold datasets list"


class VersionNotFound(NotFound):
    code = "version-not-found"
    default_hint = (
        "List the versions with: cargohold datasets versions list --id DATASET --isCommitted false"
    )


class TagNotFound(NotFound):
    code = "tag-not-found"
    default_hint = "List the tags with: cargohold datasets tags list --id DATASET"


class FileNotInVersion(NotFound, FileNotFoundError):
    code = "file-not-found"
    default_hint = "List the files with: cargohold datasets files list --id REF --recursive"


class ObjectNotFound(NotFound, FileNotFoundError):
    code = "object-not-found"


class SecretNotFound(NotFound):
    code = "secret-not-found"
    default_hint = (
        "List the secrets with: cargohold secrets list; "
        "add one with: cargohold secrets create --name NAME --value - (reads standard input)"
    )


class WorkflowNotFound(NotFound):
    code = "workflow-not-found"
    default_hint = "List the workflows with: cargohold workflows list"


class WorkflowRunNotFound(NotFound):
    code = "workflow-run-not-found"
    default_hint = "List the runs with: cargohold workflows get --id WORKFLOW --show-runs"


class LogNotFound(NotFound):
    code = "log-not-found"
    default_hint = (
        "List the runs and their log IDs with: cargohold workflows get --id WORKFLOW --show-runs"
    )


class InvalidInput(CargoholdError, ValueError):
    code = "invalid-input"
    status = 400


class InvalidReference(InvalidInput):
    code = "invalid-reference"
    default_hint = "A reference looks like DATASET, DATASET:latest, DATASET:VERSION or DATASET:TAG"


class InvalidName(InvalidInput):
    code = "invalid-name"


class InvalidPath(InvalidInput):
    code = "invalid-path"
    default_hint = "Paths inside a dataset are relative, use '/' and never contain '..'"


class SourcePathError(InvalidInput):
    code = "source-path-error"

    @classmethod
    def unreadable(cls, path: object, exc: OSError, what: str = "") -> SourcePathError:
        """A local file (or `what`, e.g. "the folder") that could not be read."""
        subject = f"{what} {path}" if what else str(path)
        return cls(f"Cannot read {subject}: {exc.strerror or exc}", path=str(path))


class ContentMismatch(InvalidInput):
    """Bytes a client sent that are not what it said (their SHA-256 or size differ): the
    client's mistake, so a 400, where the same check on stored data is a HashMismatch."""

    code = "content-mismatch"
    default_hint = (
        "The file changed while it was sent, or was damaged on the way: run the command again"
    )


class InvalidSpec(InvalidInput):
    """A workflow spec (or its run inputs file) that cannot run; ``details["problems"]``
    lists every problem found as ``{source, line, key, problem}``."""

    code = "invalid-spec"
    default_hint = "Correct the lines named, then run the workflow again"


class Conflict(CargoholdError):
    code = "conflict"
    status = 409


class NameTaken(Conflict):
    code = "name-taken"


class VersionCommitted(Conflict):
    code = "version-committed"
    default_hint = (
        "Committed versions are immutable. Start a new one from it with: "
        "cargohold datasets versions create --id DATASET --parent DATASET:VERSION"
    )


class VersionNotCommitted(Conflict):
    code = "version-not-committed"
    default_hint = "Commit it first with: cargohold datasets versions commit --id DATASET:VERSION"


class ProviderInUse(Conflict):
    code = "provider-in-use"
    default_hint = "Delete or move the datasets that use it first"


class IntegrityError(CargoholdError):
    code = "integrity-error"
    status = 500


class HashMismatch(IntegrityError):
    code = "hash-mismatch"


class ObjectMissing(IntegrityError):
    code = "object-missing"
    default_hint = "Upload the file again with: cargohold datasets files put"


class StorageError(CargoholdError, OSError):
    code = "storage-error"
    status = 502


class StorageAccessDenied(StorageError):
    code = "storage-access-denied"
    default_hint = "Check the provider's access key and secret key, and the bucket's policy"


class BucketNotFound(StorageError):
    code = "bucket-not-found"
    default_hint = "Create the bucket first, or correct its name"


class StorageUnreachable(StorageError):
    code = "storage-unreachable"
    default_hint = "Check the endpoint URL and that the storage server is running"


class Unauthorized(CargoholdError):
    code = "unauthorized"
    status = 401
    default_hint = (
        "Save a valid API key with: cargohold apiKey KEY (an operator creates one with: "
        "cargohold admin keys create --team TEAM)"
    )


class QuotaExceeded(CargoholdError):
    code = "quota-exceeded"
    status = 413
    default_hint = "Delete datasets you no longer need, or ask the operator for a larger quota"


class CatalogUnavailable(CargoholdError):
    code = "catalog-unavailable"
    status = 503
    default_hint = "Check CARGOHOLD_DATABASE_URL and that the database server is running"


class ServerUnreachable(CargoholdError):
    """The HTTP client could not talk to the cargohold server (never sent by a server)."""

    code = "server-unreachable"
    status = 503
    default_hint = "Check CARGOHOLD_SERVER (or --server) and that `cargohold server` is running"


class ConfigurationError(CargoholdError):
    code = "configuration-error"
    status = 500


class SandboxUnavailable(ConfigurationError):
    """The local executor's sandbox (bubblewrap) is missing or cannot run here."""

    code = "sandbox-unavailable"
    default_hint = (
        "Install bubblewrap: sudo apt-get install bubblewrap (Debian, Ubuntu) "
        "or sudo dnf install bubblewrap (Fedora)"
    )


def _all_error_classes() -> list[type[CargoholdError]]:
    found: list[type[CargoholdError]] = []
    todo: list[type[CargoholdError]] = [CargoholdError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


ERROR_CLASSES: dict[str, type[CargoholdError]] = {c.code: c for c in _all_error_classes()}
"""Every error class by its code; the HTTP client maps a response body back through it."""

STATUS_BY_CODE: dict[str, int] = {code: cls.status for code, cls in ERROR_CLASSES.items()}
"""The one table from error code to HTTP status."""


def error_from_json(body: dict[str, Any]) -> CargoholdError:
    """Rebuild the exception a server raised from its JSON error shape."""
    err = body.get("error", {})
    cls = ERROR_CLASSES.get(str(err.get("code")), CargoholdError)
    details = err.get("details") or {}
    return cls(str(err.get("message", "unknown error")), hint=err.get("hint"), **details)
