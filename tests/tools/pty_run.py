#!/usr/bin/env python3
"""pty_run: run a command on a pseudo-terminal of ROWS x COLS for SECONDS, then type
"q", and print what it drew.  Usage: pty_run.py ROWS COLS SECONDS COMMAND [ARGS...].
For tests of full-screen views (etl top) in a small window."""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


def main():
    rows, cols, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[4], sys.argv[4:])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, 28)	# SIGWINCH: the size is set after the child started
    out = b""
    end = time.monotonic() + secs
    quit_sent = False
    while True:
        left = end - time.monotonic()
        if left <= 0 and not quit_sent:
            os.write(fd, b"q")
            quit_sent = True
            end = time.monotonic() + 5
            continue
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], min(left, 0.2))
        if r:
            try:
                b = os.read(fd, 65536)
            except OSError:
                break
            if not b:
                break
            out += b
    os.waitpid(pid, 0)
    sys.stdout.write(out.decode("utf-8", "replace"))


main()
