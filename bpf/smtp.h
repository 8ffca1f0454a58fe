/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * smtp.h - recognising SMTP client commands and server replies in a single
 * TCP segment, without reassembly.
 *
 * A client segment is read from its first byte: if that line is a command we
 * count it and go on to the next line (pipelining, RFC 2920), up to
 * MG_SCAN_LINES lines and MG_LINE_WORDS*8 bytes per line. If the first line is
 * not a command (message body, TLS records, AUTH credentials) we stop at once,
 * so bulk mail data costs one classification. The grammar is strict (MAIL must
 * be followed by " FROM:", RCPT by " TO:", DATA by the end of the line ...) so
 * body text that happens to begin with "Data" or "Mail" is not counted.
 * A command split inside its verb across two segments is missed; one split
 * after the verb is counted once, from its first segment.
 */
#ifndef MG_BPF_SMTP_H
#define MG_BPF_SMTP_H

#include "mtaguard.h"
#include "parse.h"

#define MG_SCAN_LINES 8  /* commands looked at per segment */
#define MG_LINE_WORDS 32 /* 8-byte words scanned for the end of one line */

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "command words below are spelled little-endian"
#endif
#define MG_W4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)
#define MG_FOLD4 0x20202020u /* ASCII letters to lower case; no non-letter becomes a letter */

/* A command's verb position in the segment, for the HELO and MAIL arguments. */
struct mg_cmd_scan {
	__u8 count[MG_CMD_MAX];
	__u8 total;
	__u8 helo_kind;   /* MG_CMD_HELO or MG_CMD_EHLO if one was seen, else MG_CMD_MAX */
	__u16 helo_off;   /* offset just past the HELO/EHLO verb (the argument follows its spaces) */
	__u32 helo_line;  /* the first HELO/EHLO line's hash (mg_next_line), if helo_kind is one */
	__u16 mail_off;   /* offset of the first MAIL command's argument (after "FROM:"), if count[MG_CMD_MAIL] */
	__u32 cursor;     /* scan position, kept in memory on purpose (see mg_smtp_scan) */
	__u16 kinds;      /* bit k set: count[k] is nonzero */
	__u8 n_kinds;     /* kinds seen, in kind[] in the order first seen: the profile adds only those */
	__u8 kind[MG_SCAN_LINES];
};

static __always_inline int mg_is_eol(__u8 c)
{
	return c == '\r' || c == '\n';
}

/*
 * Classify the line at `pos`; `left` is how many payload bytes remain there.
 * Returns enum mg_cmd, or -1 if the line is not a command we know.
 * *stop is set when what follows the command is message data (DATA, BDAT).
 */
static __always_inline int mg_smtp_classify(__u8 *pos, void *data_end, __u32 left, int *stop)
{
	if (left < 5 || (void *)(pos + 5) > data_end)
		return -1;
	__u32 verb = *(__u32 *)pos | MG_FOLD4;
	__u8 c5 = pos[4];

	switch (verb) {
	case MG_W4('h', 'e', 'l', 'o'):
		return (c5 == ' ' || mg_is_eol(c5)) ? MG_CMD_HELO : -1;
	case MG_W4('e', 'h', 'l', 'o'):
		return (c5 == ' ' || mg_is_eol(c5)) ? MG_CMD_EHLO : -1;
	case MG_W4('d', 'a', 't', 'a'):
		*stop = 1;
		return mg_is_eol(c5) ? MG_CMD_DATA : -1;
	case MG_W4('r', 's', 'e', 't'):
		return (mg_is_eol(c5) || c5 == ' ') ? MG_CMD_RSET : -1;
	case MG_W4('q', 'u', 'i', 't'):
		return (mg_is_eol(c5) || c5 == ' ') ? MG_CMD_QUIT : -1;
	case MG_W4('a', 'u', 't', 'h'):
		return c5 == ' ' ? MG_CMD_AUTH : -1;
	case MG_W4('n', 'o', 'o', 'p'):
	case MG_W4('h', 'e', 'l', 'p'):
	case MG_W4('t', 'u', 'r', 'n'):
		return (mg_is_eol(c5) || c5 == ' ') ? MG_CMD_OTHER : -1;
	case MG_W4('v', 'r', 'f', 'y'):
	case MG_W4('e', 'x', 'p', 'n'):
	case MG_W4('e', 't', 'r', 'n'):
		return c5 == ' ' ? MG_CMD_OTHER : -1;
	case MG_W4('b', 'd', 'a', 't'):
		*stop = 1; /* chunk data follows the command in the same segment */
		return c5 == ' ' ? MG_CMD_OTHER : -1;
	}

	/* The rest need more than five bytes: "RCPT TO:", "STARTTLS\r", "MAIL FROM:". */
	if (left < 8 || (void *)(pos + 8) > data_end)
		return -1;
	__u32 w2 = *(__u32 *)(pos + 4) | MG_FOLD4;
	if (verb == MG_W4('r', 'c', 'p', 't'))
		return w2 == MG_W4(' ', 't', 'o', ':') ? MG_CMD_RCPT : -1;
	if (left < 10 || (void *)(pos + 10) > data_end)
		return -1;
	if (verb == MG_W4('m', 'a', 'i', 'l'))
		return (w2 == MG_W4(' ', 'f', 'r', 'o') && (pos[8] | 0x20) == 'm' && pos[9] == ':') ? MG_CMD_MAIL : -1;
	if (verb == MG_W4('s', 't', 'a', 'r'))
		return (w2 == MG_W4('t', 't', 'l', 's') && mg_is_eol(pos[8])) ? MG_CMD_STARTTLS : -1;
	return -1;
}

