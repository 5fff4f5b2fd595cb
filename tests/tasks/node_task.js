#!/usr/bin/env node
// node_task: an etl task in Node.js on the etl-task package, for the tests; what it does
// is its payload's "mode": sync, async, final_event, dispatch, events, bad, retry, crash.
'use strict';
const { run, BadInput, Retry } = require('etl-task');

run((initial, etl) => {
  const p = initial.payload || {};
  switch (p.mode) {
    case 'sync': return { doubled: p.n * 2 };
    case 'async': return new Promise((res) => setTimeout(() => res({ waited: true, n: p.n }), 100));
    case 'final_event': return { type: 'node_task:FINAL', payload: { as: 'is' } };
    case 'dispatch': etl.dispatch(':FINAL', { dispatched: true }); return undefined;
    case 'events':
      return (async () => {
        for (let i = 1; i <= 3; i++) { etl.progress(i, 3, `step ${i}`); etl.dispatch(':ROW', { i }); }
        return { rows: 3, raw: etl.initialText.length > 0 };
      })();
    case 'bad': throw new BadInput('n must be a number');
    case 'retry': throw new Retry('not yet');
    case 'crash': return (async () => { throw new Error('boom'); })();
    default: throw new BadInput(`unknown mode ${p.mode}`);
  }
});
