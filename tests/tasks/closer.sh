#!/bin/sh
# closer: closes its stdin at once without reading its INITIAL, then fails; for the tests.
exec 0<&-
echo "closer: closed stdin" >&2
sleep 0.2
exit 1