/* One step of a line's hash (mg_next_line): a word, or a byte, of what it read. */
static __always_inline __u64 mg_line_mix(__u64 h, __u64 w)
{
	h = (h ^ w) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

/*
 * Offset just past the next '\n' at or after `off`, or 0 if none within
 * MG_LINE_WORDS words. Word at a time: a byte equal to '\n' becomes zero after
 * the XOR and the classic has-zero-byte test flags it (the lowest flag is
 * exact); multiplying the isolated flag by 0x0001020304050607 moves the
 * byte's index into the top byte, as BPF has no count-trailing-zeros.
 *
 * With `hash`, what it read is mixed into *hash too, word by word (as
 * XORed with '\n's), the line's end included: the search reads every byte
 * of a HELO line up to its end or 256 bytes, so the hash of what it read
 * tells a repeated HELO name for one multiply a word, with no second pass.
 * A constant NULL compiles the mixing away for the other commands.
 */
static __always_inline __u32 mg_next_line(void *payload, void *data_end, __u32 off, __u32 len, __u64 *hash)
{
#pragma clang loop unroll(disable)
	for (int i = 0; i < MG_LINE_WORDS; i++) {
		mg_barrier_var(off);
		off &= MG_OFF_MASK;
		__u8 *p = payload + off;
		if (off + 8 > len || (void *)(p + 8) > data_end)
			break;
		__u64 w = *(__u64 *)p ^ 0x0a0a0a0a0a0a0a0aull;
		if (hash)
			*hash = mg_line_mix(*hash, w);
		__u64 z = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
		if (z) {
			__u64 bit = z & -z;
			return off + (__u32)(((bit >> 7) * 0x0001020304050607ull) >> 56) + 1;
		}
		off += 8;
	}
	/*
	 * Fewer than eight bytes left: the segment's last eight bytes as one
	 * word, shifted so that it starts at off (the bytes before it, the
	 * line's own, are gone, and with them any borrow a false flag could
	 * come from; the zero bytes shifted in are no '\n').
	 */
	if (off < len && len >= 8 && off + 8 > len) {
		__u32 last = len - 8;
		mg_barrier_var(last);
		last &= MG_OFF_MASK;
		__u8 *p = payload + last;
		if ((void *)(p + 8) <= data_end) {
			__u64 w = (*(__u64 *)p >> (8 * ((off - last) & 7))) ^ 0x0a0a0a0a0a0a0a0aull;
			if (hash)
				*hash = mg_line_mix(*hash, w);
			__u64 z = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
			if (!z)
				return 0;
			__u64 bit = z & -z;
			return off + (__u32)(((bit >> 7) * 0x0001020304050607ull) >> 56) + 1;
		}
	}
	/* A segment under eight bytes: byte by byte. */
#pragma clang loop unroll(disable)
	for (int j = 0; j < 8; j++) {
		mg_barrier_var(off);
		off &= MG_OFF_MASK;
		__u8 *b = payload + off;
		if (off >= len || (void *)(b + 1) > data_end)
			return 0;
		if (hash)
			*hash = mg_line_mix(*hash, *b);
		if (*b == '\n')
			return off + 1;
		off++;
	}
	return 0;
}

/*
 * Count the commands at the start of a client segment. Returns the number found.
 * A global subprogram: the verifier checks it once, not once per caller path.
 */
__attribute__((noinline)) int mg_smtp_scan(struct xdp_md *ctx, __u32 payload_off, __u32 len,
					   struct mg_cmd_scan *s)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = 0;

	if (!s)
		return 0;
	/* Separate checks: merged into one test by the compiler they bound neither value. */
	mg_barrier_var(payload_off);
	if (payload_off > MG_OFF_MASK)
		return 0;
	mg_barrier_var(len);
	if (len > MG_OFF_MASK)
		return 0;
	void *payload = data + payload_off;
	s->helo_kind = MG_CMD_MAX;
#pragma clang loop unroll(disable)
	for (int line = 0; line < MG_SCAN_LINES; line++) {
		int stop = 0;
		/*
		 * Round-trip the position through memory the verifier does not
		 * track: every line then starts from the same imprecise state
		 * and is verified once, instead of once per place the previous
		 * line could have ended (which grows exponentially with lines).
		 */
		*(volatile __u32 *)&s->cursor = off;
		off = *(volatile __u32 *)&s->cursor & MG_OFF_MASK;
		__u8 *pos = payload + off;
		int cmd = mg_smtp_classify(pos, data_end, len - off, &stop);
		if (cmd < 0 || cmd >= MG_CMD_MAX)
			break;
		s->count[cmd]++;
		if (!(s->kinds & (1u << cmd)))
			s->kind[s->n_kinds++ & (MG_SCAN_LINES - 1)] = cmd;
		s->kinds |= 1u << cmd;
		s->total++;
		int first_helo = (cmd == MG_CMD_HELO || cmd == MG_CMD_EHLO) && s->helo_kind == MG_CMD_MAX;
		if (first_helo) {
			s->helo_kind = cmd;
			/*
			 * Just past the verb, not past the byte after it: when that
			 * byte is a bare LF, the next line is no part of the name.
			 * mg_helo_arg_hash skips the space.
			 */
			s->helo_off = off + 4;
		}
		if (cmd == MG_CMD_MAIL && s->count[MG_CMD_MAIL] == 1)
			s->mail_off = off + 10;
		if (stop)
			break;
		/*
		 * The line's end lies past what the classification read: a
		 * verb's four letters, and for RCPT, MAIL and STARTTLS the
		 * letters and punctuation after it, none of which is a '\n'
		 * (a '\n' folds to '*'). A RCPT or MAIL line is then searched
		 * a word shorter.
		 */
		__u32 from = off + (cmd == MG_CMD_MAIL ? 10 : cmd == MG_CMD_RCPT || cmd == MG_CMD_STARTTLS ? 8 : 4);
		if (first_helo) {
			/*
			 * The first HELO/EHLO line: its hash, from the verb's end to
			 * the line's (or what the search read of it), and where that
			 * end is and how long the segment is, mixed in, so that a
			 * name cut short by the segment's end differs from one with
			 * trailing bytes that hash alike.
			 */
			__u64 h = MG_HELO_SEED;
			off = mg_next_line(payload, data_end, from, len, &h);
			h = mg_line_mix(h, (__u64)off << 32 | len);
			s->helo_line = (__u32)(h ^ (h >> 29));
		} else {
			off = mg_next_line(payload, data_end, from, len, NULL);
		}
		if (off == 0 || off >= len)
			break;
	}
	return s->total;
}

