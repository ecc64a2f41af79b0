"""Settings: ``campaignrec.toml`` (in the data directory or the working directory) plus
``CAMPAIGNREC_*`` environment variables, which win. Secrets are never logged."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaignrec.data.schema import DEFAULT_EVENT_WEIGHTS
from campaignrec.errors import ConfigError
from campaignrec.push.config import PushSettings

DEFAULT_HOME = Path(".campaignrec")

#: Personal fields the engine never needs; dropped at the import edge unless configured otherwise.
DEFAULT_PERSONAL_FIELDS: dict[str, Literal["drop", "encrypt", "keep"]] = {
    name: "drop"
    for name in (
        "name",
        "full_name",
        "first_name",
        "last_name",
        "nickname",
        "phone",
        "phone_number",
        "mobile",
        "email",
        "e_mail",
        "address",
        "street",
        "street_address",
        "address_line",
        "postcode",
        "postal_code",
        "zip",
        "id_card",
        "national_id",
        "passport",
        "ip",
        "ip_address",
    )
}


class Settings(BaseSettings):
    """Every knob of a campaignrec installation."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGNREC_", extra="forbid", frozen=True)

    home: Path = Field(
        default=DEFAULT_HOME, description="data directory: store, artifacts, reports"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in the data directory"
    )
    online_url: str = Field(default="memory://", description="memory:// or redis://host:port/db")
    online_prefix: str = Field(
        default="campaignrec:",
        min_length=1,
        max_length=64,
        description="key prefix in Redis (several shops can share one Redis)",
    )
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    half_life_days: float | None = Field(default=None, gt=0)
    reject_threshold: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="an import fails when more than this share is rejected",
    )
    pseudonymisation_key: SecretStr | None = Field(
        default=None,
        description="HMAC key: external user ids are replaced by a keyed hash at import and at "
        "the API (campaignrec.privacy); the mapping back is never stored",
    )
    field_encryption_key: SecretStr | None = Field(
        default=None,
        description="Fernet key (cryptography) of the personal fields kept as 'encrypt'",
    )
    personal_fields: dict[str, Literal["drop", "encrypt", "keep"]] = Field(
        default_factory=lambda: dict(DEFAULT_PERSONAL_FIELDS),
        description="what the import edge does with each personal field (column or attributes "
        "key): drop it, keep it only encrypted, or keep it",
    )
    retention_days: float | None = Field(
        default=None, gt=0, description="events older than this are deleted (campaignrec retention)"
    )
    dp_epsilon_budget: float = Field(
        default=10.0, gt=0, description="total epsilon of the DP releases of one dataset"
    )
    dp_delta_budget: float = Field(
        default=1e-5, ge=0, lt=1, description="total delta of the DP releases of one dataset"
    )
    fairness_protected_group: str | None = Field(
        default=None,
        description="protected item group of the serving path's fairness step: new_items, "
        "long_tail, brand:A|B or category:C|D (campaignrec.ranking.fairness)",
    )
    fairness_strength: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="FA*IR strength: the least share of the protected group in every prefix "
        "of a served list (0 = off); a request may override it with fair_strength",
    )
    fairness_alpha: float = Field(
        default=0.1, gt=0, lt=1, description="FA*IR significance of the per-prefix minimum"
    )
    protected_attributes: list[str] = Field(
        default_factory=lambda: ["gender", "age", "age_band", "birth_year"],
        description="user attributes a campaign audience may select on only when the campaign "
        "declares them (protected_attributes, with a protected_reason)",
    )
    log_level: str = "INFO"
    api_rate_per_second: float = Field(
        default=100.0, gt=0, description="requests per second per API key (token bucket)"
    )
    api_rate_burst: int = Field(default=200, ge=1, description="burst size per API key")
    api_max_body_bytes: int = Field(default=2_000_000, ge=1, description="request body limit")
    api_cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS (none: CORS off)"
    )
    campaign_policy: Literal["priority", "bernoulli_ts", "ucb1", "epsilon_greedy"] = Field(
        default="priority",
        description="who picks the first campaign slot: priority order, or a bandit whose "
        "statistics live in the online state (campaignrec.experiments.serving)",
    )
    bandit_reward_event: str = Field(
        default="campaign_click",
        description="the event type that counts as a bandit's reward for the campaign it names",
    )
    model_check_seconds: float = Field(
        default=2.0, ge=0, description="how often the service checks for a new active model"
    )
    audit_reads: bool = Field(
        default=True,
        description="audit every API read made with a key (recommendations, a shopper's "
        "campaigns...), not only writes and admin reads; written in batches off the request path",
    )
    result_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long a service worker may answer GET /v1/users/{id}/recommendations and "
        "GET /v1/items/{id}/similar from the list it computed before for the same request (0: "
        "compute every time). A shopper's events or consent change, an erasure, a catalogue "
        "change, an import or a model swap drops the cached lists at once in every worker; this "
        "bounds how old trending and campaign boosts in a cached list can be (docs/api.md)",
    )
    attribute_cache_seconds: float = Field(
        default=0.0,
        ge=0,
        description="how long a service worker may keep a shopper's users row (0, the default: "
        "read it on every request). Consent events still apply at once; a users file imported "
        "with changed consent applies within this time",
    )
    push: PushSettings = Field(
        default_factory=PushSettings,
        description="push planning: quiet hours, caps, channels, time zones, holdout "
        "(a [push] section of campaignrec.toml; docs/push.md)",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'campaignrec.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``<home>/campaignrec.toml`` (or ``./campaignrec.toml``), env vars and overrides.

    Environment variables take precedence over the file; explicit overrides over both.
    """
    import os

    env_home = os.environ.get("CAMPAIGNREC_HOME")
    base = Path(home) if home is not None else Path(env_home) if env_home else DEFAULT_HOME
    file_values: dict[str, Any] = {}
    for candidate in (base / "campaignrec.toml", Path("campaignrec.toml")):
        if candidate.is_file():
            try:
                file_values = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{candidate}: not valid TOML ({exc})") from exc
            break
    env_keys = {
        k[len("CAMPAIGNREC_") :].lower() for k in os.environ if k.startswith("CAMPAIGNREC_")
    }
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update(overrides)
    values["home"] = base
    try:
        return Settings(**values)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"setting '{field}': {first['msg']}",
            hint="check campaignrec.toml and CAMPAIGNREC_* variables",
        ) from exc
