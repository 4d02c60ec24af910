"""Settings, one frozen class per concern, read once at start-up.

Precedence: environment (``PIGGY_*``) > the config file ``piggy.toml`` > defaults. The file
is found by :func:`shared.config_file.find_config_file` and applied by one pydantic-settings
source to every class that derives from :class:`BaseSettings` below (new classes get file
support by deriving from it). Nothing here is instantiated at import time: each service's
lifespan (or the CLI) builds what it needs and passes it in.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings as _PydanticBaseSettings
from pydantic_settings import PydanticBaseSettingsSource, SettingsConfigDict

from shared.config_file import FileSettingsSource, default_home

if TYPE_CHECKING:
    from shared.durable import Durability

PLACEHOLDERS = {"changeme", "change-me", "secret", "xxx", "your-token-here", "todo"}


def _real_secret(value: SecretStr | None, name: str) -> SecretStr | None:
    """An empty secret is unset (compose passes ``${NAME:-}``); a placeholder is refused."""
    if value is None or not value.get_secret_value().strip():
        return None
    if value.get_secret_value().strip().lower() in PLACEHOLDERS:
        raise ValueError(f"{name} is a placeholder; set a real value or unset it")
    return value


class BaseSettings(_PydanticBaseSettings):
    """pydantic-settings' base with ``piggy.toml`` between the environment and the defaults."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[_PydanticBaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FileSettingsSource(settings_cls))


def _config(prefix: str = "PIGGY_") -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="forbid")


class RedisSettings(BaseSettings):
    """Where Redis is and who this process is there. ``redis_username``/``redis_password``
    (an ACL user, ``shared/redis_acl.py``) go into the URL only in memory (``url()``), so
    the configured URL can be shown; ``rediss://`` is TLS (``redis_tls_ca_file`` to trust a
    private CA).

    Redis Sentinel: ``redis_sentinels`` (``host:port,host:port,...``) and ``redis_master``
    (the name the sentinels monitor) replace ``redis_url``'s host: ``url()`` is then a
    ``redis+sentinel://`` URL (``shared/redis_conn.py``) and every client follows the current
    primary. The sentinels are asked with the same ACL user unless ``redis_sentinel_username``
    / ``redis_sentinel_password`` name their own. ``redis_wait_replicas`` (default: 1 with
    Sentinel, 0 without) is how many replicas a durable write waits for (``WAIT``), at most
    ``redis_wait_ms`` (``shared/durable.py``)."""

    model_config = _config()
    redis_url: str = "redis://127.0.0.1:16379/0"
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_tls_ca_file: Path | None = None
    redis_acl: bool = True  # `piggy up`: one ACL user per service (piggy/stack.py); 0 opts out
    redis_sentinels: str | None = None
    redis_master: str = "piggy"
    redis_sentinel_username: str | None = None
    redis_sentinel_password: SecretStr | None = None
    redis_wait_replicas: int | None = Field(default=None, ge=0, le=5)
    redis_wait_ms: int = Field(default=1000, ge=10, le=60_000)

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        from shared.redis_conn import RedisUrlError, is_sentinel, parse_sentinel

        if is_sentinel(v):  # the same as PIGGY_REDIS_SENTINELS + PIGGY_REDIS_MASTER, in one
            try:
                parse_sentinel(v)
            except RedisUrlError as exc:
                raise ValueError(f"PIGGY_REDIS_URL: {exc}") from exc
            return v
        if urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("PIGGY_REDIS_URL must start with redis://, rediss:// (TLS), "
                             "unix:// or redis+sentinel://")
        return v

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_list(cls, v: str | None) -> str | None:
        from shared.redis_conn import RedisUrlError, parse_hostports

        if v is None or not v.strip():
            return None
        try:
            parse_hostports(v)
        except RedisUrlError as exc:
            raise ValueError(f"PIGGY_REDIS_SENTINELS: {exc}") from exc
        return v.strip()

    def url(self) -> str:
        """The URL every client is built from (``shared.redis_conn``); it holds the password:
        never print it (``redis_conn.redact``)."""
        if self.redis_sentinels:
            from shared.redis_conn import parse_hostports, sentinel_url

            parts = urlsplit(self.redis_url)
            db = int(parts.path.strip("/") or 0) if parts.scheme != "unix" else 0
            password = self.redis_password.get_secret_value() if self.redis_password else None
            spw = self.redis_sentinel_password
            return sentinel_url(
                parse_hostports(self.redis_sentinels), self.redis_master, db=db,
                username=self.redis_username, password=password,
                sentinel_username=self.redis_sentinel_username if spw else None,
                sentinel_password=spw.get_secret_value() if spw else None,
                tls=parts.scheme == "rediss",
                ca_file=str(self.redis_tls_ca_file) if self.redis_tls_ca_file else None)
        return with_credentials(self.redis_url, self.redis_username, self.redis_password,
                                self.redis_tls_ca_file)

    def durability(self, url: str) -> Durability:
        """What durable writes wait for on ``url``: ``redis_wait_replicas`` replicas when set,
        else 1 behind Sentinel and none on one Redis; at most ``redis_wait_ms``."""
        from shared.durable import Durability
        from shared.redis_conn import is_sentinel

        replicas = self.redis_wait_replicas
        if replicas is None:
            replicas = 1 if is_sentinel(url) else 0
        return Durability(replicas, self.redis_wait_ms)


