/*
 * config.h: the controller's configuration file (/etc/etl/etl.conf): `key = value`
 * lines whose keys are the long options without dashes (pg_env, queues, concurrency,
 * log_dir, task_path, user, ...).  They become options placed before the command
 * line's, so flags given on the command line win.
 */
#ifndef ETL_CONTROLLER_CONFIG_H
#define ETL_CONTROLLER_CONFIG_H

/*
 * Read path and return a new argv: argv[0], the file's options, then argv[1..].  *argcp
 * is updated.  On a bad line, prints "FILE:LINE: why" and exits 2.  The caller frees
 * with config_free.
 */
char	**config_argv(const char *path, int *argcp, char **argv);
void	  config_free(char **);
/* Another program's keys (NULL-terminated lists) and name for its messages. */
void	  config_set_keys(const char *prog, const char *const *keys, const char *const *bools);
/*
 * One line: 0 blank or comment, 1 and *opt (caller frees) an option, -1 and *why bad.
 * line is modified.
 */
int	  config_line(char *line, char **opt, const char **why, const char **what);

#endif
