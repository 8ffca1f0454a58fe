// SPDX-License-Identifier: GPL-2.0-only
/* mg_ifwatch.c - link messages from rtnetlink, read through libmnl (see mg_ifwatch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include "mg_ifwatch.h"

struct mg_ifwatch {
	struct mnl_socket *nl;
};

struct mg_ifwatch *mg_ifwatch_open(int *err)
{
	struct mg_ifwatch *w = calloc(1, sizeof(*w));

	if (!w) {
		*err = -ENOMEM;
		return NULL;
	}
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!w->nl || mnl_socket_bind(w->nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		*err = -errno;
		mg_ifwatch_close(w);
		return NULL;
	}
	return w;
}

int mg_ifwatch_fd(const struct mg_ifwatch *w)
{
	return mnl_socket_get_fd(w->nl);
}

struct link_msg {
	mg_ifwatch_fn fn;
	void *arg;
};

static int name_attr(const struct nlattr *a, void *data)
{
	const char **name = data;

	if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*name = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct link_msg *m = data;
	const char *name = "";

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct ifinfomsg)))
		return MNL_CB_OK; /* too short to say which interface: the timer's look covers it */
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	mnl_attr_parse(nlh, sizeof(*ifi), name_attr, &name);
	char copy[IFNAMSIZ] = "";
	if (strlen(name) < sizeof(copy))
		strcpy(copy, name);
	m->fn(ifi->ifi_index > 0 ? (unsigned)ifi->ifi_index : 0, copy, m->arg);
	return MNL_CB_OK;
}

int mg_ifwatch_read(struct mg_ifwatch *w, mg_ifwatch_fn fn, void *arg)
{
	/* A link message with its attributes runs to a few kB (MNL_SOCKET_BUFFER_SIZE is 8 kB). */
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct link_msg m = { fn, arg };
	int lost = 0;

	for (int i = 0; i < MG_IFWATCH_READS_MAX; i++) {
		ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				lost = 1; /* the kernel dropped some for want of room: read on, and look at all */
				continue;
			}
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A malformed batch ends its own parse, not the watch: what it said is looked at by the timer. */
		mnl_cb_run(buf, (size_t)n, 0, 0, on_msg, &m);
	}
	return lost;
}

void mg_ifwatch_close(struct mg_ifwatch *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w);
}
