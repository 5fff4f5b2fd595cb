#!/bin/sh
# stdin_copy: prints the INITIAL it read to its log, for the payload tests.
cat
echo
