#!/bin/sh
# writer: writes 10 MB to stdout (its log), then fails; for the tests.
head -c 10485760 /dev/zero | tr '\0' 'x'
echo
echo "writer: wrote 10 MB" >&2
exit 1
