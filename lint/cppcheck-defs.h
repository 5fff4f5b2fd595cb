/*
 * cppcheck-defs.h: what cppcheck cannot see from system headers it does not read: the
 * BSD queue macros (libbsd) and cJSON's loop macro, so the files using them parse.  Used
 * only by `make lint` (--include=).
 */
#define TAILQ_HEAD(name, type) struct name { struct type *tqh_first; struct type **tqh_last; }
#define TAILQ_ENTRY(type) struct { struct type *tqe_next; struct type **tqe_prev; }
#define TAILQ_FIRST(head) ((head)->tqh_first)
#define TAILQ_EMPTY(head) ((head)->tqh_first == NULL)
#define TAILQ_FOREACH(var, head, field) \
	for ((var) = (head)->tqh_first; (var); (var) = (var)->field.tqe_next)
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = (head)->tqh_first; (var) && ((tvar) = (var)->field.tqe_next, 1); (var) = (tvar))
#define SLIST_HEAD(name, type) struct name { struct type *slh_first; }
#define SLIST_ENTRY(type) struct { struct type *sle_next; }
#define SLIST_FIRST(head) ((head)->slh_first)
#define SLIST_FOREACH(var, head, field) \
	for ((var) = (head)->slh_first; (var); (var) = (var)->field.sle_next)
#define cJSON_ArrayForEach(element, array) \
	for ((element) = ((array) != NULL) ? (array)->child : NULL; (element) != NULL; \
	    (element) = (element)->next)
