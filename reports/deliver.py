"""Send a finished report: email over SMTP and a Slack-compatible webhook.

Both are optional ([report.email], [report.webhook]). Each channel is tried a bounded number of
times (``report.delivery_attempts``) with exponential backoff (``delivery_backoff_seconds``, then
twice as long, ...); errors that another try cannot fix (authentication refused, recipient
refused, HTTP 4xx other than 408/429) stop at once. :func:`deliver` never raises: every outcome
is logged and returned, so a broken mail relay never stops the collector.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import httpx

from memmoat.config import EmailSettings, ReportSettings, WebhookSettings
from memmoat.errors import DeliveryError

log = logging.getLogger("memmoat.report.delivery")


class PermanentDeliveryError(DeliveryError):
    """A failure that a retry cannot fix (bad credentials, refused recipient, HTTP 4xx)."""


@dataclass(frozen=True)
class Message:
    """What every channel sends: a subject, the HTML report, a plain-text summary, attachments."""

    subject: str
    html: str
    text: str
    attachments: Sequence[Path] = ()
    webhook_payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    channel: str  # email | webhook
    ok: bool
    attempts: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "attempts": self.attempts, "error": self.error}


def retry(
    channel: str,
    send: Callable[[], None],
    *,
    attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Call ``send`` until it succeeds, at most ``attempts`` times, waiting backoff_s x 2^(n-1)."""
    error = ""
    for n in range(1, attempts + 1):
        try:
            send()
        except PermanentDeliveryError as exc:
            log.error("report %s failed (attempt %d of %d, not retried): %s", channel, n, attempts, exc.message)
            return Outcome(channel, False, n, exc.message)
        except DeliveryError as exc:
            error = exc.message
            if n < attempts:
                wait = backoff_s * 2 ** (n - 1)
                log.warning(
                    "report %s failed (attempt %d of %d), retrying in %.3g s: %s", channel, n, attempts, wait, error
                )
                sleep(wait)
                continue
            log.error("report %s failed after %d attempt(s): %s", channel, n, error)
        else:
            log.info("report %s sent (attempt %d)", channel, n)
            return Outcome(channel, True, n)
    return Outcome(channel, False, attempts, error)


# -- email ------------------------------------------------------------------------------------


def build_email(cfg: EmailSettings, msg: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = msg.subject
    mail["From"] = cfg.sender
    mail["To"] = ", ".join(cfg.recipients)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="memmoat.local")
    mail.set_content(msg.text)
    mail.add_alternative(msg.html, subtype="html")
    if cfg.attach_tables:
        for path in msg.attachments:
            data = path.read_bytes()
            if path.suffix == ".json":
                mail.add_attachment(data, maintype="application", subtype="json", filename=path.name)
            elif path.suffix == ".csv":
                mail.add_attachment(data, maintype="text", subtype="csv", filename=path.name)
            else:
                mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=path.name)
    return mail


def _credentials(cfg: EmailSettings) -> tuple[str, str] | None:
    import os

    if not cfg.username_env:
        return None
    user = os.environ.get(cfg.username_env)
    password = os.environ.get(cfg.password_env or "", "")
    if user is None:
        raise PermanentDeliveryError(
            f"environment variable {cfg.username_env!r} is not set", hint="export it before starting memmoat"
        )
    return user, password


def send_email(cfg: EmailSettings, msg: Message, *, base_dir: Path | None = None) -> None:
    """One attempt. Raises DeliveryError (PermanentDeliveryError when retrying cannot help)."""
    where = f"{cfg.smtp_host}:{cfg.smtp_port}"
    creds = _credentials(cfg)
    mail = build_email(cfg, msg)
    try:
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds) as smtp:
            smtp.ehlo()
            if cfg.starttls:
                if not smtp.has_extn("starttls"):
                    raise PermanentDeliveryError(
                        f"SMTP server {where} does not offer STARTTLS",
                        hint="set report.email.starttls = false only for a trusted relay",
                    )
                ca = None
                if cfg.ca_file:
                    ca = (
                        str(base_dir / cfg.ca_file) if base_dir and not Path(cfg.ca_file).is_absolute() else cfg.ca_file
                    )
                smtp.starttls(context=ssl.create_default_context(cafile=ca))
                smtp.ehlo()
            if creds:
                smtp.login(*creds)
            refused = smtp.send_message(mail)
            if refused:
                raise PermanentDeliveryError(f"SMTP server {where} refused recipient(s): {', '.join(refused)}")
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise PermanentDeliveryError(f"SMTP server {where}: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        err = PermanentDeliveryError if 500 <= exc.smtp_code < 600 else DeliveryError
        raise err(f"SMTP server {where} answered {exc.smtp_code} {text}") from None
    except ssl.SSLCertVerificationError as exc:
        raise PermanentDeliveryError(
            f"SMTP server {where}: TLS certificate not trusted ({exc.verify_message})",
            hint="set report.email.ca_file to the CA that signed it",
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP server {where}: {type(exc).__name__}: {exc}") from None


# -- webhook ------------------------------------------------------------------------------------


def post_webhook(cfg: WebhookSettings, payload: dict[str, Any]) -> None:
    url = cfg.resolved_url()
    if not url:
        raise PermanentDeliveryError(f"environment variable {cfg.url_env!r} is not set")
    u = httpx.URL(url)
    shown = f"{u.scheme}://{u.host}{f':{u.port}' if u.port else ''}/…"  # the path is often the secret
    try:
        resp = httpx.post(
            url,
            content=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            timeout=cfg.timeout_seconds,
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {shown}: {type(exc).__name__}: {exc}") from None
    if resp.status_code >= 300:
        body = resp.text[:200]
        err = DeliveryError if resp.status_code >= 500 or resp.status_code in (408, 429) else PermanentDeliveryError
        raise err(f"webhook {shown} answered HTTP {resp.status_code}: {body}")


# -- both -----------------------------------------------------------------------------------------


def deliver(
    report: ReportSettings,
    msg: Message,
    *,
    base_dir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Send on every configured channel; never raises."""
    out: list[Outcome] = []
    kw = {"attempts": report.delivery_attempts, "backoff_s": report.delivery_backoff_seconds, "sleep": sleep}
    for channel, send in _channels(report, msg, base_dir):
        try:
            out.append(retry(channel, send, **kw))  # type: ignore[arg-type]
        except Exception as exc:  # a bug in a channel must not stop the collector either
            log.exception("report %s failed", channel)
            out.append(Outcome(channel, False, 0, f"{type(exc).__name__}: {exc}"))
    return out


def _channels(report: ReportSettings, msg: Message, base_dir: Path | None) -> list[tuple[str, Callable[[], None]]]:
    chans: list[tuple[str, Callable[[], None]]] = []
    email, hook = report.email, report.webhook
    if email is not None:
        chans.append(("email", lambda: send_email(email, msg, base_dir=base_dir)))
    if hook is not None:
        payload = msg.webhook_payload or {"text": msg.text}
        chans.append(("webhook", lambda: post_webhook(hook, payload)))
    return chans
