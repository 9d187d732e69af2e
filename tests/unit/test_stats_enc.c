/*
 * test_stats_enc.c - proto/stats_enc.c: Notify{stats} bodies built from
 * kept VmInfo entries decode with protobuf-c to exactly what was put in,
 * field by field (uptime_ns appended to a cached entry, entries packed on
 * the spot, the host, lengths that take several varint bytes, bodies
 * past the first buffer); the tags are the generated descriptors' (the
 * same bytes protobuf-c's own packer writes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stats_enc.h"

static void fill_vm(Lightvm__VmInfo *m, Lightvm__Phase *ph, Lightvm__Phase **php, unsigned i,
		    const char *name)
{
	lightvm__vm_info__init(m);
	m->name = (char *)name;
	m->id = 1000 + i;
	m->state = (char *)(i % 2 ? "running" : "crashed");
	m->image = (char *)"/images/noop";
	m->mem_bytes = (uint64_t)(4 + 2 * i) << 20;
	m->vcpus = 1;
	m->has_pid = true;
	m->pid = 4000 + (int32_t)i;
	if (i % 2 == 0)
		m->reason = (char *)"triple fault";
	m->has_exit_code = true;
	m->exit_code = -(int64_t)i;
	m->has_pooled = true;
	m->pooled = i % 3 == 0;
	lightvm__phase__init(ph);
	ph->name = (char *)"ready";
	ph->t_ns = 123456789012345ll + i;
	php[0] = ph;
	m->n_phases = 1;
	m->phases = php;
	m->has_console_bytes = true;
	m->console_bytes = 77 * i;
	m->has_spawn_ns = true;
	m->spawn_ns = 250000 + i;
	m->has_cpu_ns = true;
	m->cpu_ns = 1ull << 35 | i;
	m->has_cpu_pct = true;
	m->cpu_pct = 12.5 + i;
	m->has_rss_bytes = true;
	m->rss_bytes = 3u << 20;
	m->has_net_rx_packets = m->has_net_rx_bytes = true;
	m->has_net_tx_packets = m->has_net_tx_bytes = true;
	m->net_rx_packets = 1 + i;
	m->net_rx_bytes = 100 + i;
	m->net_tx_packets = 2 + i;
	m->net_tx_bytes = 200 + i;
	m->mac = (char *)"02:4c:56:00:00:02";
	m->ipv4 = (char *)"10.77.0.2";
}

static void same_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* every field of VmInfo, with the uptime the body should carry */
static void same_vm(const Lightvm__VmInfo *got, const Lightvm__VmInfo *want, bool has_up,
		    uint64_t up)
{
	same_str(got->name, want->name);
	assert_int_equal(got->id, want->id);
	same_str(got->state, want->state);
	same_str(got->image, want->image);
	assert_int_equal(got->mem_bytes, want->mem_bytes);
	assert_int_equal(got->vcpus, want->vcpus);
	assert_int_equal(got->has_pid, want->has_pid);
	assert_int_equal(got->pid, want->pid);
	same_str(got->reason, want->reason);
	assert_int_equal(got->has_exit_code, want->has_exit_code);
	assert_int_equal(got->exit_code, want->exit_code);
	assert_int_equal(got->has_uptime_ns, has_up);
	if (has_up)
		assert_int_equal(got->uptime_ns, up);
	assert_int_equal(got->has_pooled, want->has_pooled);
	assert_int_equal(got->pooled, want->pooled);
	assert_int_equal(got->n_phases, want->n_phases);
	for (size_t k = 0; k < got->n_phases; k++) {
		same_str(got->phases[k]->name, want->phases[k]->name);
		assert_int_equal(got->phases[k]->t_ns, want->phases[k]->t_ns);
	}
	assert_int_equal(got->has_console_bytes, want->has_console_bytes);
	assert_int_equal(got->console_bytes, want->console_bytes);
	assert_int_equal(got->has_spawn_ns, want->has_spawn_ns);
	assert_int_equal(got->spawn_ns, want->spawn_ns);
	assert_int_equal(got->has_cpu_ns, want->has_cpu_ns);
	assert_int_equal(got->cpu_ns, want->cpu_ns);
	assert_int_equal(got->has_cpu_pct, want->has_cpu_pct);
	assert_true(got->cpu_pct == want->cpu_pct);
	assert_int_equal(got->has_rss_bytes, want->has_rss_bytes);
	assert_int_equal(got->rss_bytes, want->rss_bytes);
	assert_int_equal(got->net_rx_packets, want->net_rx_packets);
	assert_int_equal(got->net_rx_bytes, want->net_rx_bytes);
	assert_int_equal(got->net_tx_packets, want->net_tx_packets);
	assert_int_equal(got->net_tx_bytes, want->net_tx_bytes);
	same_str(got->mac, want->mac);
	same_str(got->ipv4, want->ipv4);
}

