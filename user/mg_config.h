/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_config.h - mtaguardd's configuration file (JSON, read with jansson).
 *
 * Every key is optional and has a default; unknown keys and bad values are
 * refused with the file, line and column where they stand, e.g.
 *   /etc/mtaguard/mtaguard.json:12:5: unknown key "treshold" in "detection"
 *
 * Schema (durations: a number of seconds or a string "250ms", "90s", "10m", "1h", "7d",
 * each key with its own bounds, none beyond 366d; paths absolute; modes also
 * "drv" = native, "skb" = generic; each key's kind and limits are one line of
 * a table in mg_config.c):
 * {
 *   "interfaces":   [ "eth1", { "name": "eth2", "mode": "native|generic|auto", "uplink": false } ],
 *   "pin_dir":      "/sys/fs/bpf/mtaguard",
 *   "limits":       { "min_prefix_v4": 8, "min_prefix_v6": 32 },    the widest prefix one may block or allow
 *   "smtp_ports":   { "mx": [25], "submission": [465, 587] },          up to 4 each
 *   "protected_networks": [ "198.18.0.0/15", "2001:db8::/32",            the networks it protects; an IPv6
 *                           { "prefix": "2001:db8:10::/64", "ipv6_aggregation": 128 } ],   one may set its own
 *                                                                        aggregation (48..128, default: 128 in a
 *                                                                        /64 or longer, a LAN; else the global)
 *   "mail_servers": [ "198.18.1.10", ... ],                              known mail servers: never blocked
 *   "allowlist":    [ "198.18.5.0/24", ... ],                            never dropped, never blocked
 *   "ipv6_aggregation": 64,                                              48..128
 *   "monitor":      false,
 *   "map_sizes":    { "sources": 262144, "servers": 16384, "policy": 1048576 },
 *   "detection": {
 *     "window": "10m", "learning_period": "7d", "learning_active_days": 3,
 *     "block_score": 10, "alert_score": 5,
 *     "free_distinct_mx": 2, "free_syn_per_min": 3,
 *     "long_half_life": "2h", "free_long_mx": 3,
 *     "weights": { "distinct_mx": 1.0, "syn_rate": 0.5, "helo_ip_literal": 4, "helo_bare_word": 3,
 *                  "helo_own_octets": 3, "helo_varies": 3, "rcpt_per_session": 0.2,
 *                  "reject_ratio": 4, "no_other_activity": 2, "long_mx": 1.5 }
 *   },
 *   "block": { "action": "smtp|all", "duration": "1h", "repeat_factor": 4, "max_duration": "7d",
 *              "max_new_per_minute": 10 },
 *   "state_file":     "/var/lib/mtaguard/state.gz",
 *   "state_interval": "60s",
 *   "log_file":       "-",                                 "-" = stdout (JSON lines)
 *   "control_socket": "/run/mtaguard/control.sock",
 *   "control_mode":   "0600",                              octal string
 *   "scan_interval":  "1s",
 *   "metrics": { "textfile": "/var/lib/prometheus/node-exporter/mtaguard.prom",
 *                "listen": "127.0.0.1:9477", "interval": "15s" },  both off by default
 *   "dnsbl": { "ip4trie": "/var/lib/rbldnsd/mtaguard/ip4", "ip6trie": "/var/lib/rbldnsd/mtaguard/ip6",
 *              "ttl": "5m", "feeds": true },                both files off by default
 *   "outbreak": { "min_senders": 5, "window": "10m", "decay": "30m", "contain": true,
 *                 "alert_hook": "/usr/local/sbin/page-the-noc",
 *                 "exceptions": { "signatures": ["fp:1a2b3c4d"], "prefixes": ["198.18.7.0/24"] } },
 *   "hooks": { "verdict": "/usr/local/sbin/open-ticket" },   off by default
 *   "quarantine": { "policy_listen": "unix:/var/spool/postfix/private/mtaguard",   or "inet:127.0.0.1:10040"
 *                   "policy_socket_mode": "0660", "policy_socket_group": "postfix",
 *                   "policy_max_clients": 1024, "policy_idle_timeout": "330s", "policy_io_timeout": "30s",
 *                   "threshold": 3, "postfix_config": "/etc/postfix", "clamav": true,
 *                   "retention": { "suspect": "2d", "outbreak": "5d" },
 *                   "on_expiry": { "suspect": "release", "outbreak": "delete" },
 *                   "exceptions": { "clients": ["198.18.9.0/24"], "sender_domains": ["example.org"],
 *                                   "recipients": ["postmaster@example.org"] } }
 * }
 */
