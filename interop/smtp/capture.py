"""An aiosmtpd handler for the e-mail tests: each mail received is decoded
(MIME parts, transfer encodings) and written as one JSON file, named in
arrival order, into the directory given, which the tests read.

Run as: python -m aiosmtpd -n -l 127.0.0.1:PORT -c capture.Capture DIR
(with this folder on PYTHONPATH)."""

import email
import email.policy
import itertools
import json
import os


class Capture:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count()

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("Capture takes one argument: the directory to write mails to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        name = "%06d.json" % next(self.counter)
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        # Renamed whole, so a reader never sees half a mail.
        os.rename(tmp, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"
