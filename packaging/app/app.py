"""The web clock: a page with the current time, the instance id and the availability zone, and /healthz.

clock-agent runs it from the release directory with PORT, CLOCK_INSTANCE_ID, CLOCK_AZ and CLOCK_REGION set and
captures its stdout/stderr (the request log below) for CloudWatch Logs.
"""
import datetime
import html
import logging
import os
import signal
import sys

from flask import Flask, jsonify

app = Flask(__name__)
INSTANCE = os.environ.get("CLOCK_INSTANCE_ID", "unknown")
ZONE = os.environ.get("CLOCK_AZ", "unknown")
REGION = os.environ.get("CLOCK_REGION", "unknown")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>web clock</title>
<meta http-equiv="refresh" content="1">
<style>body{{font-family:sans-serif;text-align:center;margin-top:15vh}} .t{{font-size:4em}}</style></head>
<body><div class="t">{time}</div><p>served by <b>{instance}</b> in {zone} ({region})</p></body></html>
"""


@app.get("/")
def clock():
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return PAGE.format(time=html.escape(now), instance=html.escape(INSTANCE), zone=html.escape(ZONE),
                       region=html.escape(REGION))


@app.get("/healthz")
def healthz():
    return jsonify(status="ok", instance=INSTANCE)


def main():
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    port = int(os.environ.get("PORT", "8080"))
    print(f"web clock starting on port {port} (instance {INSTANCE}, {ZONE})", flush=True)

    def stop(signum, frame):
        print("web clock stopping", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    # HOST: 0.0.0.0 behind the load balancer; the local demo and the tests set 127.0.0.1.
    app.run(host=os.environ.get("HOST", "0.0.0.0"), port=port)


if __name__ == "__main__":
    main()
