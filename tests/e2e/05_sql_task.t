#!/usr/bin/env bash
# The sql task: statements, parameters, files, row counts and errors (issue 2).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
q "DROP TABLE IF EXISTS public.t; CREATE TABLE public.t (n int, s text)" >/dev/null

run etl run sql '{"sql": "INSERT INTO public.t SELECT g, g::text FROM generate_series(1, 3) g"}'
is "$rc" 0 "an INSERT exits 0"
j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT (output->>'rows') || ' ' || (output->>'command') FROM etl.job WHERE id = '$j'")" "3 INSERT 0 3" "FINAL has the row count and the command"
run etl run sql '{"sql": "SELECT * FROM public.t WHERE n >= $1", "params": [2]}'
j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT output->>'rows' FROM etl.job WHERE id = '$j'")" 2 "a SELECT with a parameter counts its rows"
printf 'UPDATE public.t SET s = s || $$!$$;\nDELETE FROM public.t WHERE n = 1;\n' > "$ETL_TMP/x.sql"
run etl run sql "{\"file\": \"$ETL_TMP/x.sql\"}"
is "$rc" 0 "a file of two statements"
j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT output->>'command' FROM etl.job WHERE id = '$j'")" "DELETE 1" "reports the last statement"
is "$(q "SELECT string_agg(s, ',' ORDER BY n) FROM public.t")" "2!,3!" "both ran"
run etl run sql '{"sql": "SELEC 1"}'
is "$rc" 65 "a syntax error is bad input (65)"
j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$j'")" "syntax error" "its ERROR says why"
run etl run sql '{"nothing": 1}'
is "$rc" 65 "no sql is bad input"
run etl run sql '{"sql": "BEGIN; INSERT INTO public.t VALUES (9, $$x$$)"}'
is "$rc" 0 "SQL that leaves a transaction open does not touch the task's own session"
j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT state FROM etl.job WHERE id = '$j'")" completed "its job completed"
is "$(q "SELECT count(*) FROM public.t WHERE n = 9")" 0 "and the open transaction was rolled back"
done_testing
