"""etl_task: the glue for etl tasks in Python, in the shape of DAMA's tasks (and of the
Node.js package etl-task).  A task file ends with

    import etl_task
    etl_task.run(main)          # main(initial, etl) -> payload; def or async def

run() reads the INITIAL event from stdin, calls main with it and a handle whose
dispatch() and progress() record events and progress in the task's own run (through the
`etl` command, which proves the run with the secret the controller handed over), and
ends the task:
  - main returned a FINAL event ({"type": "T:FINAL", "payload": P}): recorded as it is;
  - main returned anything else (not None): recorded as the FINAL's payload;
  - main dispatched its FINAL itself, or returned None: nothing more (an exit 0 without
    a FINAL is recorded by the controller as FINAL null);
  - main raised: an ERROR with the message, and exit 65 for BadInput (not retried), 75
    for Retry (retried), 1 otherwise.
With --debug-wait (ETL_DEBUG_WAIT=1) the task listens for a debugger (debugpy, the
Debug Adapter Protocol of VS Code and others) on 127.0.0.1, says where in its log and its
job's progress, and waits for one.  Numbers in the INITIAL stay exact (integers are
Python ints; decimals are read as decimal.Decimal).
"""
import asyncio
import decimal
import inspect
import json
import os
import re
import subprocess
import sys
import time
import traceback

__all__ = ["run", "dispatch", "progress", "dumps", "Step", "run_steps", "BadInput", "Retry"]


class BadInput(Exception):
    """Raised: the job fails for good (exit 65)."""
    exit_code = 65


class Retry(Exception):
    """Raised: the job is retried (exit 75)."""
    exit_code = 75


_ETL = os.environ.get("ETL_BIN", "etl")
_state = {"finaled": False, "last_progress": 0.0, "stream": None, "no_stream": False}


def _stream_close():
    """Wait until every progress report written to the stream is recorded (before an
    event, so that events stay in the order they were made)."""
    p = _state["stream"]
    if p is None:
        return
    _state["stream"] = None
    try:
        p.stdin.close()
    except OSError:
        pass
    if p.wait() != 0:
        print("etl_task: some progress reports were not recorded (see above)",
              file=sys.stderr, flush=True)


def _stream_write(line):
    """Send a progress report to `etl progress --stream` (started once: a pipe write
    instead of a process and a connection per report); False if it cannot take it."""
    if _state["no_stream"]:
        return False
    if _state["stream"] is None:
        try:
            _state["stream"] = subprocess.Popen([_ETL, "progress", "--stream"],
                                                stdin=subprocess.PIPE,
                                                stdout=subprocess.DEVNULL, text=True)
        except OSError:
            _state["no_stream"] = True
            return False
    try:
        _state["stream"].stdin.write(line + "\n")
        _state["stream"].stdin.flush()
        return True
    except (OSError, ValueError):
        _state["no_stream"] = True
        _stream_close()
        return False


def _etl(args, data=None):
    subprocess.run([_ETL, *args], input=data, check=True, stdout=subprocess.DEVNULL,
                   text=True)


def _dumps(v):
    """JSON text of v, decimals written as the numbers they are (no float on the way)."""
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            raise ValueError(f"not a JSON number: {v}")
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(str(k)) + ": " + _dumps(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_dumps(x) for x in v) + "]"
    return json.dumps(v, allow_nan=False)


def dispatch(type_, payload=None):
    """Record event type_ (':NAME' takes the task's name) with payload."""
    _stream_close()
    _etl(["dispatch", type_, "-"], _dumps(payload))
    if type_.endswith(":FINAL"):
        _state["finaled"] = True


def progress(done, total, message=None, force=False):
    """Record progress: at most four a second, but the last step (or force) always."""
    now = time.monotonic()
    if done < total and not force and now - _state["last_progress"] < 0.25:
        return
    _state["last_progress"] = now
    args = ["progress", str(done), str(total)]
    if message is not None:
        args.append(str(message))
    line = " ".join(args[1:3]) + ("" if message is None else " " + " ".join(str(message).split()))
    if not _stream_write(line):
        _etl(args)


class _Handle:
    dispatch = staticmethod(dispatch)
    progress = staticmethod(progress)

    def __init__(self, text):
        self.initial_text = text
        self.context_id = os.environ.get("ETL_CONTEXT_ID")
        self.job_id = os.environ.get("ETL_JOB_ID")
        self.task = os.environ.get("ETL_TASK")


def _is_final_event(r):
    return (isinstance(r, dict) and isinstance(r.get("type"), str)
            and r["type"].endswith(":FINAL")
            and set(r) <= {"type", "payload", "meta"})


