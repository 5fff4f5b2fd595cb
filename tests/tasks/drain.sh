#!/bin/sh
# drain: reads its INITIAL to the end and exits 0; for the chaos suite's large payloads.
cat >/dev/null
