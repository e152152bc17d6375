"""Configuration: one TOML file, overridden by GROUPBUY_* environment variables."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

TOKEN_PATTERN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class WebhookSettings(BaseModel):
    """Webhook mode: Telegram posts updates to us instead of our polling it."""

    enabled: bool = False
    # The public HTTPS address Telegram posts to (a reverse proxy forwards it to us).
    url: str = ""
    listen: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    path: str = "telegram"
    # Telegram sends it in X-Telegram-Bot-Api-Secret-Token; requests without it are refused.
    # Required in webhook mode: without it anyone who reaches the URL could forge updates.
    secret_token: SecretStr | None = Field(default=None, validate_default=True)

    @field_validator("secret_token")
    @classmethod
    def _secret_format(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if secret is None:
            if info.data.get("enabled"):
                raise ValueError(
                    "must be set when the webhook is on, or anyone who reaches its URL"
                    " could post forged updates (1-256 characters of A-Z, a-z, 0-9, _ and -)"
                )
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return secret

    @model_validator(mode="after")
    def _url_when_enabled(self) -> WebhookSettings:
        if self.enabled and not self.url.startswith(("https://", "http://")):
            raise ValueError("telegram.webhook.url must be set (https://…) when the webhook is on")
        return self


class TelegramSettings(BaseModel):
    """How the bot reaches Telegram."""

    token: SecretStr
    base_url: str = "https://api.telegram.org/bot"
    flood_control: bool = True
    messages_per_second: float = Field(default=30, gt=0)
    group_messages_per_minute: float = Field(default=20, gt=0)
    poll_timeout: float = Field(default=10.0, gt=0, le=60)
    card_edit_interval: float = Field(default=3.0, ge=0, le=60)
    # scheme://[user:password@]host:port for every Bot API call; empty: the environment's
    # HTTPS_PROXY / ALL_PROXY / NO_PROXY. Secret: it may carry a password.
    proxy: SecretStr = SecretStr("")
    # Certificates (PEM) to trust besides the usual ones: a self-hosted Bot API server's
    # (or an HTTPS proxy's) private certificate authority.
    ca_file: Path | None = None
    webhook: WebhookSettings = WebhookSettings()

    @property
    def group_interval(self) -> float:
        """Seconds between two sends to one group (0 with flood control off)."""
        return 60 / self.group_messages_per_minute if self.flood_control else 0.0

    @field_validator("token")
    @classmethod
    def _token_format(cls, token: SecretStr) -> SecretStr:
        # Checked here so that a typo fails at start-up, not at the first request.
        if not TOKEN_PATTERN.match(token.get_secret_value()):
            raise ValueError("does not look like a bot token (digits, a colon, then letters)")
        return token

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, proxy: SecretStr) -> SecretStr:
        # The messages never quote the URL: it may carry a password.
        url = proxy.get_secret_value().strip()
        if not url:
            return SecretStr("")
        parts = urlsplit(url)
        if parts.scheme not in PROXY_SCHEMES:
            raise ValueError(
                "must start with http://, https://, socks5:// or socks5h://"
                " (e.g. socks5://user:password@proxy.example:1080)"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the proxy's port must be a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError(f"names no proxy host ({parts.scheme}://host:port)")
        if port is None or port == 0:
            raise ValueError(f"names no proxy port ({parts.scheme}://host:port)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"must be {parts.scheme}://[user:password@]host:port, nothing after")
        return SecretStr(url)

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no file at {path}")
        return path


class StorageSettings(BaseModel):
    """Where orders are kept: an SQLite file, or a PostgreSQL database shared by workers."""

    path: Path = Path("groupbuy.db")
    url: str = ""  # postgresql://user:password@host/db; empty: the SQLite file above
    schema_name: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, url: str) -> str:
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (or empty for SQLite)")
        return url


class DealSettings(BaseModel):
    """Defaults for deals."""

    reminder_before_minutes: int = Field(default=60, ge=0, le=24 * 60)
    # How often each process sweeps for deals that fell due (and runs the daily summaries,
    # offer expiries and clean-ups): a deadline is kept within this many seconds even if
    # the worker that armed it died.
    sweep_seconds: float = Field(default=30, ge=0.2, le=600)


class LimitSettings(BaseModel):
    """How much one member, or one group, may ask of the bot; beyond it the bot is quiet."""

    # Commands one member may send in groups, and in a private chat, per member window.
    member_commands: int = Field(default=5, ge=1)
    private_commands: int = Field(default=20, ge=1)
    member_window_seconds: float = Field(default=30, gt=0)
    # Commands a whole group may send per group window (their answers share its ~20
    # messages a minute with deal cards and announcements).
    group_commands: int = Field(default=10, ge=1)
    group_window_seconds: float = Field(default=60, gt=0)
    # Button taps one member may make per second (a human taps far slower).
    taps_per_second: int = Field(default=10, ge=1)


class OpsSettings(BaseModel):
    """/healthz, /readyz and /metrics for the operator's uptime checker and Prometheus."""

    listen: str = "127.0.0.1"
    # A port of their own (0: off). With the webhook on, its server serves them too.
    port: int = Field(default=0, ge=0, le=65535)


