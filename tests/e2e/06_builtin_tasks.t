#!/usr/bin/env bash
# The built-in tasks csv_load, file_copy and shell (issue 6).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
last_job() { q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1"; }
out_of() { q "SELECT output->>'$2' FROM etl.job WHERE id = '$1'"; }

# csv_load: create with inferred types
cat > "$ETL_TMP/people.csv" <<'CSV'
id,name,height,member,born,seen
1,Ada,1.65,true,1815-12-10,2024-01-02 10:00:00+00
2,"Hopper, Grace",1.52,false,1906-12-09,2024-02-03T11:30:00Z
3,"say ""hi""
twice",,t,1912-06-23,
CSV
run etl run csv_load "{\"file\": \"$ETL_TMP/people.csv\", \"table\": \"public.people\", \"create\": true}"
is "$rc" 0 "csv_load with create exits 0"
j=$(last_job)
is "$(out_of "$j" rows)" 3 "FINAL has the row count (a quoted newline is one row)"
is "$(q "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'people'")" "id:bigint,name:text,height:numeric,member:boolean,born:date,seen:timestamp with time zone" "column types are inferred"
is "$(q "SELECT name FROM public.people WHERE id = 2")" "Hopper, Grace" "a quoted delimiter stays in its field"
is "$(q "SELECT name FROM public.people WHERE id = 3")" 'say "hi"
twice' "doubled quotes and a newline inside quotes"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$j' AND e.type = 'csv_load:PROGRESS'")" 2 "progress by bytes: the first and the last (rate-limited between)"

# append with another delimiter, no header
printf '4;Linus;1.77;true;1969-12-28;\n' > "$ETL_TMP/more.csv"
run etl run csv_load "{\"file\": \"$ETL_TMP/more.csv\", \"table\": \"people\", \"header\": false, \"delimiter\": \";\"}"
is "$rc" 0 "append with ; and no header"
is "$(q "SELECT count(*) FROM public.people")" 4 "the row is appended"

# a malformed row: an ERROR naming the line, and no partial table
printf 'a,b\n1,2\n3,4,5\n6,7\n' > "$ETL_TMP/bad.csv"
run etl run csv_load "{\"file\": \"$ETL_TMP/bad.csv\", \"table\": \"badt\", \"create\": true}"
is "$rc" 65 "a malformed row is bad input (65)"
like "$(out_of "$(last_job)" message)" "line 3: 3 fields where the first row has 2" "its ERROR names the line"
is "$(q "SELECT count(*) FROM pg_tables WHERE tablename = 'badt'")" 0 "no table is left"
# a row PostgreSQL refuses (a type error): the transaction leaves nothing either
printf 'id,name,height,member,born,seen\n5,X,1.1,true,1999-01-01,\n6,Y,tall,true,1999-01-01,\n' > "$ETL_TMP/bad2.csv"
run etl run csv_load "{\"file\": \"$ETL_TMP/bad2.csv\", \"table\": \"people\"}"
is "$rc" 65 "a row with a bad value fails"
like "$(out_of "$(last_job)" message)" "line 3" "naming the line PostgreSQL saw"
is "$(q "SELECT count(*) FROM public.people")" 4 "and the good row before it is not kept"
run etl run csv_load '{"file": "/etc/hostname", "table": "x; DROP TABLE people"}'
is "$rc" 65 "a bad table name is refused"

# file_copy: copy, size and MD5 of both; no overwrite unless told
mkdir -p "$ETL_TMP/src" "$ETL_TMP/dst"
head -c 300000 /dev/urandom > "$ETL_TMP/src/blob.bin"
run etl run file_copy "{\"source\": \"$ETL_TMP/src/blob.bin\", \"dest_dir\": \"$ETL_TMP/dst\"}"
is "$rc" 0 "file_copy exits 0"
j=$(last_job)
is "$(out_of "$j" size)" 300000 "FINAL has the size"
is "$(out_of "$j" md5)" "$(md5sum < "$ETL_TMP/src/blob.bin" | cut -d' ' -f1)" "and the source's MD5"
is "$(out_of "$j" dest_md5)" "$(md5sum < "$ETL_TMP/dst/blob.bin" | cut -d' ' -f1)" "and the copy's, read back"
cmp -s "$ETL_TMP/src/blob.bin" "$ETL_TMP/dst/blob.bin"
ok $? "the copy is the same file"
run etl run file_copy "{\"source\": \"$ETL_TMP/src/blob.bin\", \"dest_dir\": \"$ETL_TMP/dst\"}"
is "$rc" 65 "copying onto an existing file is refused"
like "$(out_of "$(last_job)" message)" "exists" "saying it exists"
run etl run file_copy "{\"source\": \"$ETL_TMP/src/blob.bin\", \"dest_dir\": \"$ETL_TMP/dst\", \"overwrite\": true}"
is "$rc" 0 "unless overwrite is true"
is "$(ls "$ETL_TMP/dst" | wc -l)" 1 "no temporary file is left"
run etl run file_copy "{\"source\": \"$ETL_TMP/src/none\", \"dest_dir\": \"$ETL_TMP/dst\"}"
is "$rc" 65 "a missing source is bad input"

# shell: argv, no shell unless asked; a time limit; output to the log
run etl run shell '{"argv": ["echo", "a;b", "$HOME"]}'
is "$rc" 0 "shell with argv exits 0"
is "$out" 'a;b $HOME' "no shell: ; and \$ are plain text"
run etl run shell '{"command": "echo one | tr o 0", "shell": true}'
is "$out" "0ne" "with shell: true a command line runs in /bin/sh"
run etl run shell '{"argv": ["sh", "-c", "exit 3"]}'
is "$rc" 1 "a failing command fails the task"
like "$(out_of "$(last_job)" message)" "exit status 3" "naming its status"
t0=$SECONDS
run etl run shell '{"argv": ["sleep", "30"], "timeout": 1}'
is "$rc" 75 "a command over its time limit is stopped (75, may retry)"
like "$(out_of "$(last_job)" message)" "timed out" "saying so"
ok $([ $((SECONDS - t0)) -lt 10 ]; echo $?) "promptly"
run etl run shell '{"argv": ["no-such-program-here"]}'
is "$rc" 65 "a missing program is bad input"
done_testing
