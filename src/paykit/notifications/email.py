"""``EmailNotifier``: the events as e-mails, rendered with Jinja2, sent with smtplib.

Needs the ``email`` extra (``pip install 'paykit[email]'``). Templates ship in
the package (``paykit/notifications/templates``): for an event of kind ``k``,
``k.subject.txt``, ``k.txt`` and ``k.html`` (optional). A host overrides or
adds templates by passing ``template_dirs``, searched before paykit's own.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from ssl import SSLContext, create_default_context
from typing import Any

from paykit._arguments import checked
from paykit.notifications.events import Event

__all__ = ["EmailNotifier"]

log = logging.getLogger("paykit.notifications")


class EmailNotifier:
    """Renders each event's e-mail (text and HTML) and sends it through an SMTP server.

    An event without a recipient address, or whose kind has no template, is
    skipped (logged at debug level). ``context`` is passed to every template
    (the shop's name, its URL...). Sending raises on an SMTP error: wrap the
    notifier in ``BackgroundNotifier`` so a slow or failing server never holds
    up a request, and so failures are logged and counted there.
    """

    @checked
    def __init__(
        self,
        *,
        sender: str,
        host: str = "localhost",
        port: int = 25,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        ssl_context: SSLContext | None = None,
        template_dirs: Iterable[str | Path] = (),
        context: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            import jinja2
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("EmailNotifier needs Jinja2: pip install 'paykit[email]'") from exc
        self.sender = sender
        self.host = host
        self.port = port
        self.timeout = timeout
        self.starttls = starttls
        self.username = username
        self.password = password
        self.ssl_context = ssl_context
        self.context = dict(context or {})
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(list(template_dirs))]
        loaders.append(jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")))
        self._text = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._html = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._missing = jinja2.TemplateNotFound

    def render(self, event: Event) -> EmailMessage | None:
        """The message for ``event``, or ``None`` if it has no recipient or template."""
        if not event.email:
            log.debug("%s has no recipient; no e-mail", event.kind)
            return None
        values = {**self.context, **asdict(event), "kind": event.kind, "event": event}
        try:
            subject = self._text.get_template(f"{event.kind}.subject.txt").render(values)
            text = self._text.get_template(f"{event.kind}.txt").render(values)
        except self._missing:
            log.debug("no e-mail template for %s", event.kind)
            return None
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = event.email
        message["Subject"] = " ".join(subject.split())  # one line, no header injection
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(text)
        try:
            html = self._html.get_template(f"{event.kind}.html").render(values)
        except self._missing:
            return message
        message.add_alternative(html, subtype="html")
        return message

    def send(self, event: Event) -> None:
        """Render and send ``event``'s e-mail; raises on an SMTP failure."""
        message = self.render(event)
        if message is None:
            return
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=self.ssl_context or create_default_context())
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