static void fill_host(Lightvm__HostInfo *hi, uint32_t *bys)
{
	lightvm__host_info__init(hi);
	hi->driver = (char *)"kvm";
	hi->hostname = (char *)"";
	hi->vms = 3;
	for (int k = 0; k < 7; k++)
		bys[k] = (uint32_t)k;
	hi->n_by_state = 7;
	hi->by_state = bys;
	hi->has_ncpus = true;
	hi->ncpus = 2;
	hi->has_host_cpu_pct = true;
	hi->host_cpu_pct = 33.25;
	hi->has_mem_total = true;
	hi->mem_total = 8ull << 30;
	hi->has_agent_rss = true;
	hi->agent_rss = 9u << 20;
}

static void same_host(const Lightvm__HostInfo *got, const Lightvm__HostInfo *want)
{
	same_str(got->driver, want->driver);
	same_str(got->hostname, want->hostname);
	assert_int_equal(got->vms, want->vms);
	assert_int_equal(got->n_by_state, want->n_by_state);
	assert_memory_equal(got->by_state, want->by_state, want->n_by_state * sizeof(uint32_t));
	assert_int_equal(got->ncpus, want->ncpus);
	assert_true(got->host_cpu_pct == want->host_cpu_pct);
	assert_int_equal(got->mem_total, want->mem_total);
	assert_int_equal(got->agent_rss, want->agent_rss);
	assert_int_equal(got->has_agent_cpu_pct, want->has_agent_cpu_pct);
}

static size_t pack_vm(const Lightvm__VmInfo *m, uint8_t **out)
{
	size_t n = lightvm__vm_info__get_packed_size(m);

	*out = malloc(n);
	assert_non_null(*out);
	assert_int_equal(lightvm__vm_info__pack(m, *out), n);
	return n;
}

static void test_fields_roundtrip(void **state)
{
	struct stats_enc e = { 0 };
	Lightvm__VmInfo vm[3];
	Lightvm__Phase ph[3], *php[3][1];
	Lightvm__HostInfo hi;
	uint32_t bys[7];
	uint8_t *pk0, *pk2;
	size_t n0, n2, len;
	const uint8_t *body;
	Lightvm__Notify *n;
	char longname[300];

	memset(longname, 'x', sizeof(longname) - 1);   /* entry length takes 2 varint bytes */
	longname[sizeof(longname) - 1] = 0;
	fill_vm(&vm[0], &ph[0], php[0], 0, "noop-1");
	fill_vm(&vm[1], &ph[1], php[1], 1, "noop-2");
	fill_vm(&vm[2], &ph[2], php[2], 2, longname);
	vm[1].has_uptime_ns = true;        /* packed on the spot, uptime inside */
	vm[1].uptime_ns = 42;
	fill_host(&hi, bys);
	n0 = pack_vm(&vm[0], &pk0);
	n2 = pack_vm(&vm[2], &pk2);

	for (int round = 0; round < 2; round++) {   /* the buffer is kept */
		stats_enc_begin(&e);
		assert_true(stats_enc_vm_packed(&e, pk0, n0, true, (1ull << 40) + 5));
		assert_true(stats_enc_vm(&e, &vm[1]));
		assert_true(stats_enc_vm_packed(&e, pk2, n2, false, 0));
		assert_true(stats_enc_host(&e, &hi));
		body = stats_enc_finish(&e, &len);

		n = lightvm__notify__unpack(NULL, len, body);
		assert_non_null(n);
		assert_null(n->event);
		assert_null(n->console_vm);
		assert_non_null(n->stats);
		assert_int_equal(n->stats->n_vms, 3);
		same_vm(n->stats->vms[0], &vm[0], true, (1ull << 40) + 5);
		same_vm(n->stats->vms[1], &vm[1], true, 42);
		same_vm(n->stats->vms[2], &vm[2], false, 0);
		assert_non_null(n->stats->host);
		same_host(n->stats->host, &hi);
		lightvm__notify__free_unpacked(n, NULL);
	}
	free(pk0);
	free(pk2);
	stats_enc_free(&e);
}

