"""A webhook receiver for tests/webhooks.rs, as an app backend would write
one with nothing but the standard library.

It checks X-Signature (hex HMAC-SHA256 of the raw body with the API
secret, compared in constant time), records every request it gets as one
JSON line in LOG (appended and flushed at once, so a receiver killed and
started again keeps one record), and answers:
- /hook: 500 to the first three attempts of every event whose id is
  divisible by 5, 200 otherwise;
- /reject: 400 until the file LOG.accept exists, then 200;
- 401 to a request whose signature does not verify.

Usage: python3 webhook_receiver.py PORT SECRET LOG
Prints "listening" once it accepts connections.
"""

import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRET, LOG = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
lock = threading.Lock()


def answer(path, event, attempt, signed):
    if not signed:
        return 401
    if path == "/hook":
        failing = int(event["id"]) % 5 == 0 and attempt <= 3
        return 500 if failing else 200
    if path == "/reject":
        return 200 if os.path.exists(LOG + ".accept") else 400
    return 404


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, self.headers.get("X-Signature", ""))
        event = json.loads(body)
        attempt = int(self.headers["X-Webhook-Attempt"])
        status = answer(self.path, event, attempt, signed)
        record = {
            "path": self.path,
            "webhook_id": self.headers["X-Webhook-Id"],
            "attempt": attempt,
            "api_key": self.headers.get("X-Api-Key"),
            "content_type": self.headers.get("Content-Type"),
            "signed": signed,
            "status": status,
            "at": time.time(),
            "event": event,
        }
        with lock, open(LOG, "a") as log:
            log.write(json.dumps(record) + "\n")
            log.flush()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("listening", flush=True)
server.serve_forever()