def with_credentials(url: str, username: str | None, password: SecretStr | None,
                     ca_file: Path | None = None) -> str:
    """``url`` with the user and password (percent-encoded) and, for ``rediss://``, the CA
    file as ``ssl_ca_certs`` (redis-py reads TLS options from the query string)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if password is not None:
        user = quote(username or "default", safe="")
        netloc = f"{user}:{quote(password.get_secret_value(), safe='')}@{netloc}"
    query = parts.query
    if ca_file is not None and parts.scheme == "rediss" and "ssl_ca_certs" not in query:
        query = "&".join(q for q in (query, f"ssl_ca_certs={quote(str(ca_file))}") if q)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class HomeSettings(BaseSettings):
    """Where local state lives: key file, API token file, logs, embedded Redis data.

    ``PIGGY_HOME``, default ``~/.local/share/cryptopiggy`` (``$XDG_DATA_HOME/cryptopiggy``),
    so every command finds the same state whatever the working directory."""

    model_config = _config()
    home: Path = Field(default_factory=default_home)


class ExchangeSettings(BaseSettings):
    """Where each exchange is reached: ``PIGGY_<EXCHANGE>_URL`` points it at a sandbox (or any
    compatible URL); ``PIGGY_<EXCHANGE>_TESTNET=1`` uses ccxt's testnet (binance, binanceus...
    where the exchange has one; the adapter refuses it otherwise). One pair per name in
    ``shared.exchanges.EXCHANGES``."""

    model_config = _config()
    binanceus_url: str | None = None
    binance_url: str | None = None
    kraken_url: str | None = None
    coinbase_url: str | None = None
    binanceus_testnet: bool = False
    binance_testnet: bool = False
    kraken_testnet: bool = False
    coinbase_testnet: bool = False
    exchange_timeout_ms: int = Field(default=10_000, ge=100)

    def base_url(self, exchange: str) -> str | None:
        return getattr(self, f"{exchange}_url", None) or None

    def testnet(self, exchange: str) -> bool:
        return bool(getattr(self, f"{exchange}_testnet", False))

    @model_validator(mode="after")
    def _testnet_exists(self) -> ExchangeSettings:
        from shared.exchanges import EXCHANGES, adapter

        for name in EXCHANGES:
            if self.testnet(name) and not adapter(name).has_testnet:
                raise ValueError(f"PIGGY_{name.upper()}_TESTNET=1: {name} has no testnet in "
                                 f"ccxt; unset it (or point PIGGY_{name.upper()}_URL at a "
                                 "sandbox)")
        return self

    def configured(self) -> tuple[str, ...]:
        """Exchanges given a URL or testnet mode here; every exchange when none is (the real
        ones, each at its own URL)."""
        from shared.exchanges import EXCHANGES

        named = tuple(e for e in EXCHANGES if self.base_url(e) or self.testnet(e))
        return named or EXCHANGES


class VaultSettings(BaseSettings):
    model_config = _config()
    master_key: SecretStr | None = None
    home: Path = Field(default_factory=default_home)

    @property
    def key_file(self) -> Path:
        return self.home / "master.key"

    @field_validator("master_key")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        return _real_secret(v, "PIGGY_MASTER_KEY")  # empty: use the key file


class ApiSettings(BaseSettings):
    """The gateway's HTTP API."""

    model_config = _config()
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_token: SecretStr | None = None
    home: Path = Field(default_factory=default_home)
    reply_timeout_s: float = Field(default=10.0, gt=0)

    @property
    def token_file(self) -> Path:
        return self.home / "api-token"

    @field_validator("api_token")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        return _real_secret(v, "PIGGY_API_TOKEN")  # empty: use (or create) the token file


