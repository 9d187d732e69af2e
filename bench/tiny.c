/* tiny.c - the fork+exec baseline: a tiny static program that prints one
 * line and exits (built with -static by scripts/bench-spawn). */
#include <unistd.h>
int main(void)
{
	return write(1, "ready\n", 6) == 6 ? 0 : 1;
}
