#!/usr/bin/python3
"""py_task: an etl task in Python on etl_task, for the tests; what it does is its
payload's "mode": sync, async, final_event, dispatch, events, exact, bad, retry, crash,
many (100 progress reports, an event, one more report: the stream's order)."""
import asyncio

import etl_task


async def later(n):
    await asyncio.sleep(0.1)
    return {"waited": True, "n": n}


def main(initial, etl):
    p = initial.get("payload") or {}
    mode = p.get("mode")
    if mode == "sync":
        return {"doubled": p["n"] * 2}
    if mode == "async":
        return later(p["n"])
    if mode == "final_event":
        return {"type": "py_task:FINAL", "payload": {"as": "is"}}
    if mode == "dispatch":
        etl.dispatch(":FINAL", {"dispatched": True})
        return None
    if mode == "events":
        for i in range(1, 4):
            etl.progress(i, 3, f"step {i}")
            etl.dispatch(":ROW", {"i": i})
        return {"rows": 3}
    if mode == "many":
        for i in range(1, 101):
            etl.progress(i, 100, f"p{i}", force=True)
        etl.dispatch(":MID", {"after": 100})
        etl.progress(1, 1, "after the event")
        return {"reports": 101}
    if mode == "exact":
        return {"x": p["x"], "n": p["n"]}
    if mode == "bad":
        raise etl_task.BadInput("n must be a number")
    if mode == "retry":
        raise etl_task.Retry("not yet")
    if mode == "crash":
        raise RuntimeError("boom")
    raise etl_task.BadInput(f"unknown mode {mode}")


etl_task.run(main)
