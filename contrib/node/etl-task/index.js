/*
 * etl-task: the glue for etl tasks in Node.js (and TypeScript, with index.d.ts), in the
 * shape DAMA's tasks had.  A task file ends with
 *
 *     require('etl-task').run(async (initial, etl) => { ...; return payload; });
 *
 * run() reads the INITIAL event from stdin, calls main (sync or async) with it and a
 * handle whose dispatch() and progress() record events and progress in the task's own
 * run (through the `etl` command, which proves the run with the secret the controller
 * handed over), and ends the task:
 *   - main returned a FINAL event ({type: 'T:FINAL', payload}): recorded as it is;
 *   - main returned anything else (not undefined): recorded as the FINAL's payload;
 *   - main dispatched its FINAL itself, or returned undefined: nothing more (exit 0 with
 *     no FINAL is recorded by the controller as FINAL null);
 *   - main threw: an ERROR with the message, and exit 65 for BadInput (not retried),
 *     75 for Retry (retried), 1 otherwise.
 * With --debug-wait (ETL_DEBUG_WAIT=1) the task opens the V8 inspector on 127.0.0.1, says
 * where in its log and its job's progress, and waits there for a debugger (Chrome
 * DevTools: chrome://inspect, or node inspect URL).
 */
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');

class BadInput extends Error {
  constructor(message) { super(message); this.name = 'BadInput'; this.exitCode = 65; }
}
class Retry extends Error {
  constructor(message) { super(message); this.name = 'Retry'; this.exitCode = 75; }
}

const ETL = process.env.ETL_BIN || 'etl';

function etlCmd(args, input) {
  execFileSync(ETL, args, { input, stdio: ['pipe', 'ignore', 'inherit'] });
}

let finaled = false;
let lastProgress = 0;

/* Record event TYPE (':NAME' takes the task's name) with payload; its FINAL ends the run. */
function dispatch(type, payload) {
  etlCmd(['dispatch', type, '-'], JSON.stringify(payload === undefined ? null : payload));
  if (/:FINAL$/.test(type)) finaled = true;
}

/* Record progress: at most four a second, but the last step (done >= total) always. */
function progress(done, total, message) {
  const now = Date.now();
  if (done < total && now - lastProgress < 250) return;
  lastProgress = now;
  const args = ['progress', String(done), String(total)];
  if (message !== undefined) args.push(String(message));
  etlCmd(args);
}

function isFinalEvent(r) {
  return r !== null && typeof r === 'object' && !Array.isArray(r) &&
    typeof r.type === 'string' && /:FINAL$/.test(r.type) &&
    Object.keys(r).every((k) => k === 'type' || k === 'payload' || k === 'meta');
}

async function debugWait() {
  if (process.env.ETL_DEBUG_WAIT !== '1') return;
  const inspector = require('inspector');
  inspector.open(0, '127.0.0.1', false);
  const url = inspector.url();
  const port = new URL(url).port;
  const msg = `waiting for debugger: node inspector ${url} (chrome://inspect, port ${port})`;
  process.stderr.write(msg + '\n');
  try { etlCmd(['progress', '0', '0', msg]); } catch (e) { /* the log says it */ }
  inspector.waitForDebugger();
  process.stderr.write('debugger attached\n');
}

async function run(main) {
  let code = 0;
  try {
    const text = fs.readFileSync(0, 'utf8');
    // nothing, or a text cut short: its controller died before or while handing the
    // INITIAL over (etl-task(7)): do nothing, exit 75, and the job is tried again
    if (text.trim() === '') {
      process.stderr.write('no INITIAL event on stdin (empty): its controller died before handing it over?\n');
      process.exit(75);
    }
    let initial;
    try {
      initial = JSON.parse(text);
    } catch (e) {
      const at = /at position (\d+)/.exec(e.message);
      if (/end of JSON input|Unterminated/.test(e.message) ||
          (at && Number(at[1]) >= text.trimEnd().length)) {
        process.stderr.write('the INITIAL event on stdin is cut short (' + e.message +
          '): its controller died while handing it over?\n');
        process.exit(75);
      }
      throw new BadInput('the INITIAL event is not JSON: ' + e.message);
    }
    await debugWait();
    const handle = {
      dispatch, progress,
      contextId: process.env.ETL_CONTEXT_ID, jobId: process.env.ETL_JOB_ID,
      task: process.env.ETL_TASK, initialText: text,
    };
    const result = await main(initial, handle);
    if (!finaled && result !== undefined) {
      if (isFinalEvent(result)) dispatch(result.type, result.payload === undefined ? null : result.payload);
      else dispatch(':FINAL', result);
    }
  } catch (err) {
    code = err && Number.isInteger(err.exitCode) ? err.exitCode : 1;
    const message = (err && err.message) || String(err);
    process.stderr.write(`${(err && err.stack) || message}\n`);
    try {
      dispatch(':ERROR', { message, name: (err && err.name) || 'Error', exit_status: code });
    } catch (e) {
      process.stderr.write(`etl-task: could not record the error: ${e.message}\n`);
    }
  }
  process.exitCode = code;
}

module.exports = { run, dispatch, progress, BadInput, Retry };
