"""Use cases for storage providers: where a team's bytes live.

An S3 provider is saved only after its bucket has proven it works with the given keys (the
team's folder listed, a probe object written, read back and deleted under ``<team-id>/``),
and its secret is stored encrypted (``crypto.py``). Every provider returned here keeps the
encrypted value.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cargohold.blobs import BlobStore
from cargohold.domain.ids import new_provider_id
from cargohold.domain.models import StorageProvider
from cargohold.errors import (
    BucketNotFound,
    CargoholdError,
    ConfigurationError,
    Conflict,
    InvalidInput,
    InvalidName,
    NameTaken,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)
from cargohold.services.context import Context
from cargohold.services.stores import close_store

S3_REQUIRED = ("bucket", "accessKey", "secretAccessKey")
"""Config keys set on update only when given non-empty (Gradient, GRADIENT.md §2.4)."""
S3_OPTIONAL = ("endpoint", "region", "signatureVersion")
"""Config keys set on update whenever given; an empty value clears them."""
CORS_METHODS = ("GET", "PUT")
CORS_MAX_AGE = 3000
CORS_RULE_ID = "cargohold-get-put"
MAX_NAME = 100
MIN_SCRUB = 8
PROBE_OPTIONS = {"max_attempts": 2, "connect_timeout": 5.0, "read_timeout": 20.0}
"""A bucket that does not answer fails the probe in seconds, not after minutes of retries."""
BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
"""What botocore lets through as a bucket name (ARNs aside); anything else is refused before a
request, so it is the caller's mistake, not the store's."""


class StorageProviderService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def _team(self) -> str:
        return self.ctx.team.id

    def list(self) -> list[StorageProvider]:
        return self.ctx.catalog.list_providers(self._team)

    def get(self, provider_id: str) -> StorageProvider:
        return self.ctx.catalog.get_provider(self._team, provider_id)

    def managed(self) -> StorageProvider:
        found = self.ctx.catalog.managed_provider(self._team)
        if found is None:
            raise ConfigurationError("This team has no managed storage provider")
        return found

    def usage(self) -> dict[str, Any]:
        """What the team stores, per provider (bytes, objects, datasets, versions, and bytes
        reserved by uploads in progress), and the managed provider's quota (null: none)."""
        found = self.ctx.catalog.usage_by_provider(self._team)
        reserved = self.ctx.catalog.reserved_by_provider(self._team)
        zero = {"bytes": 0, "objects": 0, "datasets": 0, "versions": 0}
        rows = [
            {
                "storageProviderId": p.id,
                "name": p.name,
                "isManaged": p.is_managed,
                **found.get(p.id, zero),
                "reservedBytes": reserved.get(p.id, 0),
            }
            for p in self.list()
        ]
        quota = self.ctx.stores.settings.managed_quota
        return {"teamId": self._team, "providers": rows, "managedQuota": quota}

    # -- S3 providers -------------------------------------------------------------------

    def create_s3(
        self,
        name: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
    ) -> StorageProvider:
        """Prove the bucket works with these keys, then save the provider (secret sealed)."""
        name = check_provider_name(name)
        fields = s3_fields(bucket, access_key, secret_key, endpoint, region, signature_version)
        config = check_s3_config({k: v for k, v in fields.items() if v})
        self._name_free(name)
        self._prove(config)
        provider = StorageProvider(
            id=new_provider_id(),
            team_id=self._team,
            name=name,
            type="s3",
            config=self.ctx.stores.secrets.seal(config),
        )
        return self.ctx.catalog.add_provider(provider)

    def update_s3(
        self,
        provider_id: str,
        *,
        name: str | None = None,
        bucket: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
    ) -> StorageProvider:
        """Gradient's update: bucket and keys change only when given non-empty; endpoint,
        region and signature version whenever given ("" clears). A changed config is proven
        against the bucket before it is saved; a rename alone touches no bucket."""
        current = self._own_s3(provider_id)
        new_name = None if name is None else check_provider_name(name)
        if new_name is not None and new_name != current.name:
            self._name_free(new_name)
        fields = s3_fields(bucket, access_key, secret_key, endpoint, region, signature_version)
        new_config = self._proven_change(current, merged_config(current.config, fields))
        updated = self.ctx.catalog.update_provider(
            self._team, current.id, name=new_name, config=new_config
        )
        self.ctx.stores.forget(current.id)
        return updated

    def delete(self, provider_id: str) -> StorageProvider:
        """Delete a provider no dataset uses (the bucket's objects stay where they are)."""
        provider = self.get(provider_id)
        if provider.is_managed:
            raise Conflict(
                "The managed storage provider cannot be deleted",
                hint="It is where datasets go by default; the operator configures it",
                storageProviderId=provider.id,
            )
        self.ctx.catalog.delete_provider(self._team, provider.id)
        self.ctx.stores.forget(provider.id)
        return provider

    def cors(self, provider_id: str, origins: Sequence[str]) -> dict[str, Any]:
        """Let browsers at `origins` GET and PUT objects of the provider's bucket (the rule
        GRADIENT.md §2 has users set by hand). Other CORS rules of the bucket are kept;
        returns the rule applied."""
        provider = self._own_s3(provider_id)
        rule: dict[str, Any] = {
            "ID": CORS_RULE_ID,
            "AllowedHeaders": ["*"],
            "AllowedMethods": list(CORS_METHODS),
            "AllowedOrigins": [check_origin(o) for o in origins],
            "MaxAgeSeconds": CORS_MAX_AGE,
        }
        if not rule["AllowedOrigins"]:
            raise InvalidInput("Give at least one origin, e.g. --origin https://app.example.com")
        bucket = bucket_cors(self.ctx.stores.for_provider(provider), provider)
        rules = [r for r in bucket.rules() if not is_our_rule(r)]
        bucket.put([*rules, rule])
        return rule

    # -- steps --------------------------------------------------------------------------

    def _own_s3(self, provider_id: str) -> StorageProvider:
        """A provider of type s3 that the team configured (not the managed one)."""
        provider = self.get(provider_id)
        if provider.is_managed:
            raise InvalidInput(
                "The managed storage provider is configured by the operator, not by commands",
                hint="See CARGOHOLD_MANAGED_S3_BUCKET and its sibling settings in docs/settings.md",
                storageProviderId=provider.id,
            )
        if provider.type != "s3":
            raise InvalidInput(
                f"Storage provider {provider.id} is of type {provider.type}, not s3",
                storageProviderId=provider.id,
            )
        return provider

    def _proven_change(
        self, current: StorageProvider, config: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The config to store once proven (None when nothing changed). A secret not given
        again is the stored one, decrypted for the probe."""
        if config == current.config:
            return None
        plain = self.ctx.stores.secrets.unseal(dataclasses.replace(current, config=config))
        self._prove(check_s3_config(plain))
        return self.ctx.stores.secrets.seal(config)

    def _name_free(self, name: str) -> None:
        """Refuse a taken name before touching any bucket (the catalog checks again)."""
        if any(p.name == name for p in self.list()):
            raise NameTaken(
                f"A storage provider named {name!r} already exists",
                hint="Storage provider names are unique in a team; choose another name",
                name=name,
            )

    def _prove(self, config: dict[str, Any]) -> None:
        """List the team's folder, then write, read back and delete a probe object in it.

        Listing first proves the bucket exists: some servers (SeaweedFS with an admin key)
        would quietly create a missing bucket on the first PUT."""
        secret = str(config.get("secretAccessKey") or "")
        key = f"{self._team}/.cargohold-probe-{secrets.token_hex(8)}"
        data = secrets.token_bytes(64)
        store: BlobStore | None = None
        try:
            store = open_probe_store(self.ctx, config)
            list_bucket(store, config, key)
            store.put_bytes(key, data)
            try:
                if store.read_bytes(key) != data:
                    raise StorageError(
                        f"Bucket {config['bucket']} returned other bytes than were written",
                        hint="Check the endpoint: it may not be an S3-compatible store",
                        bucket=config["bucket"],
                    )
            finally:
                store.delete(key)
        except CargoholdError as exc:
            raise scrubbed(exc, secret) from None
        finally:
            close_store(store)


def list_bucket(store: BlobStore, config: dict[str, Any], prefix: str) -> None:
    """One listing: proves the bucket exists and may be listed. A bare 404 (no S3 error
    code) comes from an endpoint that is not the S3 API of this bucket."""
    try:
        next(iter(store.list(prefix)), None)
    except ObjectNotFound:
        where = config.get("endpoint") or "AWS S3"
        raise BucketNotFound(
            f"Bucket {config['bucket']} was not found at {where} (HTTP 404 to a listing)",
            hint="Check the bucket name, and that the endpoint is the URL of an S3 API",
            bucket=config["bucket"],
        ) from None


def s3_fields(
    bucket: str | None,
    access_key: str | None,
    secret_key: str | None,
    endpoint: str | None,
    region: str | None,
    signature_version: str | None,
) -> dict[str, str | None]:
    """Arguments under their names in a provider's config (Gradient's)."""
    return {
        "bucket": bucket,
        "accessKey": access_key,
        "secretAccessKey": secret_key,
        "endpoint": endpoint,
        "region": region,
        "signatureVersion": signature_version,
    }


def merged_config(config: dict[str, Any], changes: dict[str, str | None]) -> dict[str, Any]:
    """The stored config with Gradient's update semantics applied (values still to seal)."""
    merged = dict(config)
    for key in S3_REQUIRED:
        if changes.get(key):
            merged[key] = changes[key]
    for key in S3_OPTIONAL:
        value = changes.get(key)
        if value:
            merged[key] = value
        elif value is not None:
            merged.pop(key, None)
    return merged