def _debug_wait():
    if os.environ.get("ETL_DEBUG_WAIT") != "1":
        return
    try:
        import debugpy
    except ImportError:
        print("etl_task: --debug-wait needs debugpy (Debian: python3-debugpy); going on",
              file=sys.stderr, flush=True)
        return
    host, port = debugpy.listen(("127.0.0.1", 0))
    msg = f"waiting for debugger: debugpy on {host}:{port} (Debug Adapter Protocol)"
    print(msg, file=sys.stderr, flush=True)
    try:
        _etl(["progress", "0", "0", msg])
    except (OSError, subprocess.CalledProcessError):
        pass
    debugpy.wait_for_client()
    print("debugger attached", file=sys.stderr, flush=True)


def run(main):
    """Run main(initial, etl) as the task and exit with its status."""
    code = 0
    try:
        text = sys.stdin.read()
        # nothing, or a text cut short: its controller died before or while handing the
        # INITIAL over (etl-task(7)): do nothing, exit 75, and the job is tried again
        if not text.strip():
            sys.stderr.write("no INITIAL event on stdin (empty): its controller died "
                             "before handing it over?\n")
            sys.exit(75)
        try:
            initial = json.loads(text, parse_float=decimal.Decimal)
        except json.JSONDecodeError as e:
            if e.pos >= len(text.rstrip()):
                sys.stderr.write(f"the INITIAL event on stdin is cut short ({e}): its "
                                 "controller died while handing it over?\n")
                sys.exit(75)
            raise BadInput(f"the INITIAL event is not JSON: {e}") from e
        _debug_wait()
        result = main(initial, _Handle(text))
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        if not _state["finaled"] and result is not None:
            if _is_final_event(result):
                dispatch(result["type"], result.get("payload"))
            else:
                dispatch(":FINAL", result)
    except Exception as e:  # noqa: BLE001 - every failure is the task's end, recorded
        code = getattr(e, "exit_code", 1)
        traceback.print_exc()
        try:
            dispatch(":ERROR", {"message": str(e) or type(e).__name__,
                                "name": type(e).__name__, "exit_status": code})
        except (OSError, subprocess.CalledProcessError) as e2:
            print(f"etl_task: could not record the error: {e2}", file=sys.stderr)
    try:
        _stream_close()
    except OSError:
        pass
    sys.stdout.flush()
    sys.exit(code)


def dumps(v):
    """JSON text of v with the INITIAL's decimals written exactly (for psycopg2's Json
    and the like: json.dumps refuses decimal.Decimal)."""
    return _dumps(v)


class Step:
    """A processing step for run_steps (libetl's etl_step): name, version, process(run)
    -> result (JSON-able); reads: earlier steps whose results it uses (when one runs
    again, so does it); applicable(run) (None: always); needed(run) (None: when its
    cached result is stale)."""

    def __init__(self, name, version, process, reads=(), applicable=None, needed=None):
        self.name, self.version, self.process = name, version, process
        self.reads, self.applicable, self.needed = tuple(reads), applicable, needed


class _StepsRun:
    def __init__(self, arg):
        self.arg = arg
        self.results = {}


def run_steps(conn, key, input_sum, steps, versions=None, arg=None):
    """Run steps in order for cache key and input checksum, as libetl's
    etl_steps_run_input does and on the same cache (etl.step_get and etl.step_put, on
    conn, a psycopg2 connection to the job's pg_env): a cached result is reused while the
    step's version, the stamps of the steps it reads and the input are unchanged.  Each
    step has its own progress.  Returns {"ran", "cached", "skipped", "results"}."""
    run = _StepsRun(arg)
    stamps = {}
    out = {"ran": [], "cached": [], "skipped": [], "results": run.results}
    versions = versions or {}
    for i, st in enumerate(steps):
        msg = f"step {i + 1}/{len(steps)}: {st.name}"
        progress(0, 1, msg, force=True)
        if st.applicable is not None and not st.applicable(run):
            out["skipped"].append(st.name)
            continue
        version = int(versions.get(st.name, st.version))
        reads = json.dumps({r: stamps.get(r, 0) for r in st.reads}, sort_keys=True)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT stamp, result FROM etl.step_get(%s, %s, %s, %s::jsonb, %s)",
                        (key, st.name, version, reads, input_sum))
            row = cur.fetchone()
        if row is not None and (st.needed is None or not st.needed(run)):
            stamps[st.name] = row[0]
            run.results[st.name] = row[1]
            out["cached"].append(st.name)
        else:
            result = st.process(run)
            with conn, conn.cursor() as cur:
                cur.execute("SELECT etl.step_put(%s, %s, %s, %s::jsonb, %s, %s::jsonb)",
                            (key, st.name, version, reads, input_sum, dumps(result)))
                stamps[st.name] = cur.fetchone()[0]
            run.results[st.name] = result
            out["ran"].append(st.name)
        progress(1, 1, msg, force=True)
    return out


async def _await(aw):
    return await aw
