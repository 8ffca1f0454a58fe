/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_metrics_http.h - the metrics on a local HTTP endpoint (GET /metrics),
 * served by libmicrohttpd in its own thread from the last text the daemon
 * published: a scrape never waits for a scan, and never touches BPF maps.
 */
#ifndef MG_METRICS_HTTP_H
#define MG_METRICS_HTTP_H

struct mg_metrics_http;

/* listen: "127.0.0.1:9477" or "[::1]:9477". NULL with err set on failure. */
struct mg_metrics_http *mg_metrics_http_start(const char *listen, char *err, size_t errlen);
/* Publish new text (copied). */
void mg_metrics_http_publish(struct mg_metrics_http *h, const char *text);
void mg_metrics_http_stop(struct mg_metrics_http *h);
/* Parse "ADDR:PORT" / "[ADDR6]:PORT" into a sockaddr; 0 or -EINVAL. */
struct sockaddr_storage;
int mg_parse_listen(const char *listen, struct sockaddr_storage *ss);

#endif