def check_provider_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME or not cleaned.isprintable():
        raise InvalidName(
            f"Invalid storage provider name: {name!r}",
            hint=f"Use 1-{MAX_NAME} printable characters",
            name=name,
        )
    return cleaned


def check_s3_config(config: dict[str, Any]) -> dict[str, Any]:
    for key in S3_REQUIRED:
        if not config.get(key):
            raise InvalidInput(f"An S3 storage provider needs {key}", field=key)
    bucket = str(config["bucket"])
    if not BUCKET_NAME.fullmatch(bucket) and not bucket.startswith("arn:"):
        raise InvalidInput(
            f"Invalid bucket name: {bucket!r}",
            hint="Use the bucket's name: letters, digits, '.', '-' and '_'",
            bucket=bucket,
        )
    version = config.get("signatureVersion")
    if version:
        from cargohold.blobs.s3 import SIGNATURE_VERSIONS  # boto3, only when one is given

        if str(version).strip().lower() not in SIGNATURE_VERSIONS:
            raise InvalidInput(
                f"Unknown S3 signature version {version!r}",
                hint="Use v4 (or v2 for old servers)",
                signatureVersion=version,
            )
    endpoint = config.get("endpoint")
    if endpoint:
        parts = _split(str(endpoint))
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(
                f"Invalid endpoint URL: {endpoint!r}",
                hint="Give the S3 endpoint as http://HOST:PORT or https://HOST",
                endpoint=endpoint,
            )
    return config


