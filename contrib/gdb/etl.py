# etl.py: gdb helpers for etl tasks.  Load with `gdb -x contrib/gdb/etl.py` (etl debug and
# etl run --gdb do it).  Commands:
#   etl-context   the current thread's EtlContext (pg_env, etl_context_id, job, task); before
#                 the task has opened it, what its environment says
#   etl-initial   the INITIAL event the task read from stdin
import gdb


def _environ():
    """The inferior's environment, read from /proc (works before libetl is loaded)."""
    pid = gdb.selected_inferior().pid
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            raw = f.read().split(b"\0")
    except OSError:
        return {}
    env = {}
    for kv in raw:
        if b"=" in kv:
            k, v = kv.split(b"=", 1)
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def _mark_attached():
    """Tell a task waiting for its debugger (ETL_DEBUG_WAIT) that one came."""
    try:
        if gdb.selected_inferior().pid:
            gdb.execute("set var etl__debugger_attached = 1", to_string=True)
    except (gdb.error, RuntimeError):
        pass


def _value(name):
    try:
        v = gdb.parse_and_eval(name)
        return v if int(v) != 0 else None
    except (gdb.error, RuntimeError):
        return None


def _str(v):
    try:
        return v.string() if int(v) != 0 else ""
    except (gdb.error, RuntimeError):
        return "?"


class EtlContext(gdb.Command):
    """Print the EtlContext of the current thread: pg_env, etl_context_id, job id, task."""

    def __init__(self):
        super().__init__("etl-context", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        _mark_attached()
        for name, what in (("etl__current_context", "this thread's context"),
                           ("'libetl.so.0'::etl__task_context", "the task's context"),
                           ("etl__task_context", "the task's context")):
            ctx = _value(name)
            if ctx is None:
                continue
            try:
                c = ctx.cast(gdb.lookup_type("struct etl_context").pointer()).dereference()
                print("EtlContext (%s):" % what)
                print("  etl_context_id = %d" % int(c["id"]))
                print("  pg_env         = %s" % _str(c["pg_env"]))
                print("  job_id         = %s" % _str(c["job_id"]))
                print("  task           = %s" % _str(c["task"]))
                return
            except (gdb.error, RuntimeError):
                continue
        env = _environ()
        print("no EtlContext is open yet in this process; its environment says:")
        for k in ("ETL_CONTEXT_ID", "ETL_PG_ENV", "ETL_JOB_ID", "ETL_TASK", "ETL_QUEUE",
                  "ETL_ATTEMPT"):
            print("  %-15s = %s" % (k.lower().replace("etl_", "", 1) if k != "ETL_CONTEXT_ID"
                                   else "etl_context_id", env.get(k, "")))


class EtlInitial(gdb.Command):
    """Print the INITIAL event the task read from stdin."""

    def __init__(self):
        super().__init__("etl-initial", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        v = _value("etl__task_initial")
        if v is None:
            print("the task has not read its INITIAL event yet")
            return
        print(_str(v))


EtlContext()
EtlInitial()
_mark_attached()
