// SPDX-License-Identifier: GPL-2.0-only
/* lib_daemon_fixture.c - a daemon, its directory and event log for the tests (see daemon_fixture.h). */
#define _GNU_SOURCE /* open_memstream */
#include <stdio.h>
#include <stdlib.h>

#include "daemon_fixture.h"

int daemon_fixture_open(struct daemon_fixture *df, const char *dir_template)
{
	char path[128];

	snprintf(df->dir, sizeof(df->dir), "%s", dir_template);
	if (!mkdtemp(df->dir)) {
		df->dir[0] = '\0';
		return -1;
	}
	mg_daemon_init(&df->d);
	mg_config_default(&df->d.cfg);
	snprintf(path, sizeof(path), "%s/events.jsonl", df->dir);
	df->human_f = open_memstream(&df->human, &df->human_len);
	if (!df->human_f || mg_eventlog_open(&df->d.log, path, df->human_f))
		return -1;
	return 0;
}

int daemon_fixture_close(struct daemon_fixture *df)
{
	char cmd[128];

	mg_eventlog_close(&df->d.log);
	mg_config_free(&df->d.cfg);
	if (df->human_f)
		fclose(df->human_f);
	free(df->human);
	if (!df->dir[0])
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", df->dir);
	return system(cmd) ? -1 : 0;
}

const char *human_log(struct daemon_fixture *df)
{
	fflush(df->human_f);
	return df->human ? df->human : "";
}
