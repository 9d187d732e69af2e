/*
 * json.h - a small streaming JSON writer for --json output.
 *
 * The writer tracks commas itself: callers emit keys and values in order.
 * Strings are escaped per RFC 8259 and always come out as valid UTF-8
 * (bytes that are not UTF-8, as a guest's console may hold, become
 * U+FFFD), so any JSON parser accepts the output.
 */
#ifndef LVSH_JSON_H
#define LVSH_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	int   depth;
	int   need_comma[JSON_MAX_DEPTH];
	int   after_key;
};

void json_begin(struct json *j, FILE *f);
void json_end(struct json *j);		/* newline, flush */

void json_obj(struct json *j);
void json_obj_end(struct json *j);
void json_arr(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);

void json_str(struct json *j, const char *s);	/* NULL -> null */
void json_strn(struct json *j, const void *s, size_t len);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
void json_double(struct json *j, double v);	/* %.2f; NaN -> null */
void json_bool(struct json *j, int v);
void json_null(struct json *j);

/* key + value in one call */
void json_kstr(struct json *j, const char *key, const char *s);
void json_ku64(struct json *j, const char *key, uint64_t v);
void json_ki64(struct json *j, const char *key, int64_t v);
void json_kdouble(struct json *j, const char *key, double v);
void json_kbool(struct json *j, const char *key, int v);

#endif