#ifndef MG_CONFIG_H
#define MG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mg_addr.h"
#include "mg_analyzer.h"
#include "mg_loader.h"
#include "mg_outbreak.h"

#define MG_CONFIG_MAX_IFACES 16
#define MG_CONFIG_MAX_EXCEPTIONS 64
#define MG_CONFIG_MAX_CLUSTER_SERVERS 8

/*
 * The widest prefix an operator may block or allow without forcing it, and
 * the config file's lists may name at all. IPv4 /8: the largest block ever
 * held by one organisation, so anything wider spans unrelated networks.
 * IPv6 /32: an ISP's (an LIR's) usual allocation. Neither stops a real
 * block of one hostile network; both stop "0.0.0.0/0" and typos like "/3".
 */
#define MG_MIN_PREFIX_V4_DEFAULT 8
#define MG_MIN_PREFIX_V6_DEFAULT 32

/*
 * The longest finite duration anywhere (a year and a leap day): longer is
 * "until removed" (0) said outright, and wall + duration cannot wrap.
 */
#define MG_DURATION_MAX_NS (366ull * 86400 * 1000000000ull)

struct mg_config_iface {
	char name[16]; /* IFNAMSIZ */
	enum mg_xdp_mode mode;
	bool uplink;   /* servers' packets (SYN-ACKs, replies) are trusted here only, once any interface is one */
};

struct mg_prefix_list {
	struct mg_prefix *v;
	size_t n;
};
/* Does the list hold exactly this prefix (not merely one covering it)? */
bool mg_prefix_list_has(const struct mg_prefix_list *l, const struct mg_prefix *p);

/* verify.nat: hosts inside a prefix reach the Internet from one public address. */
struct mg_config_nat {
	struct mg_prefix inside;
	uint8_t public_addr[16];
};