/* the same bytes as protobuf-c's packer for the same message */
static void test_same_as_protobuf_c(void **state)
{
	struct stats_enc e = { 0 };
	Lightvm__Notify no = LIGHTVM__NOTIFY__INIT;
	Lightvm__Stats st = LIGHTVM__STATS__INIT;
	Lightvm__VmInfo vm, *vp[1] = { &vm };
	Lightvm__Phase ph, *php[1];
	Lightvm__HostInfo hi;
	uint32_t bys[7];
	uint8_t want[4096];
	const uint8_t *body;
	size_t wlen, len;

	fill_vm(&vm, &ph, php, 1, "noop-9");
	vm.has_uptime_ns = true;
	vm.uptime_ns = 99;
	fill_host(&hi, bys);
	st.n_vms = 1;
	st.vms = vp;
	st.host = &hi;
	no.stats = &st;
	wlen = lightvm__notify__pack(&no, want);
	stats_enc_begin(&e);
	assert_true(stats_enc_vm(&e, &vm));
	assert_true(stats_enc_host(&e, &hi));
	body = stats_enc_finish(&e, &len);
	assert_int_equal(len, wlen);
	assert_memory_equal(body, want, wlen);
	stats_enc_free(&e);
}

/* 5,000 entries: the body outgrows its first buffer, every entry arrives */
static void test_many(void **state)
{
	struct stats_enc e = { 0 };
	Lightvm__VmInfo vm;
	Lightvm__Phase ph, *php[1];
	Lightvm__HostInfo hi;
	uint32_t bys[7];
	uint8_t *pk;
	size_t n, len;
	const uint8_t *body;
	Lightvm__Notify *no;

	fill_vm(&vm, &ph, php, 3, "many");
	fill_host(&hi, bys);
	n = pack_vm(&vm, &pk);
	stats_enc_begin(&e);
	for (unsigned i = 0; i < 5000; i++)
		assert_true(stats_enc_vm_packed(&e, pk, n, i % 2, i));
	assert_true(stats_enc_host(&e, &hi));
	body = stats_enc_finish(&e, &len);
	assert_true(len > 65536);
	no = lightvm__notify__unpack(NULL, len, body);
	assert_non_null(no);
	assert_int_equal(no->stats->n_vms, 5000);
	for (unsigned i = 0; i < 5000; i++)
		same_vm(no->stats->vms[i], &vm, i % 2, i);
	lightvm__notify__free_unpacked(no, NULL);
	free(pk);
	stats_enc_free(&e);
}

/* the tags are protobuf-c's: its packer's first byte for Notify.stats */
static void test_tags(void **state)
{
	Lightvm__Notify no = LIGHTVM__NOTIFY__INIT;
	Lightvm__Stats st = LIGHTVM__STATS__INIT;
	uint8_t buf[16];

	no.stats = &st;
	assert_int_equal(lightvm__notify__pack(&no, buf), 2);
	assert_int_equal(stats_enc_tag(&lightvm__notify__descriptor, "stats"), buf[0]);
	assert_int_equal(stats_enc_tag(&lightvm__stats__descriptor, "nonesuch"), 0);
}

/* an empty body is an empty Stats */
static void test_empty(void **state)
{
	struct stats_enc e = { 0 };
	const uint8_t *body;
	Lightvm__Notify *n;
	size_t len;

	stats_enc_begin(&e);
	body = stats_enc_finish(&e, &len);
	n = lightvm__notify__unpack(NULL, len, body);
	assert_non_null(n);
	assert_non_null(n->stats);
	assert_int_equal(n->stats->n_vms, 0);
	lightvm__notify__free_unpacked(n, NULL);
	stats_enc_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_roundtrip),
		cmocka_unit_test(test_same_as_protobuf_c),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
