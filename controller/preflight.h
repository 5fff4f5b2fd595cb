/*
 * preflight.h: the controller's first checks: that its own pg_env gives it sessions
 * (no transaction pooler), and, as root, that the user its tasks run as can reach the
 * pg_env with the environment tasks get.
 */
#ifndef ETL_PREFLIGHT_H
#define ETL_PREFLIGHT_H

/*
 * Connect to pg_env as user (a child process with the task's environment and ids): 0
 * when it can, or when we cannot either (the database is down: nothing to decide);
 * else -1 with what to change in why.
 */
int	preflight_task_user(const char *pg_env, const char *user, char *why, size_t whysz);

/*
 * Our pg_env must give us sessions of our own (LISTEN and our liveness lock live on
 * them): -1 with why when it reaches PostgreSQL through a transaction pooler; 0 when
 * it does not, or when it cannot be asked now (the database is down).
 */
int	preflight_session(const char *pg_env, char *why, size_t whysz);

#endif
