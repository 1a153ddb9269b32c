"""A stand-in app for end-to-end tests (stdlib only). Behaviour from the environment:

PORT                 listen on 127.0.0.1:PORT, answer /healthz with 200 (and / with the instance id)
APP_MODE             healthy (default) | never-healthy (answers 503) | crash (exits 3 at once) | no-listen
APP_IDS_FILE         write "uid gid groups" of the process there at start
APP_STARTS_FILE      append one line per start (to count restarts)
APP_CHATTER          print N numbered lines per second ("chatter-00000042") until stopped
Prints one line per start and per request to stdout, and one line to stderr at start.
"""
import http.server
import os
import signal
import sys

mode = os.environ.get("APP_MODE", "healthy")
port = int(os.environ.get("PORT", "8080"))

if os.environ.get("APP_IDS_FILE"):
    with open(os.environ["APP_IDS_FILE"], "w") as f:
        f.write(f"{os.getuid()} {os.getgid()} {' '.join(map(str, os.getgroups()))}\n")
if os.environ.get("APP_STARTS_FILE"):
    with open(os.environ["APP_STARTS_FILE"], "a") as f:
        f.write(f"{os.getpid()}\n")

print(f"test app starting mode={mode} port={port} instance={os.environ.get('CLOCK_INSTANCE_ID')} "
      f"az={os.environ.get('CLOCK_AZ')} region={os.environ.get('CLOCK_REGION')}", flush=True)
print("test app stderr line", file=sys.stderr, flush=True)

if mode == "crash":
    sys.exit(3)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            status = 503 if mode == "never-healthy" else 200
        else:
            status = 200
        body = f"instance={os.environ.get('CLOCK_INSTANCE_ID')}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("request " + fmt % args, flush=True)


def stop(signum, frame):
    print("test app got SIGTERM", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)

if os.environ.get("APP_CHATTER"):
    import threading
    import time

    def chatter(rate):
        n = 0
        started = time.monotonic()
        while True:
            due = int((time.monotonic() - started) * rate) + 1
            while n < due:
                print(f"chatter-{n:08d}", flush=True)
                n += 1
            time.sleep(0.005)

    threading.Thread(target=chatter, args=(int(os.environ["APP_CHATTER"]),), daemon=True).start()
if mode == "no-listen":
    signal.pause()
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
server.serve_forever()