class WebappSettings(BaseModel):
    """The leader's console, a Telegram Mini App served by the bot itself (bot/webapp/)."""

    enabled: bool = False
    # The public HTTPS address the Mini App opens at (a reverse proxy forwards it to us);
    # Telegram opens Mini Apps over HTTPS only.
    url: str = ""
    # In polling mode the console listens here; with the webhook on, the webhook's server
    # serves it beside the webhook and these are not used.
    listen: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    # Requests one user may make a minute; beyond it they are answered 429.
    requests_per_minute: int = Field(default=120, ge=1)

    @model_validator(mode="after")
    def _url_when_enabled(self) -> WebappSettings:
        if self.enabled and not self.url.startswith("https://"):
            raise ValueError("webapp.url must be set (https://…) when the console is on")
        if self.enabled and not urlsplit(self.url).path.endswith("/"):
            # The page fetches its files and views relative to its own address.
            raise ValueError("webapp.url must end in / (https://shop.example.com/console/)")
        return self


class PaymentsSettings(BaseModel):
    """Telegram Payments: the provider connected to the bot in @BotFather."""

    # The token @BotFather gives for the connected provider (Payments); None: no invoices,
    # only "I've paid". Secret: it lets anyone charge cards in the bot's name.
    provider_token: SecretStr | None = None

    @field_validator("provider_token")
    @classmethod
    def _provider_token_format(cls, token: SecretStr | None) -> SecretStr | None:
        # The messages never quote the token.
        if token is None or not token.get_secret_value().strip():
            return None
        if not re.fullmatch(r"\d{1,20}:[A-Za-z0-9_:-]{1,200}", token.get_secret_value().strip()):
            raise ValueError(
                "does not look like a payment provider token from @BotFather"
                " (digits, a colon, then e.g. TEST:… or LIVE:…)"
            )
        return SecretStr(token.get_secret_value().strip())


class Settings(BaseSettings):
    """Every setting of the bot; see config.example.toml for what each means."""

    model_config = SettingsConfigDict(
        env_prefix="GROUPBUY_", env_nested_delimiter="__", extra="forbid"
    )

    telegram: TelegramSettings
    storage: StorageSettings = StorageSettings()
    deals: DealSettings = DealSettings()
    limits: LimitSettings = LimitSettings()
    timezone: str = "UTC"
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    leaders: list[int] = []
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    clock_offset: float = 0.0
    ops: OpsSettings = OpsSettings()
    payments: PaymentsSettings = PaymentsSettings()
    webapp: WebappSettings = WebappSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
            ) from exc
        return name

    @field_validator("ops")
    @classmethod
    def _ops_port_free(cls, ops: OpsSettings, info: ValidationInfo) -> OpsSettings:
        telegram = info.data.get("telegram")
        webhook = telegram.webhook if isinstance(telegram, TelegramSettings) else None
        if webhook is not None and webhook.enabled and ops.port == webhook.port:
            raise ValueError(
                "ops.port must differ from telegram.webhook.port: the webhook's server"
                " answers /healthz, /readyz and /metrics already (or set ops.port = 0)"
            )
        return ops

    @field_validator("webapp")
    @classmethod
    def _webapp_port_free(cls, webapp: WebappSettings, info: ValidationInfo) -> WebappSettings:
        ops = info.data.get("ops")
        if webapp.enabled and isinstance(ops, OpsSettings) and ops.port == webapp.port:
            raise ValueError("webapp.port must differ from ops.port")
        return webapp

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


_CONFIG_FILE: dict[str, Path | None] = {}


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""


def config_path(cli_path: str | None) -> Path | None:
    """The config file to read: --config, then GROUPBUY_CONFIG, then ./config.toml if present."""
    if cli_path:
        return Path(cli_path)
    if env_path := os.environ.get("GROUPBUY_CONFIG"):
        return Path(env_path)
    default = Path("config.toml")
    return default if default.exists() else None


def load_settings(path: Path | None, **overrides: Any) -> Settings:
    """Read the settings, or raise ConfigError with one line naming what is wrong."""
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} not found")
    _CONFIG_FILE["path"] = path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"config file {path}: {exc}") from None
    finally:
        _CONFIG_FILE.pop("path", None)


def _describe(exc: ValidationError) -> str:
    """One line per wrong setting, naming it the way the TOML file and the env var do."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        if loc == ("telegram",) and error["type"] == "missing":
            loc = ("telegram", "token")  # the one required setting of that table
        name = ".".join(str(part) for part in loc)
        env = "GROUPBUY_" + "__".join(str(part).upper() for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"setting {name}: {message} (config file or {env})")
    return "; ".join(lines)
