// SPDX-License-Identifier: GPL-2.0-only
/*
 * tool_cluster_fill - fill a cluster bucket with COUNT verdicts of a node
 * that does not exist, fast (asynchronous JetStream publishes), for the
 * resync benchmark: how long a fresh node takes to hold them all.
 *
 *   tool_cluster_fill URL BUCKET NODE COUNT
 *
 * The verdicts are /32s in 100.0.0.0/8 (no traffic is ever sent to them:
 * they are rule-table entries), an hour left, written two minutes ago as far
 * as their "at" says (a resync, not news: the receiving breaker lets them
 * through, as it would a real resync). Prints the time the writes took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <nats/nats.h>

#include "mtaguard.h"
#include "mg_cluster_codec.h"

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int die(const char *what, natsStatus s)
{
	fprintf(stderr, "tool_cluster_fill: %s: %s\n", what, natsStatus_GetText(s));
	return 1;
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	jsOptions jo;
	natsStatus s;

	if (argc != 5 || atol(argv[4]) <= 0 || atol(argv[4]) > (1L << 24)) {
		fprintf(stderr, "usage: %s URL BUCKET NODE COUNT (1..16777216)\n", argv[0]);
		return 2;
	}
	unsigned long count = (unsigned long)atol(argv[4]);
	if ((s = natsConnection_ConnectTo(&nc, argv[1])) != NATS_OK)
		return die("connecting", s);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4096;
	if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		return die("JetStream", s);
	if ((s = js_KeyValue(&kv, js, argv[2])) == NATS_NOT_FOUND) {
		kvConfig kc;
		kvConfig_Init(&kc);
		kc.Bucket = argv[2];
		kc.History = 1;
		s = js_CreateKeyValue(&kv, js, &kc);
	}
	if (s != NATS_OK)
		return die("the bucket", s);

	uint64_t t0 = wall_ns();
	for (unsigned long i = 0; i < count; i++) {
		struct mg_cl_entry e = { .kind = MG_CL_VERDICT, .action = MG_ACT_DROP_SMTP };
		char key[MG_CL_KEY_MAX], subj[MG_CL_KEY_MAX + 80], value[MG_CL_VALUE_MAX];
		snprintf(e.node, sizeof(e.node), "%s", argv[3]);
		mg_addr_from_v4(e.prefix.addr, htonl(0x64000000u | (uint32_t)(i + 1)));
		e.prefix.prefixlen = 128;
		e.expires_wall = t0 + 3600 * 1000000000ull;
		e.at_wall = t0 - 120 * 1000000000ull;
		snprintf(e.why, sizeof(e.why), "bench");
		if (mg_cl_key(&e, key, sizeof(key)) || mg_cl_value(&e, value, sizeof(value)))
			return die("encoding", NATS_ERR);
		/* A key-value put is a publish to $KV.BUCKET.KEY. */
		snprintf(subj, sizeof(subj), "$KV.%s.%s", argv[2], key);
		if ((s = js_PublishAsync(js, subj, value, (int)strlen(value), NULL)) != NATS_OK)
			return die("publishing", s);
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = 120000;
	if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
		return die("waiting for the acknowledgements", s);
	printf("wrote %lu entries in %.2f s\n", count, (double)(wall_ns() - t0) / 1e9);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return 0;
}
