"""Delivery against real servers on 127.0.0.1: aiosmtpd (plain SMTP, and STARTTLS with a self-signed
certificate made here with the openssl CLI, plus AUTH), and an HTTP receiver for the webhook.
Failures are retried a bounded number of times with backoff, logged, and never raised."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from memmoat.cli import main
from memmoat.config import EmailSettings, ReportSettings, WebhookSettings
from reports import deliver
from tests.reports import fixture
from tests.reports.fixture import Built
from tests.support.servers import free_port


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return fixture.shared(tmp_path_factory)


# -- servers ----------------------------------------------------------------------------------


class Sink:
    """aiosmtpd handler keeping every message with how it arrived."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.got.append({
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        })  # fmt: skip
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"reporter" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_plain() -> Iterator[tuple[int, Sink]]:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield ctl.port, sink
    finally:
        ctl.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("no openssl CLI to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return d / "cert.pem", d / "key.pem"


@pytest.fixture
def smtp_tls(cert: tuple[Path, Path]) -> Iterator[tuple[int, Sink]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    sink = Sink()
    ctl = Controller(
        sink, hostname="127.0.0.1", port=free_port(), tls_context=ctx, require_starttls=True,
        authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    ctl.start()
    try:
        yield ctl.port, sink
    finally:
        ctl.stop()


class Receiver:
    """An HTTP server that answers POSTs with the next status of a script and keeps the bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[Any] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                status = outer.statuses.pop(0) if outer.statuses else 200
                body = b"ok" if status == 200 else b"no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T000/B000/secret"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([])
    yield r
    r.close()


def message(built: Built) -> deliver.Message:
    folder = built.report_dir
    return deliver.Message(
        subject="memmoat 2026-01-02",
        html=(folder / "report.html").read_text(),
        text="summary",
        attachments=[folder / "summary.json", folder / "cost_by_namespace.csv"],
        webhook_payload={"text": "memmoat 2026-01-02", "blocks": []},
    )


def html_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


# -- tests ------------------------------------------------------------------------------------------


def test_done_when_report_command_sends_the_html_by_email_and_webhook(
    built: Built, smtp_plain: tuple[int, Sink], receiver: Receiver
) -> None:
    """`memmoat report --date D --send`: the email arrives at the local SMTP server with the HTML body."""
    port, sink = smtp_plain
    config = built.folder / "memmoat-send.toml"
    config.write_text(
        fixture.CONFIG.replace('output_dir = "reports"', 'output_dir = "reports-sent"')
        + f"""
[report.email]
smtp_host = "127.0.0.1"
smtp_port = {port}
starttls = false
sender = "memmoat@example.org"
recipients = ["oncall@example.org", "finance@example.org"]

[report.webhook]
url = "{receiver.url}"
"""
    )
    res = CliRunner().invoke(main, ["--config", str(config), "report", "--date", "2026-01-02", "--send"])
    assert res.exit_code == 0, res.output
    assert "email: sent" in res.output and "webhook: sent" in res.output
    (got,) = sink.got
    assert got["to"] == ["oncall@example.org", "finance@example.org"] and not got["tls"]
    msg = got["message"]
    assert msg["Subject"].startswith("memmoat 2026-01-02: $15.75 per 1M output tokens (−21.1% vs previous day)")
    folder = built.folder / "reports-sent" / "2026-01-02"
    assert html_part(msg).replace("\r\n", "\n").strip() == (folder / "report.html").read_text().strip()
    assert "$1.575" in html_part(msg)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "$ per 1M output tokens: $15.75" in text
    names = {p.get_filename() for p in msg.iter_attachments()}
    assert {"summary.json", "cost_by_namespace.csv", "bottlenecks.csv"} <= names
    (payload,) = receiver.bodies
    assert payload["text"] == msg["Subject"]
    assert payload["blocks"][0]["type"] == "header"
    ledger = json.loads((built.folder / "reports-sent" / "ledger.json").read_text())
    assert [d["ok"] for d in ledger["made"]["2026-01-02"]["delivery"]] == [True, True]


def test_starttls_with_self_signed_certificate_and_login(
    built: Built, smtp_tls: tuple[int, Sink], cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, sink = smtp_tls
    monkeypatch.setenv("MM_SMTP_USER", "reporter")
    monkeypatch.setenv("MM_SMTP_PASS", "s3cret")
    cfg = EmailSettings(
        smtp_host="127.0.0.1", smtp_port=port, starttls=True, ca_file=str(cert[0]), sender="memmoat@example.org",
        recipients=["oncall@example.org"], username_env="MM_SMTP_USER", password_env="MM_SMTP_PASS",
    )  # fmt: skip
    deliver.send_email(cfg, message(built))
    (got,) = sink.got
    assert got["tls"] and got["authenticated"]  # logged in and sent over the upgraded connection
    assert "<h1" in html_part(got["message"])


def test_untrusted_certificate_fails_at_once_and_is_not_raised(
    built: Built, smtp_tls: tuple[int, Sink], caplog: pytest.LogCaptureFixture
) -> None:
    port, sink = smtp_tls
    cfg = EmailSettings(smtp_host="127.0.0.1", smtp_port=port, sender="m@example.org", recipients=["o@example.org"])
    report = ReportSettings(email=cfg, delivery_attempts=3, delivery_backoff_seconds=0.01)
    sleeps: list[float] = []
    (out,) = deliver.deliver(report, message(built), sleep=sleeps.append)
    assert (out.channel, out.ok, out.attempts) == ("email", False, 1)  # retrying cannot fix a certificate
    assert "certificate not trusted" in (out.error or "") and sleeps == []
    assert sink.got == []
    assert "report email failed" in caplog.text


def test_plain_server_refusing_starttls_is_not_sent_in_clear(built: Built, smtp_plain: tuple[int, Sink]) -> None:
    port, sink = smtp_plain
    cfg = EmailSettings(smtp_host="127.0.0.1", smtp_port=port, sender="m@example.org", recipients=["o@example.org"])
    with pytest.raises(deliver.PermanentDeliveryError, match="does not offer STARTTLS"):
        deliver.send_email(cfg, message(built))
    assert sink.got == []


def test_unreachable_server_is_retried_with_backoff_then_given_up(
    built: Built, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = EmailSettings(
        smtp_host="127.0.0.1", smtp_port=free_port(), starttls=False, sender="m@example.org",
        recipients=["o@example.org"], timeout_seconds=5,
    )  # fmt: skip
    report = ReportSettings(email=cfg, delivery_attempts=3, delivery_backoff_seconds=0.01)
    sleeps: list[float] = []
    (out,) = deliver.deliver(report, message(built), sleep=sleeps.append)
    assert (out.ok, out.attempts) == (False, 3)
    assert sleeps == [0.01, 0.02]  # exponential backoff, bounded
    assert "ConnectionRefusedError" in (out.error or "")
    assert "retrying in" in caplog.text and "failed after 3 attempt(s)" in caplog.text


def test_webhook_retries_server_errors_and_stops_on_client_errors(built: Built, receiver: Receiver) -> None:
    hook = WebhookSettings(url=receiver.url)
    report = ReportSettings(webhook=hook, delivery_attempts=4, delivery_backoff_seconds=0.01)
    receiver.statuses[:] = [500, 503]
    sleeps: list[float] = []
    (out,) = deliver.deliver(report, message(built), sleep=sleeps.append)
    assert (out.ok, out.attempts, sleeps) == (True, 3, [0.01, 0.02])
    assert len(receiver.bodies) == 3 and receiver.bodies[-1]["text"] == "memmoat 2026-01-02"
    receiver.statuses[:] = [404]
    (out,) = deliver.deliver(report, message(built), sleep=sleeps.append)
    assert (out.ok, out.attempts) == (False, 1)
    assert "HTTP 404" in (out.error or "") and "secret" not in (out.error or "")  # the URL's path is not logged


def test_webhook_url_from_the_environment(built: Built, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_HOOK", receiver.url)
    deliver.post_webhook(WebhookSettings(url_env="MM_HOOK"), {"text": "hi"})
    assert receiver.bodies == [{"text": "hi"}]


def test_failed_delivery_keeps_the_report_and_exits_non_zero(built: Built) -> None:
    config = built.folder / "memmoat-dead.toml"
    config.write_text(
        fixture.CONFIG.replace('output_dir = "reports"', 'output_dir = "reports-dead"')
        + f'\n[report.webhook]\nurl = "http://127.0.0.1:{free_port()}/hook"\n'
    )
    res = CliRunner().invoke(main, ["--config", str(config), "report", "--date", "2026-01-02", "--send"])
    assert res.exit_code == 1
    assert "webhook: FAILED after 2 attempt(s)" in res.output and "Delivery failed" in res.stderr
    assert (built.folder / "reports-dead" / "2026-01-02" / "report.html").exists()


def test_refused_login_is_not_retried(
    built: Built, smtp_tls: tuple[int, Sink], cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, sink = smtp_tls
    monkeypatch.setenv("MM_SMTP_USER", "reporter")
    monkeypatch.setenv("MM_SMTP_PASS", "wrong")
    cfg = EmailSettings(
        smtp_host="127.0.0.1", smtp_port=port, ca_file=str(cert[0]), sender="m@example.org",
        recipients=["o@example.org"], username_env="MM_SMTP_USER", password_env="MM_SMTP_PASS",
    )  # fmt: skip
    report = ReportSettings(email=cfg, delivery_attempts=3, delivery_backoff_seconds=0.01)
    (out,) = deliver.deliver(report, message(built), sleep=lambda s: None)
    assert (out.ok, out.attempts) == (False, 1) and "535" in (out.error or "")
    assert sink.got == []
