// SPDX-License-Identifier: GPL-2.0-only
/* mg_metrics_http.c - GET /metrics with libmicrohttpd (see mg_metrics_http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "mg_metrics_http.h"

struct mg_metrics_http {
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;
	char *text;
};

int mg_parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!listen)
		return -EINVAL;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strchr(listen, ':');
		/* An IPv6 address goes in brackets: "::1:9477" could be read two ways. */
		if (!colon || strchr(colon + 1, ':') || (size_t)(colon - listen) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
	}
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port == 0 || port > 65535)
		return -EINVAL;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct mg_metrics_http *h = cls;
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		static const char msg[] = "only GET /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics")) {
		static const char msg[] = "not found: the metrics are at /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		pthread_mutex_lock(&h->lock);
		const char *t = h->text ? h->text : "";
		resp = MHD_create_response_from_buffer(strlen(t), (void *)t, MHD_RESPMEM_MUST_COPY);
		pthread_mutex_unlock(&h->lock);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct mg_metrics_http *mg_metrics_http_start(const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct mg_metrics_http *h;

	if (mg_parse_listen(listen, &ss)) {
		snprintf(err, errlen, "metrics listen address '%s': not ADDRESS:PORT", listen);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	/* A handful of connections, short timeouts: a scraper, not the Internet. */
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", listen, strerror(errno ? errno : EADDRINUSE));
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

void mg_metrics_http_publish(struct mg_metrics_http *h, const char *text)
{
	char *copy = strdup(text);

	if (!copy)
		return;
	pthread_mutex_lock(&h->lock);
	free(h->text);
	h->text = copy;
	pthread_mutex_unlock(&h->lock);
}

void mg_metrics_http_stop(struct mg_metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	pthread_mutex_destroy(&h->lock);
	free(h->text);
	free(h);
}
