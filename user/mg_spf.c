// SPDX-License-Identifier: GPL-2.0-only
/* mg_spf.c - SPF through libspf2 with a DNS layer fed by the verifier's lookups (see mg_spf.h). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "mg_addr.h"
#include "mg_spf.h"

struct bridge {
	mg_verify_lookup lookup;
	void *ctx;
	unsigned lacking;
};

static struct bridge bridge;
static SPF_dns_server_t layer;
static SPF_server_t *server;

/* libspf2's answer from ours; NULL only when memory runs out (libspf2 then reports an error). */
static SPF_dns_rr_t *bridge_lookup(SPF_dns_server_t *s, const char *domain, ns_type type, int should_cache)
{
	struct bridge *b = s->hook;
	char name[MG_DNS_NAME_MAX + 1];
	size_t n = strlen(domain);

	(void)should_cache;
	/* "example.com." and "example.com" are one name to the cache. */
	if (n && domain[n - 1] == '.')
		n--;
	if (n > MG_DNS_NAME_MAX)
		return SPF_dns_rr_new_init(s, domain, type, 0, HOST_NOT_FOUND);
	memcpy(name, domain, n);
	name[n] = '\0';
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx && type != ns_t_txt && type != ns_t_ptr)
		return SPF_dns_rr_new_init(s, domain, type, 0, NO_DATA); /* type 99 (SPF): obsolete, never asked */
	const struct mg_dns_answer *a = b->lookup(b->ctx, name, (uint16_t)type);
	if (!a) {
		b->lacking++;
		return SPF_dns_rr_new_init(s, domain, type, 0, TRY_AGAIN);
	}
	switch (a->status) {
	case MG_DNS_NXDOMAIN:
		return SPF_dns_rr_new_init(s, domain, type, (int)a->ttl, HOST_NOT_FOUND);
	case MG_DNS_NODATA:
		return SPF_dns_rr_new_init(s, domain, type, (int)a->ttl, NO_DATA);
	case MG_DNS_OK:
		break;
	default:
		return SPF_dns_rr_new_init(s, domain, type, 0, TRY_AGAIN);
	}
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(s, domain, type, (int)a->ttl, NETDB_SUCCESS);
	if (!rr)
		return NULL;
	size_t off = 0, len;
	const uint8_t *p;
	int i = 0;
	while ((p = mg_dns_answer_next(a, &off, &len))) {
		size_t need = type == ns_t_a ? sizeof(struct in_addr) : type == ns_t_aaaa ? sizeof(struct in6_addr) : len + 1;
		if ((type == ns_t_a && len != 4) || (type == ns_t_aaaa && len != 16))
			continue;
		if (SPF_dns_rr_buf_realloc(rr, i, need) != SPF_E_SUCCESS)
			break;
		if (type == ns_t_a || type == ns_t_aaaa) {
			memcpy(rr->rr[i], p, len);
		} else {
			char *t = type == ns_t_txt ? rr->rr[i]->txt : type == ns_t_mx ? rr->rr[i]->mx : rr->rr[i]->ptr;
			memcpy(t, p, len);
			t[len] = '\0';
		}
		i++;
	}
	rr->num_rr = i;
	if (!i)
		rr->herrno = NO_DATA;
	return rr;
}

static void quiet(const char *file, int line, const char *msg)
{
	(void)file, (void)line, (void)msg;
}

static SPF_server_t *get_server(void)
{
	if (server)
		return server;
	/* libspf2 prints warnings about every broken record on the Internet: not ours to log. */
	SPF_warning_handler = quiet;
	SPF_info_handler = quiet;
	SPF_debug_handler = quiet;
	layer.destroy = NULL; /* ours, static: SPF_server_free leaves it alone */
	layer.lookup = bridge_lookup;
	layer.name = "mtaguard";
	layer.hook = &bridge;
	server = SPF_server_new_dns(&layer, 0);
	return server;
}

void mg_spf_cleanup(void)
{
	if (server)
		SPF_server_free(server);
	server = NULL;
}

static enum mg_check_result result_of(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS: return MG_CR_PASS;
	case SPF_RESULT_FAIL: return MG_CR_FAIL;
	case SPF_RESULT_SOFTFAIL: return MG_CR_SOFTFAIL;
	case SPF_RESULT_NEUTRAL: return MG_CR_NEUTRAL;
	case SPF_RESULT_NONE: return MG_CR_NONE;
	case SPF_RESULT_PERMERROR: return MG_CR_PERMERROR;
	default: return MG_CR_TEMPERROR;
	}
}

unsigned mg_spf_check(const uint8_t addr[16], const char *domain, const char *helo, mg_verify_lookup lookup,
		      void *ctx, enum mg_check_result *res)
{
	SPF_server_t *srv = get_server();
	SPF_response_t *resp = NULL;
	char sender[MG_VERIFY_NAME + 16];

	*res = MG_CR_TEMPERROR;
	if (!srv)
		return 0;
	SPF_request_t *req = SPF_request_new(srv);
	if (!req)
		return 0;
	bridge = (struct bridge){ .lookup = lookup, .ctx = ctx };
	int rc;
	if (mg_addr_is_v4(addr)) {
		struct in_addr a4;
		memcpy(&a4, addr + 12, 4);
		rc = SPF_request_set_ipv4(req, a4);
	} else {
		struct in6_addr a6;
		memcpy(&a6, addr, 16);
		rc = SPF_request_set_ipv6(req, a6);
	}
	/* The local part is not kept (only the domain is): %{l} macros read "postmaster", as for a null sender. */
	snprintf(sender, sizeof(sender), "postmaster@%s", domain);
	if (rc == SPF_E_SUCCESS && helo && *helo)
		rc = SPF_request_set_helo_dom(req, helo);
	if (rc == SPF_E_SUCCESS && SPF_request_set_env_from(req, sender) == 0) {
		SPF_request_query_mailfrom(req, &resp);
		if (resp)
			*res = result_of(SPF_response_result(resp));
	} else {
		*res = MG_CR_PERMERROR; /* libspf2 refuses the domain's syntax */
	}
	if (resp)
		SPF_response_free(resp);
	SPF_request_free(req);
	unsigned lacking = bridge.lacking;
	bridge = (struct bridge){ 0 };
	return lacking;
}