class ServiceSettings(BaseSettings):
    """Per-process wiring shared by every service: health port and instance name."""

    model_config = _config()
    health_host: str = "127.0.0.1"
    health_port: int = 0
    instance_id: str = ""
    log_level: str = "INFO"
    claim_idle_ms: int = Field(default=10_000, ge=100)
    # The event loop under uvicorn: ``uvloop`` (measured: less CPU per message), ``asyncio``
    # (the standard one), or ``auto``: uvloop when it imports, else asyncio.
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # Bearer token /metrics asks for when set (Prometheus's ``authorization`` block); unset:
    # /metrics is open, which is meant for loopback only.
    metrics_token: SecretStr | None = None

    @field_validator("metrics_token")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        return _real_secret(v, "PIGGY_METRICS_TOKEN")


class LogSettings(BaseSettings):
    """``PIGGY_LOG_FORMAT``: json | text; empty = text on a terminal, JSON elsewhere."""

    model_config = _config()
    log_format: str = ""


class NotifierSettings(BaseSettings):
    """Alerts. ``PIGGY_ALERT_URLS``: apprise URLs, comma- or space-separated (tgram://,
    slack://, discord://, mailto://, json://, jsons://...). They hold tokens: a secret."""

    model_config = _config()
    alert_urls: SecretStr | None = None
    alert_rate_per_min: int = Field(default=20, ge=1)
    alert_dedup_s: float = Field(default=300.0, ge=0)
    alert_max_age_s: float = Field(default=600.0, gt=0)
    alert_deadletter_threshold: int = Field(default=5, ge=1)
    alert_deadletter_window_s: float = Field(default=300.0, gt=0)
    alert_send_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("alert_urls")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        return _real_secret(v, "PIGGY_ALERT_URLS")


class ExecutorSettings(BaseSettings):
    model_config = _config()
    allow_live: bool = Field(default=False, validation_alias=AliasChoices("ALLOW_LIVE", "PIGGY_ALLOW_LIVE"))
    live_confirm_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LIVE_CONFIRM_TOKEN", "PIGGY_LIVE_CONFIRM_TOKEN")
    )

    @field_validator("live_confirm_token")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        return _real_secret(v, "LIVE_CONFIRM_TOKEN")
    dry_run: bool = False
    paper_enabled: bool = True
    min_trade_usd: Decimal = Decimal(2)
    max_trade_usd: Decimal = Decimal(100)
    daily_cap_usd: Decimal = Decimal(50)
    heartbeat_max_age_s: float = Field(default=5.0, gt=0)
    direct_route: bool = False
    outcome_timeout_s: float = Field(default=15.0, gt=0)
    # how long an intent's outcome key (shared/outcomes.py) lives after its commit: a caller
    # blocked on it is answered at once; one asking later reads the trade log instead
    outcome_key_ttl_s: int = Field(default=60, ge=1)
    reconcile_rounds: int = Field(default=10, ge=1)  # lookups of an unanswered order before "unknown"
    batch_size: int = Field(default=64, ge=1, le=1000)  # intents read and written per Redis call