/* Reply class of a server segment ("250 ", "421-", "550\r"), or -1. */
static __always_inline int mg_smtp_reply_class(struct xdp_md *ctx, struct mg_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = p->payload_off;

	mg_barrier_var(off);
	off &= MG_OFF_MASK;
	__u8 *r = data + off;
	if (p->payload_len < 4 || (void *)(r + 4) > data_end)
		return -1;
	if (r[1] < '0' || r[1] > '9' || r[2] < '0' || r[2] > '9')
		return -1;
	if (r[3] != ' ' && r[3] != '-' && !mg_is_eol(r[3]))
		return -1;
	switch (r[0]) {
	case '2':
		return MG_REPLY_2XX;
	case '4':
		return MG_REPLY_4XX;
	case '5':
		return MG_REPLY_5XX;
	}
	return -1;
}

/*
 * How many of a word's first n bytes (n <= 8) come before the first CR or
 * LF in it. Each has-zero-byte test's lowest flag is exact (a false one
 * only ever sits above a true one), so the lower of the two is the first
 * line end; its index comes out as in mg_next_line.
 */
static __always_inline __u32 mg_name_bytes(__u64 w, __u32 n)
{
	__u64 lf = w ^ 0x0a0a0a0a0a0a0a0aull, cr = w ^ 0x0d0d0d0d0d0d0d0dull;
	__u64 z = (((lf - 0x0101010101010101ull) & ~lf) | ((cr - 0x0101010101010101ull) & ~cr)) &
		  0x8080808080808080ull;

	if (z) {
		__u64 bit = z & -z;
		__u32 e = (__u32)(((bit >> 7) * 0x0001020304050607ull) >> 56);
		if (e < n)
			n = e;
	}
	return n;
}

