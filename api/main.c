/*
 * main.c: etl-api, the HTTP API and web view of etl: options (and --config's file),
 * signals (TERM and INT stop it, HUP reloads the token file and the web view's files),
 * and the parts' start and stop in order.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "log.h"
#include "xmalloc.h"

struct api_settings api_cfg;
volatile int api_stopping;

static const char usage_text[] =
    "usage: etl-api [options]\n"
    "       etl-api --token-file FILE --new-token NAME ROLE\n\n"
    "Serve etl's HTTP API (under /api/v1/) and its web view (under /).\n\n"
    "  --listen ADDR:PORT      where to listen: 127.0.0.1:8080, [::1]:8080, localhost:8080,\n"
    "                          :8080 for every address (default 127.0.0.1:8080)\n"
    "  --pg-env NAME           the database (a pg_service name; default $ETL_PG_ENV)\n"
    "  --config FILE           options from FILE first (key = value lines; default\n"
    "                          /etc/etl/etl-api.conf when it exists)\n"
    "  --token-file FILE       tokens: `NAME ROLE SHA256` lines (see --new-token)\n"
    "  --new-token NAME ROLE   make a token for NAME with ROLE (viewer, sender or admin),\n"
    "                          append its hash to --token-file, print it, and exit\n"
    "  --anonymous             let requests without a token in, as viewer (read only)\n"
    "  --no-set-role           run requests as the API's login, not SET ROLE per role\n"
    "  --web-dir DIR           the web view's files (default ../share/etl/web from the\n"
    "                          program)\n"
    "  --log-dir DIR           serve job logs only from under DIR\n"
    "  --files DIR             serve jobs' files (downloads) from DIR/JOB_ID/\n"
    "  --tls-cert FILE, --tls-key FILE   serve HTTPS with this certificate and key (PEM)\n"
    "  --max-connections N     connections at once (default 256)\n"
    "  --max-per-ip N          connections at once from one address (default 64)\n"
    "  --timeout SECONDS       close a connection idle this long (default 30)\n"
    "  --max-body BYTES        largest request body (default 1048576)\n"
    "  --pool N                database connections (default 8)\n"
    "  --keepalive SECONDS     a comment on an idle event stream this often (default 15)\n"
    "  -v, --verbose           log every request\n"
    "  -h, --help, -V, --version\n\n"
    "See etl-api(8).\n";

enum {
	O_LISTEN = 256, O_PG_ENV, O_CONFIG, O_TOKENS, O_NEW_TOKEN, O_ANON, O_NO_SET_ROLE,
	O_WEB, O_LOGDIR, O_FILES, O_CERT, O_KEY, O_MAXC, O_MAXIP, O_TIMEOUT, O_MAXBODY, O_POOL,
	O_KEEPALIVE
};

static long
num_arg(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "etl-api: bad %s '%s': want %ld to %ld\n", what, s, min, max);
		exit(2);
	}
	return v;
}

/* ../share/etl/web from the program's folder. */
static const char *
default_web_dir(void)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 32);
	char *slash;

	if (n <= 0)
		return "/usr/local/share/etl/web";
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) != NULL)
		*slash = '\0';
	strlcat(buf, "/../share/etl/web", sizeof(buf));
	return buf;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "pg-env", required_argument, NULL, O_PG_ENV },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "token-file", required_argument, NULL, O_TOKENS },
		{ "new-token", required_argument, NULL, O_NEW_TOKEN },
		{ "anonymous", no_argument, NULL, O_ANON },
		{ "no-set-role", no_argument, NULL, O_NO_SET_ROLE },
		{ "web-dir", required_argument, NULL, O_WEB },
		{ "log-dir", required_argument, NULL, O_LOGDIR },
		{ "files", required_argument, NULL, O_FILES },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "max-connections", required_argument, NULL, O_MAXC },
		{ "max-per-ip", required_argument, NULL, O_MAXIP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-body", required_argument, NULL, O_MAXBODY },
		{ "pool", required_argument, NULL, O_POOL },
		{ "keepalive", required_argument, NULL, O_KEEPALIVE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL, *new_token = NULL;
	char **cargv = NULL;
	sigset_t set;
	int ch, i, sig, rc = 0;

	static const char *const keys[] = { "listen", "pg_env", "token_file", "web_dir",
		"log_dir", "files", "tls_cert", "tls_key", "max_connections", "max_per_ip", "timeout",
		"max_body", "pool", "keepalive", NULL };
	static const char *const bools[] = { "anonymous", "no_set_role", "verbose", NULL };

	log_init("etl-api", 1);
	config_set_keys("etl-api", keys, bools);
	api_cfg.listen = "127.0.0.1:8080";
	api_cfg.set_role = 1;
	api_cfg.max_conns = 256;
	api_cfg.max_per_ip = 64;
	api_cfg.timeout = 30;
	api_cfg.max_body = 1 << 20;
	api_cfg.pool_size = 8;
	api_cfg.keepalive = 15;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	if (config == NULL && access("/etc/etl/etl-api.conf", R_OK) == 0)
		config = "/etc/etl/etl-api.conf";
	if (config != NULL && *config != '\0') {
		cargv = config_argv(config, &argc, argv);
		argv = cargv;
	}
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "vVh", lo, NULL)) != -1) {
		switch (ch) {
		case O_LISTEN:
			api_cfg.listen = optarg;
			break;
		case O_PG_ENV:
			api_cfg.pg_env = optarg;
			break;
		case O_CONFIG:
			break;
		case O_TOKENS:
			api_cfg.token_file = optarg;
			break;
		case O_NEW_TOKEN:
			new_token = optarg;
			break;
		case O_ANON:
			api_cfg.anonymous = ROLE_VIEWER;
			break;
		case O_NO_SET_ROLE:
			api_cfg.set_role = 0;
			break;
		case O_WEB:
			api_cfg.web_dir = optarg;
			break;
		case O_LOGDIR:
			api_cfg.log_dir = optarg;
			break;
		case O_FILES:
			api_cfg.files_dir = optarg;
			break;
		case O_CERT:
			api_cfg.tls_cert = optarg;
			break;
		case O_KEY:
			api_cfg.tls_key = optarg;
			break;
		case O_MAXC:
			api_cfg.max_conns = (unsigned)num_arg(optarg, 1, 100000, "--max-connections");
			break;
		case O_MAXIP:
			api_cfg.max_per_ip = (unsigned)num_arg(optarg, 1, 100000, "--max-per-ip");
			break;
		case O_TIMEOUT:
			api_cfg.timeout = (unsigned)num_arg(optarg, 1, 86400, "--timeout");
			break;
		case O_MAXBODY:
			api_cfg.max_body = (size_t)num_arg(optarg, 1024, 1L << 30, "--max-body");
			break;
		case O_POOL:
			api_cfg.pool_size = (unsigned)num_arg(optarg, 1, 1000, "--pool");
			break;
		case O_KEEPALIVE:
			api_cfg.keepalive = (unsigned)num_arg(optarg, 1, 3600, "--keepalive");
			break;
		case 'v':
			log_verbose = 1;
			break;
		case 'V':
			printf("etl-api %s (schema %d)\n", ETL_VERSION, etl_schema_version());
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			if (optopt != 0 && optopt < 256)
				fprintf(stderr, "etl-api: bad option -%c\n", optopt);
			else
				fprintf(stderr, "etl-api: bad option '%s'\n", argv[optind - 1]);
			fputs("try etl-api --help\n", stderr);
			return 2;
		}
	}
	if (optind != argc - (new_token ? 1 : 0)) {
		fprintf(stderr, "etl-api: unexpected argument '%s'\ntry etl-api --help\n",
		    argv[optind]);
		return 2;
	}
	if (new_token != NULL) {
		if (api_cfg.token_file == NULL) {
			fprintf(stderr, "etl-api: --new-token needs --token-file\n");
			return 2;
		}
		rc = auth_new_token(api_cfg.token_file, new_token, argv[optind]);
		config_free(cargv);
		return rc;
	}
	if ((api_cfg.tls_cert == NULL) != (api_cfg.tls_key == NULL)) {
		fprintf(stderr, "etl-api: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (api_cfg.token_file == NULL && api_cfg.anonymous == ROLE_NONE)
		log_warnx("no --token-file and no --anonymous: every API request will be "
		    "refused (401)");
	if (api_cfg.web_dir == NULL)
		api_cfg.web_dir = default_web_dir();
	if (auth_load(api_cfg.token_file) != 0)
		return 1;
	if (files_load(api_cfg.web_dir) != 0)
		log_warnx("web view: files missing in %s (--web-dir)", api_cfg.web_dir);

	/* signals are taken by this thread alone, with sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	{
		etl_error e;

		/* our connections hold session state: a transaction pooler would mix roles */
		if (etl_pg_env_pooled(api_cfg.pg_env, &e) == 1)
			fatalx("pg_env '%s' reaches PostgreSQL through a transaction pooler: etl-api "
			    "needs sessions of its own (a role set per connection, LISTEN for its live "
			    "feed); point it at PostgreSQL or a session-mode pool (README: \"Deploying "
			    "behind PgBouncer\")", api_cfg.pg_env ? api_cfg.pg_env :
			    getenv("ETL_PG_ENV") ? getenv("ETL_PG_ENV") : "");
	}
	pool_init(api_cfg.pool_size);
	if (live_start() != 0)
		fatalx("could not start the live feed");
	if (http_start() != 0) {
		api_stopping = 1;
		live_stop();
		pool_fini();
		config_free(cargv);
		return 1;
	}
	log_info("etl-api %s: pg_env %s, %s%s", ETL_VERSION,
	    api_cfg.pg_env ? api_cfg.pg_env : getenv("ETL_PG_ENV") ? getenv("ETL_PG_ENV") :
	    "(libpq's default)", api_cfg.token_file ? "tokens" : "no tokens",
	    api_cfg.anonymous ? ", anonymous viewers" : "");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading the token file and the web view");
			auth_load(api_cfg.token_file);
			files_load(api_cfg.web_dir);
			continue;
		}
		break;
	}
	log_info("stopping (%s)", strsignal(sig));
	api_stopping = 1;
	live_stop();		/* wakes every stream: they end */
	http_stop();
	pool_fini();
	config_free(cargv);
	return 0;
}
