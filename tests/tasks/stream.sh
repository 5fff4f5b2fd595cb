#!/bin/sh
# stream: progress reports through one `etl progress --stream`, one of them malformed;
# prints its exit status.  For the task glue's tests.
cat >/dev/null
printf '1 1 one\nnot a report\n2 2 two words\n3 3 three\n' | etl progress --stream
echo "stream exit $?"
