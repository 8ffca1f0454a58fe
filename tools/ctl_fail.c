// SPDX-License-Identifier: GPL-2.0-only
/* ctl_fail.c - mtaguardctl's failures, as a line or as JSON (see ctl_fail.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ctl_fail.h"
#include "mg_log.h"

static bool as_json;

void ctl_fail_json(bool on)
{
	as_json = on;
}

bool ctl_fail_is_json(void)
{
	return as_json;
}

int ctl_fail(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!as_json) {
		mg_err("%s", msg);
		return code;
	}
	json_t *o = json_pack("{s:b,s:s,s:i}", "ok", 0, "error", msg, "exit", code);
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	puts(text ? text : "{\"ok\":false}");
	free(text);
	json_decref(o);
	return code;
}

int ctl_stdout_done(int rc)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	return ctl_fail(6, "writing the answer to standard output: %s", strerror(errno ? errno : EIO));
}
