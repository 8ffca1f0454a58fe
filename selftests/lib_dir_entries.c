// SPDX-License-Identifier: GPL-2.0-only
/* lib_dir_entries.c - how many entries a directory holds (see dir_entries.h). */
#include <dirent.h>
#include <string.h>

#include "dir_entries.h"

int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}
