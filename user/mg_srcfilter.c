// SPDX-License-Identifier: GPL-2.0-only
/* mg_srcfilter.c - the profile filter's userspace side (see mg_srcfilter.h). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "mg_srcfilter.h"

void mg_srcfilter_init(struct mg_srcfilter *f, __u64 *mem, uint32_t bits)
{
	memset(f, 0, sizeof(*f));
	f->w = mem;
	f->bits = bits;
	f->words = 1u << (bits - 6);
}

int mg_srcfilter_open(struct mg_srcfilter *f, int fd)
{
	struct bpf_map_info info = { 0 };
	uint32_t info_len = sizeof(info), bits = 14;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	memset(f, 0, sizeof(*f));
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return -errno;
	/* The geometry is the map's: the program was loaded with the same bits. */
	while (bits < 28 && mg_src_filter_entries(bits) != info.max_entries)
		bits++;
	if (mg_src_filter_entries(bits) != info.max_entries || info.value_size != 8)
		return -EINVAL;
	size_t len = ((size_t)info.max_entries * 8 + page - 1) & ~(page - 1);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	mg_srcfilter_init(f, m, bits);
	f->len = len;
	return 0;
}

void mg_srcfilter_close(struct mg_srcfilter *f)
{
	if (f->w && f->len)
		munmap(f->w, f->len);
	memset(f, 0, sizeof(*f));
}

static uint32_t bit_of(const struct mg_srcfilter *f, const uint8_t key[16])
{
	__u32 w[4];

	memcpy(w, key, sizeof(w)); /* the words as stored, as the program reads them */
	return mg_src_filter_bit(w, f->bits);
}

void mg_srcfilter_note(struct mg_srcfilter *f, const uint8_t key[16])
{
	if (!f->w)
		return;
	uint32_t b = bit_of(f, key);
	/* Atomic: the program sets bits of other keys in the same words at the same moment. */
	__atomic_fetch_or(&f->w[b >> 6], 1ull << (b & 63), __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&f->w[f->words + (b >> 6)], 1ull << (b & 63), __ATOMIC_SEQ_CST);
}

static uint32_t selected(const struct mg_srcfilter *f)
{
	return (uint32_t)(__atomic_load_n(&f->w[2 * f->words], __ATOMIC_SEQ_CST) & 1);
}

bool mg_srcfilter_may_hold(const struct mg_srcfilter *f, const uint8_t key[16])
{
	if (!f->w)
		return true;
	uint32_t b = bit_of(f, key);
	return __atomic_load_n(&f->w[selected(f) * f->words + (b >> 6)], __ATOMIC_RELAXED) >> (b & 63) & 1;
}

void mg_srcfilter_refresh_begin(struct mg_srcfilter *f)
{
	if (!f->w)
		return;
	__u64 *other = &f->w[(1 - selected(f)) * f->words];
	for (uint32_t i = 0; i < f->words; i++)
		__atomic_store_n(&other[i], 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void mg_srcfilter_refresh_end(struct mg_srcfilter *f)
{
	if (!f->w)
		return;
	__atomic_store_n(&f->w[2 * f->words], 1 - selected(f), __ATOMIC_SEQ_CST);
}

uint64_t mg_srcfilter_count(const struct mg_srcfilter *f)
{
	uint64_t n = 0;

	if (!f->w)
		return 0;
	const __u64 *g = &f->w[selected(f) * f->words];
	for (uint32_t i = 0; i < f->words; i++)
		n += (uint64_t)__builtin_popcountll(g[i]);
	return n;
}
