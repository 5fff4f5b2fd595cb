# etl: GNU make.  `make` builds into $(O) (default build/); `make check` runs every test
# against a throwaway PostgreSQL; `make asan` does both with ASan+UBSan in build-asan/.
.DELETE_ON_ERROR:
.SUFFIXES:

O        ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
SOMAJOR  := 0
SOVER    := 0.1.0
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)

PKGS     := libpq libcjson libbsd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -lcjson -lbsd)

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilibetl -Icommon $(PKG_CFLAGS)
RPATH    := -Wl,-rpath,'$$ORIGIN/../lib' -Wl,-rpath,'$$ORIGIN/../../lib' \
            -Wl,-rpath,'$$ORIGIN/../../../lib'
LINK_ETL := -L$(O)/lib -letl -lmd $(PKG_LIBS) -lpthread $(RPATH)

LIB_SRC  := $(wildcard libetl/*.c)
LIB_OBJ  := $(LIB_SRC:libetl/%.c=$(O)/obj/libetl/%.o) $(O)/obj/libetl/migrations.o
MIGRATIONS := $(sort $(wildcard libetl/sql/[0-9]*.sql))
# functions and triggers, one file per concern, applied in this order (see embed.sh)
SQL_FUNCS  := libetl/sql/events.sql libetl/sql/jobs.sql libetl/sql/flows.sql \
              libetl/sql/maintain.sql libetl/sql/roles.sql
COMMON_OBJ := $(patsubst common/%.c,$(O)/obj/common/%.o,$(wildcard common/*.c))
BIN_OBJ  := $(patsubst bin/%.c,$(O)/obj/bin/%.o,$(wildcard bin/*.c))
CTL_OBJ  := $(patsubst controller/%.c,$(O)/obj/controller/%.o,$(wildcard controller/*.c))
API_OBJ  := $(patsubst api/%.c,$(O)/obj/api/%.o,$(wildcard api/*.c))
# the web view etl-api serves (web/), and its OpenAPI document
WEB_SRC  := $(wildcard web/*.html web/*.js web/*.css web/*.svg web/*.json)
WEB      := $(WEB_SRC:web/%=$(O)/share/etl/web/%)

SOLIB    := $(O)/lib/libetl.so.$(SOVER)
LIBS     := $(SOLIB) $(O)/lib/libetl.so.$(SOMAJOR) $(O)/lib/libetl.so $(O)/lib/libetl.a \
            $(O)/lib/pkgconfig/libetl.pc

C_TASKS  := $(patsubst tasks/%.c,$(O)/tasks/%,$(wildcard tasks/*.c))
SH_TASKS := $(patsubst tasks/%.sh,$(O)/tasks/%,$(wildcard tasks/*.sh))
T_TASKS  := $(patsubst tests/tasks/%.c,$(O)/tests/tasks/%,$(wildcard tests/tasks/*.c)) \
            $(patsubst tests/tasks/%.sh,$(O)/tests/tasks/%,$(wildcard tests/tasks/*.sh))
UNIT     := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(wildcard tests/unit/*.c))
T_TOOLS  := $(patsubst tests/tools/%.c,$(O)/tests/tools/%,$(wildcard tests/tools/*.c))

# example tasks (tasks/examples/<name>/) install flat next to the built-ins
# outoftree/ shows a build against an installed libetl: not ours
EX_C     := $(filter-out tasks/examples/outoftree/%,$(wildcard tasks/examples/*/*.c))
EX_SH    := $(wildcard tasks/examples/*/*.sh tasks/examples/*/*.py)
EX_TASKS := $(foreach f,$(EX_C) $(EX_SH),$(O)/tasks/$(basename $(notdir $(f))))
# Python modules the Python tasks import, installed beside them (a script's folder is on
# its sys.path): the examples' lib/ and the task glue, etl_task
PY_MODS  := $(foreach f,$(wildcard tasks/examples/*/lib/*.py),$(O)/tasks/$(notdir $(f))) \
            $(O)/tasks/etl_task.py
# the CoVE example's JSON Schema, beside its module (cove.py reads cove-schema/)
COVE_SCHEMA := $(O)/tasks/cove-schema/release-package-schema.json

# every C task also builds as TASK.so for queues in inprocess mode (not executable)
SO_TASKS := $(C_TASKS:%=%.so) $(foreach f,$(EX_C),$(O)/tasks/$(basename $(notdir $(f))).so)
T_SO     := $(patsubst tests/tasks/%.c,$(O)/tests/tasks/%.so,$(wildcard tests/tasks/*.c))

PROGS    := $(O)/bin/etl $(O)/bin/etl-controller $(O)/bin/etl-api
# the parent of each detached task; found by the controller at ../libexec/etl/ from its own
KEEPER   := $(O)/libexec/etl/etl-keeper
ALL      := $(LIBS) $(PROGS) $(KEEPER) $(WEB) $(PY_MODS) $(COVE_SCHEMA) $(C_TASKS) $(SH_TASKS) $(EX_TASKS) $(SO_TASKS)

all: $(ALL)

$(O)/obj/libetl/%.o: libetl/%.c libetl/etl.h libetl/etl_admin.h libetl/etl_stmt.h libetl/internal.h libetl/context.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

$(O)/obj/libetl/migrations.c: libetl/sql/embed.sh $(MIGRATIONS) $(SQL_FUNCS)
	@mkdir -p $(@D)
	$(Q)sh libetl/sql/embed.sh $(MIGRATIONS) -- $(SQL_FUNCS) > $@

$(O)/obj/libetl/migrations.o: $(O)/obj/libetl/migrations.c libetl/internal.h
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

$(SOLIB): $(LIB_OBJ) libetl/libetl.map
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,-soname,libetl.so.$(SOMAJOR) -Wl,--version-script,libetl/libetl.map \
	    $(LDFLAGS) -o $@ $(LIB_OBJ) \
	    $(PKG_LIBS) -lpthread
$(O)/lib/libetl.so.$(SOMAJOR): $(SOLIB)
	$(Q)ln -sf libetl.so.$(SOVER) $@
$(O)/lib/libetl.so: $(O)/lib/libetl.so.$(SOMAJOR)
	$(Q)ln -sf libetl.so.$(SOMAJOR) $@
$(O)/lib/libetl.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJ)
$(O)/lib/pkgconfig/libetl.pc: libetl/libetl.pc.in Makefile
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(SOVER)|' $< > $@

$(O)/obj/common/%.o: common/%.c common/log.h common/xmalloc.h common/smallfile.h common/config.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/obj/bin/%.o: bin/%.c bin/cli.h libetl/etl.h libetl/etl_admin.h common/log.h common/xmalloc.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/bin/etl: $(BIN_OBJ) $(COMMON_OBJ) $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BIN_OBJ) $(COMMON_OBJ) $(LINK_ETL)

$(O)/obj/controller/%.o: controller/%.c $(wildcard controller/*.h) libetl/etl.h libetl/etl_admin.h libetl/etl_stmt.h common/log.h common/xmalloc.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/bin/etl-controller: $(CTL_OBJ) $(COMMON_OBJ) $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CTL_OBJ) $(COMMON_OBJ) $(LINK_ETL) -lev

# etl-api: GNU libmicrohttpd serves HTTP (see README, "The HTTP API and web view")
$(O)/obj/api/%.o: api/%.c $(wildcard api/*.h) common/config.h libetl/etl.h libetl/etl_admin.h common/log.h common/xmalloc.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags libmicrohttpd) -c -o $@ $<

$(O)/bin/etl-api: $(API_OBJ) $(COMMON_OBJ) $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(API_OBJ) $(COMMON_OBJ) $(LINK_ETL) \
	    $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

$(O)/share/etl/web/%: web/%
	@mkdir -p $(@D)
	$(Q)install -m 0644 $< $@

# libc only, and static (no dynamic loading: it is exec'd once per detached task, and
# its exec is about 8% of a job's cost less so); not under the sanitizers
$(KEEPER): controller/keeper/keeper.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(if $(filter 1,$(SANITIZE)),,-static) -o $@ $<

$(O)/tasks/%: tasks/%.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LINK_ETL)
$(O)/tasks/%: tasks/%.sh
	@mkdir -p $(@D)
	$(Q)install -m 0755 $< $@

SO_BUILD = $(CC) $(ALL_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $< $(LINK_ETL) && chmod 0644 $@
$(O)/tasks/%.so: tasks/%.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(SO_BUILD)
$(O)/tests/tasks/%.so: tests/tasks/%.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(SO_BUILD)

# an example folder's own libraries: EX_LIBS_<folder>
EX_LIBS_dataverse := -lcurl -lmagic -lmd
ex_libs = $(EX_LIBS_$(lastword $(subst /, ,$(dir $(1)))))
define EX_C_RULE
$(O)/tasks/$(basename $(notdir $(1))): $(1) libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$< $$(LINK_ETL) $(call ex_libs,$(1))
endef
define EX_SH_RULE
$(O)/tasks/$(basename $(notdir $(1))): $(1)
	@mkdir -p $$(@D)
	$$(Q)install -m 0755 $$< $$@
endef
define EX_SO_RULE
$(O)/tasks/$(basename $(notdir $(1))).so: $(1) libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(ALL_CFLAGS) -fPIC -shared $$(LDFLAGS) -o $$@ $$< $$(LINK_ETL) $(call ex_libs,$(1)) && chmod 0644 $$@
endef
$(foreach f,$(EX_C),$(eval $(call EX_C_RULE,$(f))))
$(foreach f,$(EX_C),$(eval $(call EX_SO_RULE,$(f))))
$(foreach f,$(EX_SH),$(eval $(call EX_SH_RULE,$(f))))
$(O)/tasks/etl_task.py: contrib/python/etl_task.py
	@mkdir -p $(@D)
	$(Q)install -m 0644 $< $@
$(O)/tasks/cove-schema/%: tasks/examples/cove/schema/%
	@mkdir -p $(@D)
	$(Q)install -m 0644 $< $@
define PY_MOD_RULE
$(O)/tasks/$(notdir $(1)): $(1)
	@mkdir -p $$(@D)
	$$(Q)install -m 0644 $$< $$@
endef
$(foreach f,$(wildcard tasks/examples/*/lib/*.py),$(eval $(call PY_MOD_RULE,$(f))))

$(O)/tests/tasks/%: tests/tasks/%.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LINK_ETL)
$(O)/tests/tasks/%: tests/tasks/%.sh
	@mkdir -p $(@D)
	$(Q)install -m 0755 $< $@

# the wake-up order of the controllers (controller/wake.c) is pure: tested alone
$(O)/tests/unit/t_wake: tests/unit/t_wake.c tests/unit/tap.h controller/wake.c controller/wake.h $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< controller/wake.c $(COMMON_OBJ) $(PKG_LIBS)

$(O)/tests/unit/%: tests/unit/%.c tests/unit/tap.h libetl/etl.h $(O)/lib/libetl.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(O)/lib/libetl.a $(PKG_LIBS) -lpthread

$(O)/tests/tools/%: tests/tools/%.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LINK_ETL)

tests: $(ALL) $(T_TASKS) $(T_SO) $(UNIT) $(T_TOOLS)

# make bench: the benchmark against pg-boss and graphile-worker (bench/run.sh, bench/README.md);
# BENCH_QUICK=1 for the short run.  Its tasks: plain programs (no libetl: a spawn costs
# what a program costs) and the libetl no-op, also as .so for the in-process mode.
BENCH_BIN := $(O)/bench/tasks/noop $(O)/bench/tasks/stamp $(O)/bench/tasks/noop_etl \
             $(O)/bench/tasks/noop_etl $(O)/bench/tasks/noop_etl.so \
             $(O)/bench/tools/bulk_send $(O)/bench/tools/lat_send $(O)/bench/tools/spawnrate \
             $(O)/bench/tools/connrate
$(O)/bench/tasks/noop $(O)/bench/tasks/stamp $(O)/bench/tools/spawnrate: $(O)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<
$(O)/bench/tools/connrate: bench/tools/connrate.c
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS)
$(O)/bench/tasks/noop_etl $(O)/bench/tools/bulk_send $(O)/bench/tools/lat_send: $(O)/bench/%: bench/%.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LINK_ETL)
$(O)/bench/tasks/noop_etl.so: bench/tasks/noop_etl.c libetl/etl.h $(O)/lib/libetl.so
	@mkdir -p $(@D)
	$(Q)$(SO_BUILD)
bench-bin: $(ALL) $(BENCH_BIN)
bench: deps
	$(MAKE) bench-bin
	bench/run.sh $(O)

# check and demo first install what is missing (a no-op when all is there)
check: deps
	$(MAKE) tests
	tests/run.sh $(O)

asan:
	$(MAKE) O=build-asan SANITIZE=1 check

# make chaos: the chaos suite (tests/chaos/run.sh); SCENARIOS="1 3" runs some
chaos: deps
	$(MAKE) tests
	tests/chaos/run.sh $(O) $(SCENARIOS)

deps:
	@sh contrib/install-deps.sh

demo: deps
	$(MAKE) all $(O)/tests/tasks/ticker $(O)/tests/tasks/parent
	contrib/demo.sh $(O)

# make lint: cppcheck with the repository's configuration (lint/), and clang-tidy with
# .clang-tidy; both must be clean.
LINT_SRC := $(wildcard libetl/*.c bin/*.c api/*.c controller/*.c controller/keeper/*.c common/*.c tasks/*.c \
            tasks/examples/*/*.c tests/tools/*.c tests/unit/*.c tests/fuzz/*.c \
            bench/tasks/*.c bench/tools/*.c)
lint:
	cppcheck --quiet --enable=warning,portability,performance --std=c11 -D_GNU_SOURCE \
	    -Ilibetl -Icommon -Icontroller -Ibin -Iapi $(PKG_CFLAGS) --include=lint/cppcheck-defs.h \
	    --suppressions-list=lint/cppcheck.suppress --inline-suppr -j2 --error-exitcode=1 \
	    libetl bin api controller common tasks tests/tools tests/unit tests/fuzz bench
	clang-tidy --quiet $(filter-out tests/fuzz/%,$(LINT_SRC)) -- -std=gnu11 -D_GNU_SOURCE \
	    -Ilibetl -Icommon -Ibin -Itests/unit \
	    $(PKG_CFLAGS)

# make fuzz: libFuzzer targets (clang), each run FUZZ_SECONDS (60) from the seed corpus in
# tests/fuzz/corpus/ (new inputs go to a scratch copy, not into the repository).
FUZZ_SECONDS ?= 60
FZ       := build-fuzz
FZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -g -O1
FZ_LIBOBJ := $(LIB_SRC:libetl/%.c=$(FZ)/obj/%.o) $(FZ)/obj/migrations.o
FUZZERS  := initial cron ndjson config wake
.SECONDARY: $(FZ_LIBOBJ)

$(FZ)/obj/%.o: libetl/%.c libetl/etl.h libetl/etl_admin.h libetl/etl_stmt.h libetl/internal.h libetl/context.h
	@mkdir -p $(@D)
	$(Q)clang -std=gnu11 -D_GNU_SOURCE $(FZ_FLAGS) -Ilibetl $(PKG_CFLAGS) -c -o $@ $<
$(FZ)/obj/migrations.o: $(O)/obj/libetl/migrations.c
	@mkdir -p $(@D)
	$(Q)clang -std=gnu11 -D_GNU_SOURCE $(FZ_FLAGS) -Ilibetl $(PKG_CFLAGS) -c -o $@ $<
$(FZ)/obj/ctl_%.o: controller/%.c
	@mkdir -p $(@D)
	$(Q)clang -std=gnu11 -D_GNU_SOURCE $(FZ_FLAGS) -Ilibetl -Icommon -Icontroller $(PKG_CFLAGS) -c -o $@ $<
$(FZ)/obj/common_%.o: common/%.c
	@mkdir -p $(@D)
	$(Q)clang -std=gnu11 -D_GNU_SOURCE $(FZ_FLAGS) -Icommon -c -o $@ $<
$(FZ)/fuzz_config: tests/fuzz/fuzz_config.c $(FZ)/obj/common_config.o $(FZ)/obj/common_log.o $(FZ)/obj/common_xmalloc.o
	$(Q)clang -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -g -O1 -Icommon \
	    -o $@ $^
$(FZ)/fuzz_wake: tests/fuzz/fuzz_wake.c $(FZ)/obj/ctl_wake.o $(FZ)/obj/common_log.o $(FZ)/obj/common_xmalloc.o
	$(Q)clang -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -g -O1 -Icontroller \
	    -Icommon $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)
$(FZ)/fuzz_%: tests/fuzz/fuzz_%.c $(FZ_LIBOBJ)
	$(Q)clang -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -g -O1 -Ilibetl \
	    $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lmd -lpthread

fuzz: $(addprefix $(FZ)/fuzz_,$(FUZZERS))
	@for f in $(FUZZERS); do \
	    rm -rf $(FZ)/corpus/$$f && mkdir -p $(FZ)/corpus/$$f && \
	    cp tests/fuzz/corpus/$$f/* $(FZ)/corpus/$$f/ && \
	    echo "fuzz $$f: $(FUZZ_SECONDS) s" && \
	    $(FZ)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	        $(FZ)/corpus/$$f 2>$(FZ)/fuzz_$$f.log || { tail -40 $(FZ)/fuzz_$$f.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units' $(FZ)/fuzz_$$f.log; \
	done

# make install PREFIX=/usr/local DESTDIR=...: programs, library (soname, symlinks, static,
# pkg-config), header, tasks in libexec/etl/tasks (the default task path), man pages,
# systemd units (paths rewritten for PREFIX), the etl user (sysusers.d) and its folders
# (tmpfiles.d), configuration examples in SYSCONFDIR/etl (the programs read
# /etc/etl/*.conf), bash completion, gdb helper.
SYSCONFDIR ?= /etc
BINDIR    = $(DESTDIR)$(PREFIX)/bin
LIBDIR    = $(DESTDIR)$(PREFIX)/lib
INCDIR    = $(DESTDIR)$(PREFIX)/include
TASKDIR   = $(DESTDIR)$(PREFIX)/libexec/etl/tasks
MANDIR    = $(DESTDIR)$(PREFIX)/share/man
SHAREDIR  = $(DESTDIR)$(PREFIX)/share/etl
MANPAGES  = contrib/man/etl.1 contrib/man/etl-controller.8 contrib/man/etl-api.8 contrib/man/etl-keeper.8 contrib/man/libetl.3 contrib/man/etl-task.7

install: all
	install -d $(BINDIR) $(LIBDIR)/pkgconfig $(INCDIR) $(TASKDIR) $(MANDIR)/man1 \
	    $(MANDIR)/man3 $(MANDIR)/man7 $(MANDIR)/man8 $(SHAREDIR)/gdb \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(PROGS) $(BINDIR)/
	install -m 0755 $(KEEPER) $(DESTDIR)$(PREFIX)/libexec/etl/
	install -m 0755 $(SOLIB) $(LIBDIR)/
	ln -sf libetl.so.$(SOVER) $(LIBDIR)/libetl.so.$(SOMAJOR)
	ln -sf libetl.so.$(SOMAJOR) $(LIBDIR)/libetl.so
	install -m 0644 $(O)/lib/libetl.a $(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(SOVER)|' libetl/libetl.pc.in \
	    > $(LIBDIR)/pkgconfig/libetl.pc
	install -m 0644 libetl/etl.h libetl/etl_admin.h $(INCDIR)/
	install -m 0755 $(C_TASKS) $(SH_TASKS) $(EX_TASKS) $(TASKDIR)/
	install -m 0644 $(SO_TASKS) $(PY_MODS) $(TASKDIR)/
	install -d $(TASKDIR)/cove-schema
	install -m 0644 $(COVE_SCHEMA) $(TASKDIR)/cove-schema/
	for m in $(MANPAGES); do \
	    s=$${m##*.}; install -m 0644 $$m $(MANDIR)/man$$s/; done
	install -m 0644 contrib/gdb/etl.py $(SHAREDIR)/gdb/
	install -m 0644 contrib/pg_service.conf.example $(SHAREDIR)/
	for u in etl-controller etl-api; do \
	    sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	        contrib/$$u.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$u.service; done
	install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d \
	    $(DESTDIR)$(SYSCONFDIR)/etl
	install -m 0644 contrib/etl.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/etl.conf
	install -m 0644 contrib/etl.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/etl.conf
	install -m 0644 contrib/etl.conf.example contrib/etl-api.conf.example \
	    contrib/pg_service.conf.example $(DESTDIR)$(SYSCONFDIR)/etl/
	install -d $(SHAREDIR)/web $(SHAREDIR)/node/etl-task $(SHAREDIR)/python
	install -m 0644 $(WEB_SRC) $(SHAREDIR)/web/
	install -m 0644 contrib/node/etl-task/* $(SHAREDIR)/node/etl-task/
	install -m 0644 contrib/python/etl_task.py $(SHAREDIR)/python/
	install -m 0644 contrib/etl.bash-completion \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/etl
	ln -sf etl $(DESTDIR)$(PREFIX)/share/bash-completion/completions/etl-controller

uninstall:
	rm -f $(BINDIR)/etl $(BINDIR)/etl-controller $(BINDIR)/etl-api $(LIBDIR)/libetl.so* $(LIBDIR)/libetl.a \
	    $(LIBDIR)/pkgconfig/libetl.pc $(INCDIR)/etl.h $(INCDIR)/etl_admin.h \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/etl-controller.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/etl-api.service \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d/etl.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/etl.conf \
	    $(DESTDIR)$(SYSCONFDIR)/etl/etl.conf.example $(DESTDIR)$(SYSCONFDIR)/etl/etl-api.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/etl/pg_service.conf.example \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/etl \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/etl-controller
	for m in $(MANPAGES); do s=$${m##*.}; rm -f $(MANDIR)/man$$s/$${m##*/}; done
	rm -rf $(TASKDIR) $(SHAREDIR)
	rm -f $(DESTDIR)$(PREFIX)/libexec/etl/etl-keeper
	-rmdir $(DESTDIR)$(PREFIX)/libexec/etl 2>/dev/null

clean:
	rm -rf build build-asan build-fuzz tmp_check

.PHONY: all tests check asan deps demo clean install uninstall fuzz lint chaos bench bench-bin
