/*
 * auth.c: who a request comes from.  The token file holds one line per token,
 * `NAME ROLE SHA256`, the hex SHA-256 of the token (the tokens themselves are never
 * stored); a request shows its token as `Authorization: Bearer TOKEN`.  The roles are
 * viewer, sender and admin, each the database role its requests run under.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bsd/string.h>
#include <sha2.h>

#include "api.h"
#include "log.h"
#include "xmalloc.h"

struct token {
	char		 name[64];
	enum api_role	 role;
	char		 hash[SHA256_DIGEST_STRING_LENGTH];
};

static struct token *tokens;
static size_t ntokens;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static const char *const names[] = { "none", "viewer", "sender", "admin" };
static const char *const dbroles[] = { "", "etl_viewer", "etl_sender", "etl_admin" };

const char *
role_name(enum api_role r)
{
	return (unsigned)r <= ROLE_ADMIN ? names[r] : "none";
}

const char *
role_db(enum api_role r)
{
	return (unsigned)r <= ROLE_ADMIN ? dbroles[r] : "";
}

enum api_role
role_parse(const char *s)
{
	int i;

	for (i = ROLE_VIEWER; i <= ROLE_ADMIN; i++)
		if (s != NULL && strcmp(s, names[i]) == 0)
			return (enum api_role)i;
	return ROLE_NONE;
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-") == n;
}

int
auth_load(const char *path)
{
	struct token *t = NULL;
	size_t n = 0, cap = 0, lineno = 0, linecap = 0;
	char *line = NULL, name[128], role[32], hash[128], extra[2];
	struct stat sb;
	FILE *f;

	if (path == NULL)
		return 0;
	if ((f = fopen(path, "re")) == NULL) {
		log_warn("token file %s", path);
		return -1;
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 0004))
		log_warnx("token file %s is readable by all: chmod o-r it", path);
	while (getline(&line, &linecap, f) != -1) {
		lineno++;
		line[strcspn(line, "#\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '\0')
			continue;
		if (sscanf(line, "%127s %31s %127s %1s", name, role, hash, extra) != 3 ||
		    !name_ok(name) || role_parse(role) == ROLE_NONE ||
		    strlen(hash) != SHA256_DIGEST_STRING_LENGTH - 1 ||
		    strspn(hash, "0123456789abcdef") != strlen(hash)) {
			log_warnx("%s:%zu: want NAME ROLE SHA256 (role viewer, sender or admin, "
			    "the token's SHA-256 in lower-case hex)", path, lineno);
			free(line);
			free(t);
			fclose(f);
			return -1;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			t = xreallocarray(t, cap, sizeof(*t));
		}
		strlcpy(t[n].name, name, sizeof(t[n].name));
		t[n].role = role_parse(role);
		strlcpy(t[n].hash, hash, sizeof(t[n].hash));
		n++;
	}
	free(line);
	fclose(f);
	pthread_rwlock_wrlock(&lock);
	free(tokens);
	tokens = t;
	ntokens = n;
	pthread_rwlock_unlock(&lock);
	log_info("%zu token%s from %s", n, n == 1 ? "" : "s", path);
	return 0;
}

/* Compare n bytes in time that does not depend on where they differ. */
static int
same_bytes(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

enum api_role
auth_check(const char *authz, const char **who)
{
	char hash[SHA256_DIGEST_STRING_LENGTH];
	static __thread char whobuf[64];
	enum api_role role = ROLE_NONE;
	const char *tok;
	size_t i;

	if (strncasecmp(authz, "Bearer ", 7) != 0)
		return ROLE_NONE;
	tok = authz + 7 + strspn(authz + 7, " ");
	if (*tok == '\0' || strlen(tok) > 512)
		return ROLE_NONE;
	SHA256Data((const uint8_t *)tok, strlen(tok), hash);
	pthread_rwlock_rdlock(&lock);
	/* every entry compared in full: the time taken says nothing of which matched */
	for (i = 0; i < ntokens; i++)
		if (same_bytes(tokens[i].hash, hash, sizeof(hash) - 1) &&
		    role == ROLE_NONE) {
			role = tokens[i].role;
			strlcpy(whobuf, tokens[i].name, sizeof(whobuf));
		}
	pthread_rwlock_unlock(&lock);
	*who = whobuf;
	return role;
}

int
auth_new_token(const char *path, const char *name, const char *role)
{
	unsigned char raw[24];
	char tok[64], hash[SHA256_DIGEST_STRING_LENGTH], line[256];
	size_t i;
	int fd;

	if (!name_ok(name)) {
		fprintf(stderr, "etl-api: bad token name '%s': letters, digits, _ . @ -\n", name);
		return 2;
	}
	if (role_parse(role) == ROLE_NONE) {
		fprintf(stderr, "etl-api: unknown role '%s': want viewer, sender or admin\n", role);
		return 2;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		fprintf(stderr, "etl-api: getrandom: %s\n", strerror(errno));
		return 1;
	}
	strlcpy(tok, "etl_", sizeof(tok));
	for (i = 0; i < sizeof(raw); i++)
		snprintf(tok + 4 + 2 * i, sizeof(tok) - 4 - 2 * i, "%02x", raw[i]);
	SHA256Data((const uint8_t *)tok, strlen(tok), hash);
	snprintf(line, sizeof(line), "%s %s %s\n", name, role, hash);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "etl-api: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	puts(tok);
	return 0;
}
