// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_policy_stream.c - the policy protocol reader (mg_policy_answer) on
 * any byte stream, arriving in pieces the input chooses, its answers taken
 * in pieces too. Whatever comes in: nothing is read or written past a
 * buffer, every answer is a whole "action=TEXT\n\n" with no control byte in
 * TEXT, each request gets exactly one, and "no room" is said only when
 * there is none.
 *
 * Input: byte 0 sets the answers allowed per call (1..16, as the server's
 * batch), then operations, one byte each (and their operands):
 *   00nnnnnn  the next n+1 bytes arrive
 *   01nnnnnn  the next byte arrives (n+1)*128 times (lines and requests too long)
 *   10xxxxxx  the reader takes every answer sent so far
 *   11xxxxxx  the reader takes half of them (an answer may be cut in two)
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_policyd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Actions that test the answer's limits: as long as allowed, and with the request's bytes in them. */
static void decide(const struct mg_policy_request *r, char *action, size_t len, void *arg)
{
	(void)arg;
	if (r->sender[0] == 'L')
		memset(action, 'x', len); /* no terminator either: the reader must cope */
	else if (r->sender[0])
		snprintf(action, len, "HOLD %s %s", r->client_address, r->helo_name);
	else
		snprintf(action, len, "DUNNO");
}

/* What the reader has seen of the answers: where it is in the current one. */
struct reader {
	enum { PREFIX, TEXT, END } state;
	size_t prefix;      /* bytes of "action=" seen */
	uint64_t answers;
};

static void take(struct mg_policy_stream *s, size_t n, struct reader *rd)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s->out[s->outoff + i];
		switch (rd->state) {
		case PREFIX:
			assert(c == (unsigned char)"action="[rd->prefix]);
			if (++rd->prefix == 7)
				rd->state = TEXT;
			break;
		case TEXT:
			if (c == '\n') {
				rd->state = END;
				break;
			}
			assert(c >= 0x20 && c != 0x7f);
			break;
		case END:
			assert(c == '\n');
			rd->state = PREFIX;
			rd->prefix = 0;
			rd->answers++;
			break;
		}
	}
	s->outoff += n;
}

/* Answer what there is to answer; false once the stream has ended (oversized). */
static bool answer(struct mg_policy_stream *s, unsigned batch, struct mg_policyd_stats *st, struct reader *rd)
{
	for (;;) {
		unsigned n = 0;
		enum mg_policy_progress p = mg_policy_answer(s, batch, st, decide, NULL, &n);
		assert(s->outoff <= s->outlen && s->outlen <= MG_POLICYD_OUT_SIZE);
		assert(s->inlen <= MG_POLICYD_MAX_REQUEST);
		assert(n <= batch);
		switch (p) {
		case MG_POLICY_NEED_INPUT:
			assert(s->inlen < MG_POLICYD_MAX_REQUEST);
			return true;
		case MG_POLICY_OVERSIZED:
			assert(s->inlen == 0);
			return false;
		case MG_POLICY_OUTPUT_FULL:
			/* "No room" only when the unsent answers leave less than the longest one. */
			assert(s->outlen - s->outoff > MG_POLICYD_OUT_SIZE - MG_POLICYD_MAX_ANSWER);
			take(s, s->outlen - s->outoff, rd);
			break;
		case MG_POLICY_YIELD:
			assert(n == batch);
			break;
		}
	}
}

/* n bytes arrive, as much at a time as the reader's buffer takes. */
static bool arrive(struct mg_policy_stream *s, const uint8_t *b, size_t n, int fill, unsigned batch,
		   struct mg_policyd_stats *st, struct reader *rd)
{
	while (n) {
		size_t k = MG_POLICYD_MAX_REQUEST - s->inlen < n ? MG_POLICYD_MAX_REQUEST - s->inlen : n;
		if (fill >= 0) {
			memset(s->in + s->inlen, fill, k);
		} else {
			memcpy(s->in + s->inlen, b, k);
			b += k;
		}
		s->inlen += k;
		n -= k;
		if (!answer(s, batch, st, rd))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_policyd_stats st = { 0 };
	struct reader rd = { 0 };
	/* Exactly the sizes the server allocates, so a byte past them is a finding. */
	struct mg_policy_stream s = { .in = malloc(MG_POLICYD_MAX_REQUEST), .out = malloc(MG_POLICYD_OUT_SIZE) };
	bool open = true;

	if (!size)
		goto out;
	unsigned batch = data[0] % MG_POLICYD_BATCH + 1;
	for (size_t i = 1; i < size && open;) {
		uint8_t op = data[i++];
		size_t n = (op & 0x3f) + 1u;
		switch (op >> 6) {
		case 0:
			n = n < size - i ? n : size - i;
			open = arrive(&s, data + i, n, -1, batch, &st, &rd);
			i += n;
			break;
		case 1:
			if (i < size)
				open = arrive(&s, NULL, n * 128, data[i++], batch, &st, &rd);
			break;
		case 2:
			take(&s, s.outlen - s.outoff, &rd);
			break;
		case 3:
			take(&s, (s.outlen - s.outoff) / 2, &rd);
			break;
		}
	}
	/* Everything answered is taken: one whole answer per request, none cut short. */
	take(&s, s.outlen - s.outoff, &rd);
	assert(rd.state == PREFIX && rd.prefix == 0);
	assert(rd.answers == st.requests);
	assert(st.malformed + st.oversized <= st.requests);
out:
	free(s.in);
	free(s.out);
	return 0;
}
