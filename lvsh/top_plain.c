/*
 * top_plain.c - the live view without curses: plain-text frames, like
 * `top -b`.  On a pipe (or with count=N, --json, --batch) frames are
 * printed as the agent sends them.  When stdin is a terminal that curses
 * cannot drive (TERM=dumb or unset), the terminal is put in
 * non-canonical mode without echo and the view keeps its keys: q and
 * Escape leave, / types a filter (echoed here, applied by Enter, Escape
 * drops it), Enter alone prints a frame now, ? lists the keys.  Lines are
 * cut to the terminal's width so that rows never wrap.  No frame is
 * printed while a filter is being typed.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "top.h"

struct plain {
	bool     keys;		/* stdin is a terminal in non-canonical mode */
	bool     typing;	/* a filter after '/' is being typed */
	bool     now;		/* print a frame at once */
	char     prompt[128];
	uint32_t rows, cols;	/* 0: no limit (a pipe) */
};

static struct termios saved_tio;
static bool tio_saved;

static void tio_restore(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_saved = false;
}

/* Keys one at a time, without echo; 0 or -errno (not a terminal). */
static int tio_raw(void)
{
	struct termios t;
	static bool registered;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -ENOTTY;
	t = saved_tio;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return -errno;
	tio_saved = true;
	if (!registered)
		atexit(tio_restore);
	registered = true;
	return 0;
}

/* Table rows and line width of the output terminal; 0 for a pipe. */
static void plain_size(struct plain *p, FILE *out)
{
	struct winsize ws;
	int fd = fileno(out);

	p->rows = p->cols = 0;
	if (fd < 0 || !isatty(fd))
		return;
	p->rows = 18;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return;
	if (ws.ws_row > 6)
		p->rows = ws.ws_row - 6u;
	/* the last column left free: a terminal without the "pending wrap"
	 * rule moves to the next line when it is written */
	if (ws.ws_col > 1)
		p->cols = ws.ws_col - 1u;
}

static void say(FILE *out, const char *text)
{
	fputs(text, out);
	fflush(out);
}

static void filter_byte(struct plain *p, struct top_model *m, FILE *out,
			unsigned char c)
{
	size_t n = strlen(p->prompt);
	char err[160];

	if (c == 27) {
		p->typing = false;
		say(out, " (dropped)\n");
	} else if (c == '\n' || c == '\r') {
		p->typing = false;
		say(out, "\n");
		if (top_model_set_filter(m, p->prompt, err, sizeof(err)) < 0)
			fprintf(out, "filter: %s\n", err);
		p->now = true;
	} else if ((c == 127 || c == 8) && n > 0) {
		p->prompt[n - 1] = '\0';
		say(out, "\b \b");
	} else if (c >= 32 && c < 127 && n + 1 < sizeof(p->prompt)) {
		p->prompt[n] = (char)c;
		p->prompt[n + 1] = '\0';
		fputc(c, out);
		fflush(out);
	}
}

/* The bytes of one read; returns 1 to leave the view. */
static int plain_keys(struct plain *p, struct top_model *m, FILE *out,
		      const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p->typing) {
			filter_byte(p, m, out, b[i]);
			continue;
		}
		switch (b[i]) {
		case 'q': case 'Q':
			return 1;
		case 27:
			/* Escape alone leaves; an arrow key's sequence
			 * (Escape and more in the same read) is ignored */
			return i + 1 == n;
		case '/':
			p->typing = true;
			p->prompt[0] = '\0';
			say(out, "filter (Enter applies, Escape drops): ");
			break;
		case '\n': case '\r':
			p->now = true;
			break;
		case '?': case 'h':
			say(out, "keys: q or Escape leave, / filter "
			    "(state:S image:I name or glob), Enter prints "
			    "a frame now\n");
			break;
		}
	}
	return 0;
}

static int read_keys(struct plain *p, struct top_model *m, FILE *out)
{
	unsigned char b[64];
	ssize_t n = read(STDIN_FILENO, b, sizeof(b));

	if (n == 0)
		return 1;	/* the terminal is gone */
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	return plain_keys(p, m, out, b, (size_t)n);
}

static void frame(struct lvsh *sh, struct plain *p, struct top_model *m,
		  struct top_feed *f)
{
	if (sh->json) {
		top_print_json(sh->out, m);
		return;
	}
	plain_size(p, sh->out);
	top_print(sh->out, m, f, p->rows, p->cols);
}

int top_plain(struct lvsh *sh, struct top_model *m, struct top_feed *f,
	      uint32_t count, volatile sig_atomic_t *stop)
{
	struct plain p = { .keys = tio_raw() == 0 };
	uint64_t printed = 0, seen = 0;
	struct pollfd pf[2];
	int n, rc = LVSH_EXIT_OK;

	while (!*stop && (count == 0 || printed < count)) {
		pf[0] = (struct pollfd){ .fd = f->fd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		n = poll(pf, p.keys ? 2 : 1, top_feed_timeout(f));
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && p.keys && (pf[1].revents & (POLLIN | POLLHUP)) &&
		    read_keys(&p, m, sh->out))
			break;
		if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP)) &&
		    top_feed_read(f, m) < 0) {
			lvsh_err("top", "%s", f->err);
			rc = LVSH_EXIT_UNREACH;
			break;
		}
		if (!p.typing && f->pending == 0 && (f->rounds != seen || p.now)) {
			seen = f->rounds;
			p.now = false;
			frame(sh, &p, m, f);
			printed++;
		}
		if (top_feed_tick(f, m) < 0) {
			lvsh_err("top", "%s", f->err);
			rc = LVSH_EXIT_UNREACH;
			break;
		}
	}
	tio_restore();
	return rc;
}
