/*
 * client.c - connect to lightvmd, auto-start it, and make calls.
 *
 * The connection is opened lazily by the first command that needs the
 * agent (so `help` works without one) and kept for the rest of the run.
 * Auto-start follows tmux: if nothing listens on the socket, run
 * `lightvmd -S PATH [-D DIR] --daemon` (found next to this binary, else in
 * PATH); the agent's --daemon exits only once its socket listens, so after
 * waitpid() a connect must succeed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "json.h"

static int sock_connect(const char *path, int *fdp)
{
	struct sockaddr_un sa;
	int fd, r, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

/* lightvmd next to our own binary, if there is one there. */
static int agent_beside_us(char *buf, size_t n)
{
	ssize_t r;
	char *slash;

	r = readlink("/proc/self/exe", buf, n - 1);
	if (r <= 0 || (size_t)r >= n - 1)
		return -1;
	buf[r] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL || (size_t)(slash - buf) + sizeof("/lightvmd") > n)
		return -1;
	strcpy(slash, "/lightvmd");
	return access(buf, X_OK);
}

static void describe_status(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d%s", WEXITSTATUS(status),
			 WEXITSTATUS(status) == 127 ? " (not found?)" : "");
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, n, "status 0x%x", (unsigned)status);
}

static void close_pipe(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	p[0] = p[1] = -1;
}

/* The last line the agent wrote at start, without its "lightvmd: "
 * prefix.  The pipe is read without blocking: a detached agent that
 * logs to syslog keeps its end open. */
