/*
 * stats_prom.h - `lvsh stats --prometheus`: a stats report in the
 * Prometheus text format, written by proto/prom.c as lightvmd's metrics
 * listener writes it.
 */
#ifndef LVSH_STATS_PROM_H
#define LVSH_STATS_PROM_H

#include <stdio.h>

#include "lightvm.pb-c.h"

/* Host, pools and (unless host_only) the VMs of st to out; 0 or -ENOMEM. */
int lvsh_stats_prom(FILE *out, const Lightvm__Stats *st, int host_only);

#endif
