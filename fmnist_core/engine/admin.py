"""The admin password that lets anyone's job be cancelled: off unless set in .streamlit/secrets.toml."""

from __future__ import annotations

import hmac
import tomllib
from pathlib import Path

from ..constants import PROJECT_DIR

ADMIN_SECRET_KEY = "jobs_admin_password"
SECRETS_FILE = PROJECT_DIR / ".streamlit" / "secrets.toml"


def configured_password(secrets: dict | None = None, path: Path = SECRETS_FILE) -> str | None:
    """The password from a secrets mapping (st.secrets in the app) or the secrets file; None = admin off."""
    if secrets is None:
        try:
            secrets = tomllib.loads(path.read_text())
        except (FileNotFoundError, tomllib.TOMLDecodeError):
            return None
    value = secrets.get(ADMIN_SECRET_KEY)
    return str(value) if value else None


def check_password(given: str | None, configured: str | None) -> bool:
    """Constant-time comparison; always False while no password is configured (admin off)."""
    if not configured or not given:
        return False
    return hmac.compare_digest(given.encode(), configured.encode())
