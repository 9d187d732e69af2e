/*
 * cmd_console.c - `console VM`: the terminal becomes the guest's console
 * until Ctrl-].  The log so far comes with the agent's answer to the
 * attach request (so nothing is lost or shown twice between the two);
 * then Notify frames carry new output and each read from the keyboard
 * goes to the guest as a ConsoleReq with input.  A connection of its own:
 * detaching is closing it.  The terminal is raw while attached (Ctrl-C
 * goes to the guest) and restored however the attach ends.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "top.h"

#define DETACH_KEY 0x1d		/* Ctrl-] */
#define INPUT_MAX  512

struct attach {
	struct lvsh *sh;
	const char  *name;
	int          fd;
	uint32_t     seq;
	bool         raw;
	struct termios saved;
};

static void out_bytes(const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(STDOUT_FILENO, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

/* A note from lvsh itself, on its own line even in raw mode. */
static void note(struct attach *a, const char *fmt, const char *arg)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), fmt, a->name, arg);

	if (n > 0)
		out_bytes(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	out_bytes(a->raw ? "\r\n" : "\n", a->raw ? 2 : 1);
}

static void raw_on(struct attach *a)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &a->saved) < 0)
		return;
	t = a->saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST;	/* guest "\n" still starts a line */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0)
		a->raw = true;
}

static void raw_off(struct attach *a)
{
	if (a->raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &a->saved);
	a->raw = false;
}

static int send_console(struct attach *a, const void *input, size_t n,
			bool attach)
{
	Lightvm__Request req = LIGHTVM__REQUEST__INIT;
	Lightvm__ConsoleReq cr = LIGHTVM__CONSOLE_REQ__INIT;

	cr.name = (char *)a->name;
	if (attach) {
		cr.has_attach = 1;
		cr.attach = 1;
	}
	if (n > 0) {
		cr.has_input = 1;
		cr.input.data = (uint8_t *)input;
		cr.input.len = n;
	}
	req.op_case = LIGHTVM__REQUEST__OP_CONSOLE;
	req.console = &cr;
	if (++a->seq == 0)
		++a->seq;
	return lvsh_conn_send(a->fd, a->seq, &req);
}

/* The answer to the attach: the log so far, or why not. */
static int attach_reply(struct attach *a)
{
	Lightvm__Reply *r;
	Lightvm__Notify *n;
	uint32_t seq;
	int rc;

	for (;;) {
		rc = lvsh_conn_recv(a->fd, &seq, &r, &n);
		if (rc < 0) {
			lvsh_err("console", "%s: lost the agent: %s", a->name,
				 strerror(-rc));
			return LVSH_EXIT_UNREACH;
		}
		if (n != NULL) {
			lightvm__notify__free_unpacked(n, NULL);
			continue;
		}
		break;
	}
	if (r->has_err && r->err != 0) {
		lvsh_err("console", "%s", r->message && *r->message ?
			 r->message : strerror(r->err));
		rc = r->err == EOPNOTSUPP ? LVSH_EXIT_FAIL : LVSH_EXIT_FAIL;
	} else {
		if (r->has_log && r->log.len > 0)
			out_bytes(r->log.data, r->log.len);
		rc = LVSH_EXIT_OK;
	}
	lightvm__reply__free_unpacked(r, NULL);
	return rc;
}

/* One frame from the agent.  Returns 1 when the console is over. */
static int from_agent(struct attach *a)
{
	Lightvm__Reply *r;
	Lightvm__Notify *n;
	uint32_t seq;
	int rc;

	rc = lvsh_conn_recv(a->fd, &seq, &r, &n);
	if (rc < 0) {
		note(a, "[%s: lost the agent: %s]", strerror(-rc));
		return 1;
	}
	if (r != NULL) {
		if (r->has_err && r->err != 0)
			note(a, "[%s: input refused: %s]", r->message ?
			     r->message : strerror(r->err));
		lightvm__reply__free_unpacked(r, NULL);
		return 0;
	}
	rc = 0;
	if (n->console_vm != NULL && strcmp(n->console_vm, a->name) == 0) {
		if (n->has_console && n->console.len > 0)
			out_bytes(n->console.data, n->console.len);
		if (n->event != NULL) {
			note(a, "[%s: %s]", n->event->detail && *n->event->detail ?
			     n->event->detail : n->event->kind);
			rc = 1;
		}
	}
	lightvm__notify__free_unpacked(n, NULL);
	return rc;
}

/* Keyboard to guest.  Returns 1 on Ctrl-] or end of input. */
static int from_keyboard(struct attach *a)
{
	char buf[INPUT_MAX], *esc;
	ssize_t n;
	size_t len;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return 1;
	esc = memchr(buf, DETACH_KEY, (size_t)n);
	len = esc ? (size_t)(esc - buf) : (size_t)n;
	if (len > 0 && send_console(a, buf, len, false) < 0)
		return 1;
	return esc != NULL;
}

int lvsh_console_attach(struct lvsh *sh, const char *name)
{
	struct attach a = { .sh = sh, .name = name, .fd = -1 };
	struct pollfd p[2];
	bool input = true;
	int rc, n, linger = 0;

	rc = lvsh_conn_open(sh, "console", &a.fd);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (send_console(&a, NULL, 0, true) < 0) {
		lvsh_err("console", "%s: cannot reach the agent", name);
		close(a.fd);
		return LVSH_EXIT_UNREACH;
	}
	rc = attach_reply(&a);
	if (rc != LVSH_EXIT_OK) {
		close(a.fd);
		return rc;
	}
	raw_on(&a);
	if (a.raw)
		note(&a, "[%s: attached; Ctrl-] detaches]%s", "");
	for (;;) {
		p[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = a.fd, .events = POLLIN };
		/* input ended (a pipe): stay a moment for the echo */
		n = poll(input ? p : p + 1, input ? 2 : 1, input ? -1 : 300);
		if (n < 0 && errno != EINTR)
			break;
		if (lvsh_interrupted && !a.raw)
			break;
		if (n == 0 && !input && ++linger > 0)
			break;
		if (input && (p[0].revents & (POLLIN | POLLHUP)) &&
		    from_keyboard(&a)) {
			if (a.raw || isatty(STDIN_FILENO))
				break;	/* Ctrl-] */
			input = false;
		}
		if ((p[1].revents & (POLLIN | POLLHUP)) && from_agent(&a))
			break;
	}
	if (a.raw)
		note(&a, "[%s: detached]%s", "");
	raw_off(&a);
	close(a.fd);
	return LVSH_EXIT_OK;
}

static int cmd_console(struct lvsh *sh, const struct lvsh_cmd *cmd,
		       const struct lvsh_args *a)
{
	if (*a->argv[0] == '\0') {
		lvsh_err(cmd->name, "VM must not be empty");
		return LVSH_EXIT_USAGE;
	}
	return lvsh_console_attach(sh, a->argv[0]);
}

const struct lvsh_cmd lvsh_cmd_console = {
	.name = "console", .usage = "VM",
	.help = "attach the terminal to a VM's console (Ctrl-] detaches)",
	.fn = cmd_console, .min_args = 1, .max_args = 1,
};
