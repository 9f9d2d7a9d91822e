"""Settings from the environment (prefix GRIDBOT_) with embedded defaults for a single process."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDBOT_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{ROOT / 'var' / 'gridbot.db'}",
        description="SQLAlchemy URL; postgresql://… selects PostgreSQL (asyncpg).",
    )
    redis_url: str | None = Field(default=None, description="Unset: in-process adapters (one process).")
    redis_prefix: str | None = Field(
        default=None,
        description="Namespace of this deployment's Redis keys (leader lease, send limits, access tokens); "
        "unset: derived from the database URL, so deployments sharing one Redis never meet.",
    )
    api_token: str | None = Field(default=None, description="Bearer token for /api/v1; unset: generated into var/.")
    directory: Path = Field(default=CONFIG / "grids.demo.yaml", description="Grid file imported when the DB has none.")
    policies: Path = Field(default=CONFIG / "policies" / "default.yaml")
    templates: Path = Field(default=CONFIG / "templates.yaml")
    holidays: Path = Field(
        default=CONFIG / "holidays.yaml", description="放假/调休 arrangements for years chinese-calendar lacks."
    )
    faq: Path = Field(default=CONFIG / "faq.yaml", description="Answers to common questions (consult).")
    points: Path = Field(default=CONFIG / "points.yaml", description="Points (积分) per rule of the 平安超市.")
    followup_s: int = Field(default=600, ge=0, description="A reporter's same-type report this soon adds to the first.")
    intents: Path = Field(default=CONFIG / "intents", description="One YAML file per intent (+ _shared.yaml).")
    nlu_pipeline: str = Field(
        default="tfidf_svm",
        description="A pipeline of bot/nlu/pipelines/ (tfidf_svm, wide, logreg, words, diet): README compares.",
    )
    nlu_test_data: str = Field(
        default=f"{CONFIG / 'nlu_test.csv'},{CONFIG / 'corpus' / 'groupchat.csv'}",
        description="Held-out rows the retrain gate scores (comma-separated CSV files; of a file with a "
        "`split` column only its `test` rows).",
    )
    nlu: str = Field(default="rasa", pattern="^(rasa|rules)$", description="rules: keyword rules only, no Rasa.")
    nlu_url: str | None = Field(
        default=None, description="External Rasa servers (comma-separated: round robin with failover); unset: our own."
    )
    nlu_token: str | None = Field(
        default=None,
        description="The --auth-token of the Rasa servers in GRIDBOT_NLU_URL (our own children get a random one).",
    )
    nlu_timeout_s: float = 2.0
    nlu_threshold: float = Field(default=0.50, description="Below this Rasa confidence the keyword rules decide.")
    demo: bool = Field(default=False, description="Let the web chat page speak as anyone.")
    map_tiles: str = Field(
        default="",
        description="The map's tile server ({z}/{x}/{y} URL, the site's own); unset: boundaries only.",
    )
    map_position_h: float = Field(
        default=12, gt=0, le=24 * 7, description="How long a shared position stays on the map and counts as near."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    var_dir: Path = ROOT / "var"
    model_cache: Path = Field(default=Path.home() / ".cache" / "gridbot" / "models")
    rasa_bin: Path = ROOT / ".venv-rasa" / "bin" / "rasa"
    rasa_port: int = Field(default=0, description="Loopback port of our Rasa child; 0 picks a free one.")
    nlu_workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="How many Rasa children `serve` starts (round robin with failover); see README Deployment.",
    )
    audit_interval_s: float = Field(default=10.0, description="How often overdue steps missed by timers are fired.")
    outbox_interval_s: float = 0.5
    # Telegram (off unless a token is set); webhook at POST /telegram/webhook, or polling.
    telegram_token: str | None = None
    telegram_api_base: str = Field(default="https://api.telegram.org", description="Bot API server (tests: a fake).")
    telegram_secret: str | None = Field(default=None, description="X-Telegram-Bot-Api-Secret-Token of the webhook.")
    telegram_polling: bool = Field(default=False, description="getUpdates instead of the webhook (no public URL).")
    # WeChat Official Account (off unless APPID and TOKEN are set): GET|POST /wechat/oa.
    wechat_appid: str | None = None
    wechat_token: str | None = None
    wechat_aes_key: str | None = Field(default=None, description="EncodingAESKey: safe mode (加密模式).")
    wechat_appsecret: str | None = Field(default=None, description="For the customer-service API and QR codes.")
    wechat_api_base: str = "https://api.weixin.qq.com"
    replay_window_s: int = Field(default=300, ge=0, description="Callback timestamps older than this: 403 (0: off).")
    link_code_ttl_s: int = Field(
        default=24 * 3600, ge=60, description="How long a /bind or /iam code of `telegram-code` stays valid (once)."
    )
    # WeCom (off unless CORP_ID, TOKEN and AES_KEY are set): /wecom/aibot and /wecom/app.
    wecom_corp_id: str | None = None
    wecom_token: str | None = None
    wecom_aes_key: str | None = None
    wecom_secret: str | None = Field(default=None, description="The app's Secret: app messages and appchat.")
    wecom_agent_id: str | None = Field(default=None, description="The app's AgentId: pings to staff.")
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    # The city platform (12345, 接诉即办): pushes of case events, off unless a URL is set (then the secret is required).
    city_push_url: str | None = Field(default=None, description="POST every case event here (signed JSON); unset: off.")
    city_push_secret: str | None = Field(
        default=None, description="HMAC-SHA256 key of X-Gridbot-Signature (at least 16 characters)."
    )
    city_push_scope: str = Field(
        default="city", pattern="^(city|all)$", description="city: the platform's own cases only; all: every case."
    )
    city_push_attempts: int = Field(default=20, ge=1, le=100, description="Attempts before a push is a dead letter.")
    city_push_timeout_s: float = Field(default=5.0, gt=0, le=60, description="One POST is cut off after this.")
    city_push_interval_s: float = Field(default=1.0, gt=0, description="How often each process looks for due pushes.")
    # Routines, at Beijing time:
    checkin_remind_at: str = Field(
        default="16:00", pattern=r"^\d{1,2}:\d{2}$", description="报平安 reminder (Beijing)."
    )
    digest_at: str = Field(default="08:00", pattern=r"^\d{1,2}:\d{2}$", description="Daily digest to townships.")
    bulletin_day: int = Field(default=5, ge=1, le=28, description="Day of month of the monthly bulletin.")
    bulletin_at: str = Field(default="09:00", pattern=r"^\d{1,2}:\d{2}$")
    # The admin web (/admin): the first admin account, created at start-up when it does not exist yet.
    admin_user: str | None = Field(default=None, description="GRIDBOT_ADMIN_USER (with GRIDBOT_ADMIN_PASSWORD).")
    admin_password: str | None = Field(default=None, description="At least 8 characters; stored argon2-hashed.")
    admin_secure_cookies: bool | None = Field(
        default=None,
        description="Mark the admin web's cookies Secure (browsers send them over HTTPS only); unset: on, "
        "except in demo mode (GRIDBOT_DEMO, served over plain http://127.0.0.1).",
    )
    max_text: int = 2000
    pdf_font: Path = Field(
        default=Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
        description="The Chinese font embedded (as a subset) in PDF bulletins; Debian's fonts-wqy-zenhei (make setup).",
    )
    # What one web chat token (a sender in a chat) may upload per 24 h (0: no limit).
    media_quota_count: int = Field(default=50, ge=0, description="Photos per web chat token per 24 h.")
    media_quota_mb: int = Field(default=100, ge=0, description="Megabytes of photos per web chat token per 24 h.")
    loop_watchdog_ms: int = Field(
        default=1000, ge=0, description="Log the event loop's stack when blocked this long (0: off; at least 50)."
    )
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$", description="json: one object per line.")


def secure_cookies(settings: Settings) -> bool:
    """GRIDBOT_ADMIN_SECURE_COOKIES, by default on outside demo mode. A production admin web is served over
    HTTPS (README: nginx with TLS); a session cookie that could also travel over plain HTTP would leak to
    anyone on the path the first time a browser follows an http:// link. Turning it off is an explicit
    choice (a closed network without TLS); the demo runs on http://127.0.0.1 and needs it off."""
    return settings.admin_secure_cookies if settings.admin_secure_cookies is not None else not settings.demo


def api_token(settings: Settings) -> str:
    """The configured token, or one generated once into var/api_token (0600)."""
    if settings.api_token:
        return settings.api_token
    path = settings.var_dir / "api_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()
