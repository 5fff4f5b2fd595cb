/*
 * noop: the benchmark's detached no-op task.  Exits 0 at once without reading its
 * INITIAL; the controller records its FINAL (a null payload), as for any program.
 */
int
main(void)
{
	return 0;
}
