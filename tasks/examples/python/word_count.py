#!/usr/bin/env python3
"""word_count: an etl task in Python with only the standard library.

Reads its INITIAL event from stdin ({"payload": {"text": "..."}}), records progress with
`etl progress` and its result with `etl dispatch :FINAL`, as any language can.
Exit 65 on bad input (no retry), 0 when done.
"""
import json
import subprocess
import sys


def etl(*args):
    subprocess.run(["etl", *args], check=True, stdout=subprocess.DEVNULL)


def main():
    initial = json.load(sys.stdin)
    text = (initial.get("payload") or {}).get("text")
    if not isinstance(text, str):
        print("word_count wants {\"text\": \"...\"}", file=sys.stderr)
        return 65
    lines = text.splitlines() or [""]
    counts = {}
    for i, line in enumerate(lines, 1):
        for word in line.split():
            counts[word.lower()] = counts.get(word.lower(), 0) + 1
        etl("progress", str(i), str(len(lines)), "counting")
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    etl("dispatch", ":FINAL", json.dumps({"words": sum(counts.values()), "top": top}))
    print("counted %d words" % sum(counts.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
