/*
 * agent.h - what lightvmd's files share: the event loop, the clients of
 * the control socket, the request handlers and the waiters that let a
 * reply wait for VM events (spawn --wait, destroy).
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "lightvm.h"
#include "lightvm.pb-c.h"

/* ---- loop.c: epoll with a callback per fd */
typedef void (*loop_cb)(void *arg, int fd, uint32_t events);
int  loop_init(void);
int  loop_add(int fd, uint32_t events, loop_cb cb, void *arg);
int  loop_mod(int fd, uint32_t events);
void loop_del(int fd);
/* Wait up to timeout_ms and dispatch; returns -errno on failure. */
int  loop_run_once(int timeout_ms);
extern const struct lv_loop loop_for_core;

/* ---- log.c */
void alog(enum lv_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void alog_setup(bool debug, bool use_syslog);

/* ---- control.c: the control socket */
struct client;
int  control_listen(const char *path, char *err, size_t errlen);
void control_close(void);
/* Queue a reply frame for c (takes nothing; packs msg). */
void client_reply(struct client *c, uint32_t seq, const Lightvm__Reply *msg);
void client_reply_err(struct client *c, uint32_t seq, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool client_alive(const struct client *c);
void client_ref(struct client *c);
void client_unref(struct client *c);
/* An EVENT frame (sequence 0) carrying n. */
void client_notify(struct client *c, const Lightvm__Notify *n);
/* Bytes queued for c and not yet sent. */
size_t client_pending(const struct client *c);

/* ---- handlers.c */
extern struct lv_host *g_host;
void handle_request(struct client *c, uint32_t seq, const Lightvm__Request *rq);
void handlers_event(struct lv_vm *vm, enum lv_event ev);
void handlers_tick(void);
/* Destroy every VM and wait (bounded) until they are gone. */
void handlers_destroy_all_sync(int timeout_ms);

/* ---- console_attach.c: ConsoleReq (attach, input, detach) */
void console_request(struct client *c, uint32_t seq, const Lightvm__ConsoleReq *r);
void console_tick(void);       /* every loop tick */

#endif