class GatewaySettings(BaseSettings):
    model_config = _config()
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    ticker_interval_s: float = Field(default=2.0, gt=0)
    ticker_symbols: list[str] = ["BTC/USDT", "ETH/USDT", "BTC/USD"]
    ticker_user: str = ""
    markets_refresh_s: float = Field(default=3600.0, gt=0)


class CredentialsSettings(BaseSettings):
    model_config = _config()
    revalidate_interval_s: float = Field(default=300.0, gt=0)


class StrategySettings(BaseSettings):
    model_config = _config()
    strategy_file: Path | None = None
    tick_interval_s: float = Field(default=1.0, gt=0)


class StackSettings(BaseSettings):
    """What ``piggy up`` binds and how it supervises its children.

    Ports: the embedded Redis, the sandbox exchange, each service's health/HTTP port (the
    gateway's is ``api_port`` in :class:`ApiSettings`) and the dashboard."""

    model_config = _config()
    redis_port: int = Field(default=16379, ge=1, le=65535)
    sandbox_port: int = Field(default=18000, ge=1, le=65535)
    executor_port: int = Field(default=8001, ge=1, le=65535)
    credentials_port: int = Field(default=8002, ge=1, le=65535)
    strategy_port: int = Field(default=8003, ge=1, le=65535)
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    notifier_port: int = Field(default=8004, ge=1, le=65535)
    restart_backoff_s: float = Field(default=0.5, gt=0)
    restart_backoff_max_s: float = Field(default=30.0, gt=0)
    restart_budget: int = Field(default=5, ge=1)
    restart_window_s: float = Field(default=300.0, gt=0)
    hung_after_s: float = Field(default=30.0, gt=0)
    start_timeout_s: float = Field(default=30.0, gt=0)  # `piggy up`: every part healthy within
    log_max_bytes: int = Field(default=10_000_000, ge=10_000)
    log_backups: int = Field(default=5, ge=1)


class ReconcileSettings(BaseSettings):
    """Reconciliation with the exchanges (the books service; ``piggy reconcile``).

    It reads each user's keys from the vault, so the books service needs the vault key too:
    ``PIGGY_MASTER_KEY`` or the key file in ``PIGGY_HOME`` (:class:`VaultSettings`).
    ``reconcile_sole_accounts``: the accounts the product trades alone, whose balances are
    checked for drift — ``user:exchange`` entries, ``user:*``, or ``*`` for all.
    ``reconcile_count_external``: orders placed outside CryptoPiggy count in positions."""

    model_config = _config()
    reconcile_interval_s: float = Field(default=900.0, gt=0)
    reconcile_count_external: bool = False
    reconcile_sole_accounts: list[str] = []
    reconcile_symbols: list[str] = []  # asked about besides the journal's and the test pair
    reconcile_lookback_s: float = Field(default=7 * 86400.0, gt=0)  # a first round looks back
    reconcile_overlap_s: float = Field(default=600.0, ge=0)  # each window starts this early
    reconcile_absent_after_s: float = Field(default=600.0, ge=0)  # unknown → absent when older
    reconcile_drift_tolerance: Decimal = Field(default=Decimal("0.0001"), ge=0)  # of volume

    def sole(self, user_id: str, exchange: str) -> bool:
        wanted = {"*", f"{user_id}:*", f"{user_id}:{exchange}"}
        return any(entry.strip() in wanted for entry in self.reconcile_sole_accounts)