/*
 * Hash the HELO argument after payload offset *offp, the verb's end (mg_helo_hash: case-folded,
 * up to MG_HELO_ARG_MAX bytes, ending at CR, LF or the end of the segment)
 * a word at a time; *offp moves past leading spaces to where the argument
 * starts, *arg_len gets its length. A word the segment holds whole is read
 * as one; the segment's last few bytes as its last eight bytes, shifted;
 * only a frame cut short of its IP length (or a segment under eight bytes)
 * is read byte by byte. A global subprogram, like mg_smtp_scan().
 */
__attribute__((noinline)) __u32 mg_helo_arg_hash(struct xdp_md *ctx, __u32 payload_off, __u32 len,
						 __u32 *offp, __u32 *arg_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 h = MG_HELO_SEED;
	__u32 n = 0;

	if (!offp || !arg_len)
		return 0;
	mg_barrier_var(payload_off);
	if (payload_off > MG_OFF_MASK)
		return 0;
	mg_barrier_var(len);
	if (len > MG_OFF_MASK)
		return 0;
	void *payload = data + payload_off;
	__u32 off = *offp & 0xfff;

	/* Skip the space after the verb, and up to four more that some bots send. */
	for (int i = 0; i < 5; i++) {
		mg_barrier_var(off);
		off &= 0xfff;
		__u8 *b = payload + off;
		if (off >= len || (void *)(b + 1) > data_end || *b != ' ')
			break;
		off++;
	}
	*offp = off;
#pragma clang loop unroll(disable)
	for (int k = 0; k < MG_HELO_ARG_MAX / 8; k++) {
		__u32 o = off + n;
		mg_barrier_var(o);
		o &= MG_OFF_MASK;
		if (o >= len)
			break;
		__u32 avail = len - o, got = 0;
		__u64 w = 0;
		__u8 *p = payload + o;
		if (avail >= 8 && (void *)(p + 8) <= data_end) {
			w = *(__u64 *)p;
			got = 8;
		} else if (avail < 8 && len >= 8) {
			__u32 last = (len - 8) & MG_OFF_MASK;
			__u8 *q = payload + last;
			if ((void *)(q + 8) <= data_end) {
				w = *(__u64 *)q >> ((8 * (8 - avail)) & 63);
				got = avail;
			}
		}
		if (!got) {
			/* Cut short by the frame's end: the bytes it holds. */
#pragma clang loop unroll(disable)
			for (int j = 0; j < 8; j++) {
				__u32 bo = o + j;
				mg_barrier_var(bo);
				bo &= MG_OFF_MASK;
				__u8 *b = payload + bo;
				if ((__u32)j >= avail || (void *)(b + 1) > data_end)
					break;
				w |= (__u64)*b << (8 * j);
				got++;
			}
		}
		__u32 used = mg_name_bytes(w, got);
		if (used == 0)
			break;
		if (used < 8)
			w &= (1ull << (8 * used)) - 1;
		h = mg_helo_mix(h, w);
		n += used;
		if (used < 8)
			break;
	}
	*arg_len = n;
	return mg_helo_final(h, n);
}

#endif
