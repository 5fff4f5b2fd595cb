#!/usr/bin/env python3
"""browser.py: drive a real headless Chromium for the web view's tests, over the DevTools
protocol on a pipe (--remote-debugging-pipe: no port, no extra library).  Reads commands
from stdin, one a line, and prints one answer line each:

    size W H            the window's size in CSS pixels
    goto URL            load URL (waits for its load event)
    wait SECONDS EXPR   poll the JavaScript EXPR until truthy (ok VALUE), or fail
    eval EXPR           ok VALUE (JSON)
    shot FILE           a PNG screenshot of the window
    key KEY             press a key (Tab, Enter) on the focused element

Answers are `ok JSON` or `fail WHY`.  Exits 2 when Chromium cannot start."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, exe):
        self.dir = tempfile.mkdtemp(prefix="etl-chromium-")
        to_r, to_w = os.pipe()      # we write commands, Chromium reads fd 3
        from_r, from_w = os.pipe()  # Chromium writes fd 4, we read

        def child():
            # out of the way first: either end may itself be 3 or 4
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        args = [exe, "--headless=new", "--remote-debugging-pipe", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                "--user-data-dir=" + self.dir, "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(args, preexec_fn=child, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.w = os.fdopen(to_w, "wb", buffering=0)
        self.r = os.fdopen(from_r, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.session = None
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"}, timeout=30)
        att = self.call("Target.attachToTarget", {"targetId": target["targetId"],
                                                   "flatten": True})
        self.session = att["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _read_msg(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            import select
            ready, _, _ = select.select([self.r], [], [], 0.2)
            if ready:
                chunk = self.r.read(65536)
                if not chunk:
                    raise EOFError("Chromium closed its pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, timeout=20):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            m["sessionId"] = self.session
        self.w.write(json.dumps(m).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_msg(deadline)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"].get("message", str(msg["error"])))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    del self.events[: i + 1]
                    return e
            self.events.append(self._read_msg(deadline))

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description", d.get("text")))
        return r.get("result", {}).get("value")

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    exe = os.environ.get("CHROMIUM", "chromium")
    try:
        b = Browser(exe)
    except Exception as e:  # noqa: BLE001 - any failure to start is reported as such
        print(f"fail chromium did not start: {e}", flush=True)
        return 2
    w, h = 1280, 800
    try:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            cmd, _, rest = line.partition(" ")
            try:
                if cmd == "size":
                    w, h = (int(x) for x in rest.split())
                    b.call("Emulation.setDeviceMetricsOverride", {
                        "width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 700})
                    out = [w, h]
                elif cmd == "goto":
                    b.events.clear()
                    nav = b.call("Page.navigate", {"url": rest})
                    if "errorText" in nav:
                        raise RuntimeError(nav["errorText"])
                    # a new document has a loader; a change of the #fragment does not
                    if nav.get("loaderId"):
                        b.wait_event("Page.loadEventFired", 20)
                    out = rest
                elif cmd == "wait":
                    secs, _, expr = rest.partition(" ")
                    end = time.monotonic() + float(secs)
                    while True:
                        v = b.eval(expr)
                        if v:
                            out = v
                            break
                        if time.monotonic() > end:
                            raise TimeoutError(f"not true in {secs} s: {expr} (last {v!r})")
                        time.sleep(0.1)
                elif cmd == "eval":
                    out = b.eval(rest)
                elif cmd == "shot":
                    r = b.call("Page.captureScreenshot", {"format": "png"})
                    with open(rest, "wb") as f:
                        f.write(base64.b64decode(r["data"]))
                    out = rest
                elif cmd == "key":
                    for t in ("keyDown", "keyUp"):
                        b.call("Input.dispatchKeyEvent", {
                            "type": t, "key": rest, "code": rest,
                            "windowsVirtualKeyCode": {"Tab": 9, "Enter": 13}.get(rest, 0)})
                    out = rest
                else:
                    raise ValueError(f"unknown command {cmd}")
                print("ok " + json.dumps(out, separators=(",", ":")), flush=True)
            except Exception as e:  # noqa: BLE001 - reported to the test, which decides
                print(f"fail {e}".replace("\n", " "), flush=True)
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