static void agent_said(int fd, char *buf, size_t n)
{
	char all[4096], *line, *end;
	ssize_t r;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	r = read(fd, all, sizeof(all) - 1);
	all[r > 0 ? r : 0] = 0;
	while ((end = strrchr(all, '\n')) && end[1] == 0)
		*end = 0;
	line = strrchr(all, '\n');
	line = line ? line + 1 : all;
	if (strncmp(line, "lightvmd: ", 10) == 0)
		line += 10;
	for (char *c = line; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	snprintf(buf, n, "%.500s", line);
}

/* Run the agent in --daemon mode and wait for it to say it listens.
 * Returns 0, or -1 with a message in err. */
static int start_agent(struct lvsh *sh, char *err, size_t errlen)
{
	char path[PATH_MAX], how[64], said[512];
	const char *argv[8];
	int argc = 0, status, nul, found, out[2];
	pid_t pid, r;

	found = agent_beside_us(path, sizeof(path)) == 0;
	argv[argc++] = found ? path : "lightvmd";
	argv[argc++] = "-S";
	argv[argc++] = sh->sock_path;
	if (sh->state_dir != NULL) {
		argv[argc++] = "-D";
		argv[argc++] = sh->state_dir;
	}
	argv[argc++] = "--daemon";
	argv[argc] = NULL;
	if (sh->verbose)
		fprintf(stderr, "lvsh: starting %s -S %s%s%s --daemon\n",
			argv[0], sh->sock_path, sh->state_dir ? " -D " : "",
			sh->state_dir ? sh->state_dir : "");
	fflush(NULL);
	if (pipe2(out, O_CLOEXEC) < 0)
		out[0] = out[1] = -1;
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start lightvmd: fork: %s",
			 strerror(errno));
		close_pipe(out);
		return -1;
	}
	if (pid == 0) {
		/* Our stdin may be the script; our stdout the JSON stream.
		 * What the agent says at start reaches us through a pipe. */
		nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		if (out[1] >= 0)
			dup2(out[1], STDERR_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		if (found)
			execv(argv[0], (char *const *)argv);
		else
			execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (out[1] >= 0)
		close(out[1]);
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	said[0] = 0;
	if (out[0] >= 0)
		agent_said(out[0], said, sizeof(said));
	close_pipe(out);
	if (r < 0) {
		snprintf(err, errlen, "cannot start lightvmd: waitpid: %s",
			 strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	describe_status(status, how, sizeof(how));
	if (said[0])
		snprintf(err, errlen, "cannot start agent (%s -S %s --daemon): %s",
			 argv[0], sh->sock_path, said);
	else
		snprintf(err, errlen, "cannot start agent: %s -S %s --daemon: %s",
			 argv[0], sh->sock_path, how);
	return -1;
}

/* Connect to the agent (starting it if allowed) into *fdp. */
static int connect_to_agent(struct lvsh *sh, const char *what, int *fdp)
{
	char err[PATH_MAX + 128];
	int rc;

	rc = sock_connect(sh->sock_path, fdp);
	if (rc == 0)
		return LVSH_EXIT_OK;
	if (!sh->autostart || (rc != -ENOENT && rc != -ECONNREFUSED))
		goto unreachable;
	if (start_agent(sh, err, sizeof(err)) < 0) {
		/* Someone else may have started it meanwhile. */
		if (sock_connect(sh->sock_path, fdp) == 0)
			return LVSH_EXIT_OK;
		lvsh_err(what, "%s", err);
		return LVSH_EXIT_UNREACH;
	}
	rc = sock_connect(sh->sock_path, fdp);
	if (rc == 0)
		return LVSH_EXIT_OK;
unreachable:
	*fdp = -1;
	lvsh_err(what, "cannot connect to %s: %s", sh->sock_path,
		 strerror(-rc));
	return LVSH_EXIT_UNREACH;
}

static int client_connect(struct lvsh *sh, const char *what)
{
	return connect_to_agent(sh, what, &sh->client.fd);
}

int lvsh_conn_open(struct lvsh *sh, const char *what, int *fdp)
{
	return connect_to_agent(sh, what, fdp);
}

int lvsh_conn_send(int fd, uint32_t seq, const Lightvm__Request *req)
{
	size_t len = lightvm__request__get_packed_size(req);
	uint8_t *buf;
	int rc;

	if (len > LV_FRAME_MAX)
		return -EMSGSIZE;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return -ENOMEM;
	lightvm__request__pack(req, buf);
	rc = lv_frame_write(fd, LV_FRAME_REQUEST, seq, buf, (uint32_t)len);
	free(buf);
	return rc;
}

int lvsh_conn_recv(int fd, uint32_t *seq, Lightvm__Reply **reply,
		   Lightvm__Notify **notify)
{
	struct lv_frame_hdr hdr;
	uint8_t *body;
	int rc;

	*reply = NULL;
	*notify = NULL;
	rc = lv_frame_read(fd, &hdr, &body);
	if (rc < 0)
		return rc;
	*seq = hdr.seq;
	if (hdr.type == LV_FRAME_EVENT)
		*notify = lightvm__notify__unpack(NULL, hdr.len, body);
	else if (hdr.type == LV_FRAME_REPLY)
		*reply = lightvm__reply__unpack(NULL, hdr.len, body);
	free(body);
	return *reply == NULL && *notify == NULL ? -EBADMSG : 0;
}

void lvsh_client_close(struct lvsh *sh)
{
	if (sh->client.fd >= 0)
		close(sh->client.fd);
	sh->client.fd = -1;
}

/* A broken connection: report, drop it (the next command reconnects). */
static int io_error(struct lvsh *sh, const char *what, int rc)
{
	lvsh_client_close(sh);
	if (rc == -ECONNRESET || rc == -EPIPE) {
		lvsh_err(what, "lost connection to agent: %s", strerror(-rc));
		return LVSH_EXIT_UNREACH;
	}
	lvsh_err(what, "protocol error: %s", strerror(-rc));
	return LVSH_EXIT_FAIL;
}

static const char *err_text(int err, const char *message)
{
	return message != NULL && *message ? message : strerror(err);
}

static void report_agent_error(struct lvsh *sh, const char *what,
			       const Lightvm__Reply *rep)
{
	struct json j;
	size_t i;

	lvsh_err(what, "%s", err_text(rep->err, rep->message));
	for (i = 0; i < rep->n_failures; i++) {
		if (sh->interactive && i == LVSH_REPL_MAX_FAILURES) {
			lvsh_err(what, "... and %zu more", rep->n_failures - i);
			break;
		}
		lvsh_err(what, "%s: %s", rep->failures[i]->name,
			 err_text(rep->failures[i]->err,
				  rep->failures[i]->message));
	}
	if (!sh->json)
		return;
	json_begin(&j, sh->out);
	json_obj(&j);
	json_ki64(&j, "err", rep->err);
	json_kstr(&j, "message", err_text(rep->err, rep->message));
	json_obj_end(&j);
	json_end(&j);
}

static int send_request(struct lvsh *sh, const char *what,
			const Lightvm__Request *req, uint32_t seq)
{
	size_t len = lightvm__request__get_packed_size(req);
	uint8_t *buf;
	int rc;

	if (len > LV_FRAME_MAX) {
		lvsh_err(what, "request too large (%zu bytes)", len);
		return LVSH_EXIT_FAIL;
	}
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		lvsh_err(what, "%s", strerror(ENOMEM));
		return LVSH_EXIT_FAIL;
	}
	lightvm__request__pack(req, buf);
	rc = lv_frame_write(sh->client.fd, LV_FRAME_REQUEST, seq, buf,
			    (uint32_t)len);
	free(buf);
	return rc < 0 ? io_error(sh, what, rc) : LVSH_EXIT_OK;
}

/* Wait until fd is readable.  In the REPL, Ctrl-C (lvsh_interrupted)
 * gives up: the connection is dropped, so the agent forgets the request's
 * reply (what it started carries on), and the next command reconnects. */
static int wait_readable(struct lvsh *sh, const char *what)
{
	struct pollfd p = { .fd = sh->client.fd, .events = POLLIN };

	for (;;) {
		if (lvsh_interrupted) {
			lvsh_client_close(sh);
			if (sh->interactive)
				fputc('\n', stderr);	/* after the echoed ^C */
			lvsh_err(what, "interrupted (the agent carries on "
				 "with what it started)");
			return LVSH_EXIT_FAIL;
		}
		if (poll(&p, 1, -1) >= 0)
			return LVSH_EXIT_OK;
		if (errno != EINTR)
			return io_error(sh, what, -errno);
	}
}

/* Read frames until the reply to seq; events (sequence 0) are skipped. */
static int read_reply(struct lvsh *sh, const char *what, uint32_t seq,
		      Lightvm__Reply **out)
{
	struct lv_frame_hdr hdr;
	uint8_t *body;
	int rc;

	for (;;) {
		rc = wait_readable(sh, what);
		if (rc != LVSH_EXIT_OK)
			return rc;
		rc = lv_frame_read(sh->client.fd, &hdr, &body);
		if (rc < 0)
			return io_error(sh, what, rc);
		if (hdr.type != LV_FRAME_EVENT)
			break;
		free(body);
	}
	if (hdr.type != LV_FRAME_REPLY || hdr.seq != seq) {
		free(body);
		lvsh_client_close(sh);
		lvsh_err(what, "protocol error: got frame type %u seq %u, "
			 "expected a reply to %u", hdr.type, hdr.seq, seq);
		return LVSH_EXIT_FAIL;
	}
	*out = lightvm__reply__unpack(NULL, hdr.len, body);
	free(body);
	if (*out == NULL) {
		lvsh_client_close(sh);
		lvsh_err(what, "protocol error: malformed reply");
		return LVSH_EXIT_FAIL;
	}
	return LVSH_EXIT_OK;
}

int lvsh_call(struct lvsh *sh, const char *what, const Lightvm__Request *req,
	      Lightvm__Reply **reply)
{
	Lightvm__Reply *rep = NULL;
	struct timespec t0, t1;
	uint32_t seq;
	int rc;

	*reply = NULL;
	if (sh->client.fd < 0) {
		rc = client_connect(sh, what);
		if (rc != LVSH_EXIT_OK)
			return rc;
	}
	seq = ++sh->client.seq;
	if (seq == 0)			/* 0 is the events' sequence */
		seq = ++sh->client.seq;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = send_request(sh, what, req, seq);
	if (rc != LVSH_EXIT_OK)
		return rc;
	rc = read_reply(sh, what, seq, &rep);
	if (rc != LVSH_EXIT_OK)
		return rc;
	if (sh->timing) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		fprintf(stderr, "lvsh: %s: %.3f ms (request written -> reply read)\n", what,
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	}
	if (rep->has_err && rep->err != 0) {
		report_agent_error(sh, what, rep);
		lightvm__reply__free_unpacked(rep, NULL);
		return LVSH_EXIT_FAIL;
	}
	*reply = rep;
	return LVSH_EXIT_OK;
}
