/*
 * error.c: filling a caller's etl_error.  libetl reports, it never prints or exits.
 */
#include <stdarg.h>
#include <string.h>

#include "internal.h"

void
etl_error_clear(etl_error *err)
{
	if (err == NULL)
		return;
	err->code = ETL_EOK;
	err->sqlstate[0] = '\0';
	err->message[0] = '\0';
}

void
etl__err(etl_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = code;
	err->sqlstate[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* Map a SQLSTATE to our codes: the ET0xx states come from the schema's triggers. */
static int
code_of_sqlstate(const char *st)
{
	if (st == NULL)
		return ETL_EDB;
	if (strcmp(st, "ET002") == 0)
		return ETL_EDONE;
	if (strcmp(st, "ET001") == 0)
		return ETL_ENOTFOUND;
	if (strcmp(st, "ET013") == 0)	/* a job still stopping: a state, not bad usage */
		return ETL_EDB;
	if (strncmp(st, "ET", 2) == 0)
		return ETL_EINVAL;
	if (strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0 || strcmp(st, "42883") == 0)
		return ETL_ESCHEMA;
	if (strncmp(st, "22", 2) == 0 || strcmp(st, "23514") == 0 || strcmp(st, "23502") == 0)
		return ETL_EINVAL;
	if (strcmp(st, "23503") == 0)
		return ETL_ENOTFOUND;
	return ETL_EDB;
}

void
etl__err_pg(etl_error *err, const PGresult *res, PGconn *pg, const char *what)
{
	const char *msg = NULL, *st = NULL;
	size_t len;

	if (err == NULL)
		return;
	if (res != NULL) {
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	}
	if (msg == NULL && pg != NULL)
		msg = PQerrorMessage(pg);
	if (msg == NULL || *msg == '\0')
		msg = "unknown database error";
	err->code = code_of_sqlstate(st);
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", st ? st : "");
	if (err->code == ETL_ESCHEMA && st != NULL && strcmp(st, "42P01") == 0)
		snprintf(err->message, sizeof(err->message),
		    "%s: the etl schema is missing or incomplete (%s); run `etl migrate`",
		    what, msg);
	else
		snprintf(err->message, sizeof(err->message), "%s: %s", what, msg);
	/* libpq messages end in a newline; one-line errors do not */
	len = strlen(err->message);
	while (len > 0 && (err->message[len - 1] == '\n' || err->message[len - 1] == ' '))
		err->message[--len] = '\0';
}

int
etl_error_exit_status(const etl_error *err)
{
	switch (err->code) {
	case ETL_EOK:
		return 0;
	case ETL_EINVAL:
		return 2;
	case ETL_ENOTFOUND:
		return 3;
	default:
		return 1;
	}
}
