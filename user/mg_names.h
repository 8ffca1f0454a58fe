/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_names.h - the words mtaguard uses for its enums, one table per
 * vocabulary, so the config file, the control socket, the logs, the rules
 * file and the tools all spell a thing the same way.
 */
#ifndef MG_NAMES_H
#define MG_NAMES_H

#include <stdint.h>
#include "mtaguard.h"
#include "mg_loader.h"

/* What a block drops (enum mg_action): "smtp", "all" - config, mtaguardctl, rules file. */
const char *mg_action_name(uint8_t action);
/* The same as a verdict's action in logs and reports: "block-smtp", "block-all". */
const char *mg_action_verdict_name(uint8_t action);
/* "smtp" or "all" into *action; -EINVAL otherwise. */
int mg_action_parse(const char *s, uint8_t *action);

/* Rule kinds (enum mg_rule_kind): "allow", "block". */
const char *mg_rule_kind_name(uint8_t kind);
int mg_rule_kind_parse(const char *s, uint8_t *kind);

/* XDP attach modes (enum mg_xdp_mode): "auto", "native", "generic"; parse also takes "drv" and "skb". */
const char *mg_xdp_mode_name(enum mg_xdp_mode m);
int mg_xdp_mode_parse(const char *s, enum mg_xdp_mode *m);

/* How proven an event's source is (enum mg_proof): "none", "payload", "handshake" - logs, reports. */
const char *mg_proof_name(uint8_t proof);

/* When commands count as evidence (enum mg_handshake): "when-seen", "required", "off" - config, status. */
const char *mg_handshake_name(uint8_t mode);
int mg_handshake_parse(const char *s, uint8_t *mode);

/* DNSBL return codes (enum mg_dnsbl_code): "verdict", "outbreak member", "operator block", "imported list" - the zone's TXT, README. */
const char *mg_dnsbl_code_name(uint8_t code);

#endif
