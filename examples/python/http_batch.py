"""A sink posting JSON batches to an HTTP endpoint (an in-house collector).

Takes every upstream key (ULOGD_DTYPE_WILDCARD), turns each event into a JSON
object (addresses as text, raw bytes as hex), and POSTs a JSON array of up to
`batch` events to `url`; what is left is posted at shutdown. A failed post is
logged and the batch dropped (the daemon never blocks on the collector for
longer than `timeout` seconds).

    stack=log1:NFLOG,base1:BASE,post1:PYTHON
    [post1]
    module="http_batch"
    path_append="examples/python"
    url="http://127.0.0.1:8080/events"
    batch="100"
"""
import ipaddress
import json
import urllib.request

import ulogd

CONFIG = globals().get("ULOGD_CONFIG", {})
URL = CONFIG.get("url", "http://127.0.0.1:8080/events")
BATCH = int(CONFIG.get("batch", "100"))
TIMEOUT = float(CONFIG.get("timeout", "2"))
pending = []
stats = {"posted": 0, "failed": 0}


def configure(ikeys, okeys):
    ikeys.type = ulogd.ULOGD_DTYPE_PACKET | ulogd.ULOGD_DTYPE_WILDCARD
    okeys.type = ulogd.ULOGD_DTYPE_SINK
    return 0


def start(ikset):
    return 0


def plain(v):
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def post():
    if not pending:
        return
    body = json.dumps(pending).encode()
    req = urllib.request.Request(URL, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            r.read()
        stats["posted"] += len(pending)
    except OSError as e:
        stats["failed"] += len(pending)
        ulogd.log(ulogd.ULOGD_ERROR, "http_batch: POST %s failed: %s (%d events lost)"
                  % (URL, e, len(pending)))
    pending.clear()


def interp(ikset, okset):
    pending.append({k.name: plain(k.value) for k in ikset if k.is_valid()})
    if len(pending) >= BATCH:
        post()
    return ulogd.ULOGD_IRET_OK


def stop():
    post()
    return 0


def signal(signo):
    return 0