struct mg_config {
	struct mg_config_iface ifaces[MG_CONFIG_MAX_IFACES];
	size_t n_ifaces;
	char pin_dir[256];
	struct mg_tunables tunables;      /* ports and v6 aggregation for the kernel */
	uint32_t max_sources, max_servers, max_policy;
	struct mg_prefix_list protected_nets, mail_servers, allowlist;
	uint8_t *protected_agg;           /* per protected network: its "ipv6_aggregation", 0 if not given */
	uint32_t min_prefix_v4, min_prefix_v6; /* in the family's bits: see MG_MIN_PREFIX_V4_DEFAULT */
	struct mg_an_config an;           /* detection and block settings for the analyzer */
	char state_file[256];
	uint64_t state_interval_ns;
	char log_file[256];
	char control_socket[108];         /* sun_path */
	unsigned control_mode;
	uint64_t scan_interval_ns;
	char metrics_textfile[256];       /* "" = none */
	char metrics_listen[64];          /* "" = no HTTP endpoint */
	uint64_t metrics_interval_ns;
	char dnsbl_ip4[256], dnsbl_ip6[256]; /* rbldnsd datasets written on change ("" = none) */
	uint64_t dnsbl_ttl_ns;
	bool dnsbl_feeds;                    /* imported lists in the zone too */
	/* outbreak detection */
	struct mg_ob_config ob;
	bool contain;                     /* drop SYNs matching fingerprint signatures in the kernel */
	char alert_hook[256];             /* "" = none; run with the alert as JSON on stdin */
	char verdict_hook[256];           /* "" = none; run with each verdict's log line (JSON) on stdin */
	struct mg_signature ob_except_sig[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_ob_except_sig;
	struct mg_prefix ob_except_pfx[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_ob_except_pfx;
	/* quarantine on a relay: the Postfix policy service */
	char policy_listen[128];          /* "" = off; "unix:/path" or "inet:ADDR:PORT" */
	uint32_t policy_max_clients;      /* connections at once; at the cap the longest idle makes room */
	uint64_t policy_idle_timeout_ns, policy_io_timeout_ns; /* idle; a request or answers stuck */
	unsigned policy_socket_mode;      /* the unix socket's permissions and group: Postfix's, nobody else's */
	char policy_socket_group[64];
	unsigned quarantine_level;        /* from this threat level on, suspects' mail is held (3) */
	uint64_t hold_suspect_ns, hold_outbreak_ns; /* retention per reason */
	bool expire_release_suspect, expire_release_outbreak; /* at expiry: release (true) or delete */
	char postfix_config[256];         /* "" = Postfix's default */
	bool clamav;                      /* scan with clamdscan before release, when installed */
	char clamd_config[256];           /* clamd.conf naming clamd's socket and database; "" = Debian's */
	char clamdscan[128];              /* the ClamAV client; "" = /usr/bin/clamdscan */
	bool release_on_outbreak_end;     /* an ended outbreak's held mail that scans clean is released (off) */
	struct mg_prefix q_except_client[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_q_except_client;
	char q_except_domain[MG_CONFIG_MAX_EXCEPTIONS][128];
	size_t n_q_except_domain;
	char q_except_rcpt[MG_CONFIG_MAX_EXCEPTIONS][256];
	size_t n_q_except_rcpt;
	/* many edges, one view: rules shared with other nodes over NATS JetStream (off without servers) */
	char cluster_servers[MG_CONFIG_MAX_CLUSTER_SERVERS][256]; /* "nats://host:port", "tls://host:port" */
	size_t n_cluster_servers;
	char cluster_node[64];            /* this node's name in keys and listings; default: the host name */
	char cluster_bucket[64];          /* the key-value bucket ("mtaguard") */
	char cluster_credentials[256];    /* a NATS .creds file; "" = none */
	char cluster_tls_ca[256];         /* a CA file for tls:// servers; "" = the system's */
	char cluster_publish_names[5][16], cluster_accept_names[5][16];
	size_t n_cluster_publish_names, n_cluster_accept_names;
	unsigned cluster_publish, cluster_accept; /* bits of enum mg_cl_kind (finish_cluster) */
	uint32_t cluster_max_accept_per_min; /* received verdicts taken per minute: this node's own breaker */
	uint32_t bgp_max_accept_per_min;  /* FlowSpec routes received from BGP peers taken per minute (new ones) */
	char cluster_events_stream[64];   /* the JetStream stream every node's events go to; "" = none */
	uint64_t cluster_events_max_age_ns;
	/* Source verification (mg_verify.h); weights and the forgery verdict are in an. */
	bool verify_enabled;
	char verify_resolvers[256];       /* "ADDR[:PORT],..." for c-ares; "" = /etc/resolv.conf's */
	uint64_t verify_timeout_ns;       /* per try (2 tries) */
	uint32_t verify_qps;              /* queries per second at most */
	uint32_t verify_cache_entries;
	struct mg_config_nat verify_nat[MG_CONFIG_MAX_EXCEPTIONS]; /* inside prefix -> public address */
	size_t n_verify_nat;
	struct mg_prefix verify_off[MG_CONFIG_MAX_EXCEPTIONS];     /* never verified */
	size_t n_verify_off;
};

/* Defaults for everything (no interfaces). */
void mg_config_default(struct mg_config *c);
/*
 * Load `path` over the defaults. On error returns -EINVAL and writes one line
 * "PATH:LINE:COLUMN: what is wrong" into err (also for JSON syntax errors);
 * *c is then left as it was, so a bad reload keeps the running config.
 */
int mg_config_load(const char *path, struct mg_config *c, char *err, size_t errlen);
/* Same, from a string (tests); `name` stands for the file name in messages. */
int mg_config_parse(const char *text, const char *name, struct mg_config *c, char *err, size_t errlen);
void mg_config_free(struct mg_config *c);

/*
 * The words of the config file, also for the command lines, so that
 * "mtaguardd -i" and "interfaces" take the same things.
 */
/*
 * "90s", "10m", "1h", "7d", "250ms", or plain seconds. -EINVAL for anything
 * else (signs, spaces, fractions, unknown units), -ERANGE when the
 * nanoseconds would not fit in 64 bits; *ns is written only on success.
 */
int mg_parse_duration(const char *s, uint64_t *ns);
/*
 * How long an operator's rule lasts: 0 (in any unit) is "until removed",
 * anything else from 1 s to MG_DURATION_MAX_NS. Shorter is refused rather
 * than rounded: rounding down would make it 0, forever. -EINVAL for a bad
 * spelling, -ERANGE for a duration out of bounds.
 */
int mg_parse_rule_duration(const char *s, uint64_t *ns);
/* ns in the largest unit that says it exactly: "250ms", "90s", "10m", "366d". */
const char *mg_duration_str(uint64_t ns, char *buf, size_t len);
/*
 * Is p wider than the configured minimum for its family (the "limits"
 * section)? *min gets that minimum, in the family's bits.
 */
bool mg_config_prefix_too_wide(const struct mg_config *c, const struct mg_prefix *p, unsigned *min);
/*
 * "IF" or "IF:MODE", MODE a word of mg_xdp_mode_parse() (native, generic,
 * auto, drv, skb; auto without one). IF is refused as the kernel would
 * refuse it: empty, over 15 bytes, ".", "..", or holding '/', ':' or white
 * space. Returns 0, -EINVAL for a bad name or -ENOTSUP for a bad mode;
 * *out is written only on success.
 */
int mg_config_parse_iface(const char *text, struct mg_config_iface *out);

#endif