def check_origin(origin: str) -> str:
    if origin == "*":
        return origin
    parts = _split(origin)
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
    ):
        raise InvalidInput(
            f"Invalid origin: {origin!r}",
            hint="An origin is a scheme and host, e.g. https://app.example.com, or *",
            origin=origin,
        )
    return f"{parts.scheme}://{parts.netloc}"


def _split(url: str) -> SplitResult | None:
    """The parts of a URL; None when it cannot be parsed (e.g. "http://[::1")."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def open_probe_store(ctx: Context, config: dict[str, Any]) -> BlobStore:
    """A store for a config about to be proven. botocore refuses some values (a region that
    is not a host label, an endpoint it cannot parse) before any request, with a ValueError:
    the caller's mistake, so InvalidInput."""
    try:
        return ctx.stores.open_s3(config, **PROBE_OPTIONS)
    except CargoholdError:
        raise
    except ValueError as exc:
        raise InvalidInput(
            f"Invalid S3 settings: {exc}",
            hint="Check the region and the endpoint URL",
        ) from None


def scrubbed(exc: CargoholdError, secret: str) -> CargoholdError:
    """The same error with the secret, should a store have quoted it, masked out (a secret
    too short to be one is left alone: masking it would garble the message)."""
    if len(secret) < MIN_SCRUB or secret not in repr((exc.message, exc.hint, exc.details)):
        return exc

    def clean(value: Any) -> Any:
        return value.replace(secret, "********") if isinstance(value, str) else value

    details = {k: clean(v) for k, v in exc.details.items()}
    return type(exc)(clean(exc.message), hint=clean(exc.hint), **details)


def is_our_rule(rule: dict[str, Any]) -> bool:
    """The rule `cors` manages: by its ID, or by its shape where a store drops IDs."""
    if rule.get("ID"):
        return bool(rule["ID"] == CORS_RULE_ID)
    return sorted(rule.get("AllowedMethods", [])) == sorted(CORS_METHODS) and rule.get(
        "AllowedHeaders"
    ) == ["*"]


class BucketCors:
    """The CORS configuration of an S3 provider's bucket."""

    def __init__(self, requests: Any, provider: StorageProvider) -> None:
        self.requests = requests
        self.provider = provider

    def rules(self) -> list[dict[str, Any]]:
        from cargohold.blobs.s3_errors import s3_code

        try:
            answer = self.requests("get_bucket_cors")
        except StorageError as exc:
            if s3_code(exc) in ("NoSuchCORSConfiguration", "NoSuchCorsConfiguration"):
                return []
            raise self._refused(exc) from None
        return list(answer.get("CORSRules", []))

    def put(self, rules: list[dict[str, Any]]) -> None:
        try:
            self.requests("put_bucket_cors", CORSConfiguration={"CORSRules": rules})
        except StorageError as exc:
            raise self._refused(exc) from None

    def _refused(self, exc: StorageError) -> StorageError:
        if isinstance(exc, StorageAccessDenied | BucketNotFound | StorageUnreachable):
            return exc
        return StorageError(
            f"The store of provider {self.provider.id} refused its bucket's CORS rules: "
            f"{exc.message}",
            hint="This S3-compatible store may not support bucket CORS (GetBucketCors/"
            "PutBucketCors); set the rule with the store's own tools",
            storageProviderId=self.provider.id,
        )


def bucket_cors(store: BlobStore, provider: StorageProvider) -> BucketCors:
    """CORS of an S3 store's bucket, through its request layer (errors translated and
    scrubbed of the secret there)."""
    requests = getattr(store, "requests", None)
    if requests is None:
        raise ConfigurationError(
            f"Storage provider {provider.id} has no bucket to set CORS rules on",
            storageProviderId=provider.id,
        )
    return BucketCors(requests, provider)
