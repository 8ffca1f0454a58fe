/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_ifwatch.h - the kernel's word that a network interface came, went or
 * changed (rtnetlink link messages, through libmnl), so that the daemon
 * attaches its program again to an interface made anew.
 *
 * Why: an XDP attachment belongs to one device. When the operator's
 * tooling deletes and creates an interface again (ifdown/ifup of a VLAN,
 * a bond rebuilt, a driver reloaded, a PPPoE session), the new device of
 * the same name starts without the program: blocks go unenforced there,
 * silently, until somebody restarts the daemon. The daemon listens here
 * and looks at every interface it guards again at each scan besides
 * (a message lost to a full socket buffer is then at most a scan late).
 */
#ifndef MG_IFWATCH_H
#define MG_IFWATCH_H

#include <stdbool.h>

struct mg_ifwatch;

/* A nonblocking, close-on-exec socket subscribed to link messages; NULL with *err = -errno. */
struct mg_ifwatch *mg_ifwatch_open(int *err);
int mg_ifwatch_fd(const struct mg_ifwatch *w);
/*
 * What waits, at most MG_IFWATCH_READS_MAX reads of it (a storm of link
 * messages, thousands of PPPoE sessions coming and going, then waits for
 * the loop's next turn): fn(ifindex, name, arg) for each link message,
 * whatever the change (a new device, one gone, one renamed: its index, and
 * its new name; "" when the message names none). Returns 1 when messages
 * were lost (the socket's buffer ran over: look at every interface), 0, or
 * -errno.
 */
#define MG_IFWATCH_READS_MAX 16
typedef void (*mg_ifwatch_fn)(unsigned ifindex, const char *name, void *arg);
int mg_ifwatch_read(struct mg_ifwatch *w, mg_ifwatch_fn fn, void *arg);
void mg_ifwatch_close(struct mg_ifwatch *w); /* NULL: nothing */

#endif
