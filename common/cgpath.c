#define _GNU_SOURCE
#include "common/cgpath.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether the comma-separated list names controller ("cpu,cpuacct" names cpuacct). */
static bool lists(char *list, const char *controller)
{
	char *save = NULL;
	for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
		if (strcmp(c, controller) == 0)
			return true;
	return false;
}

char *cm_cgroup_path_of(pid_t pid, const char *controller)
{
	char file[64], line[4096];
	if (pid)
		snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	else
		snprintf(file, sizeof(file), "/proc/self/cgroup");
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	/* "4:memory:/a/b" in v1, "0::/a/b" in v2 */
	while (f && fgets(line, sizeof(line), f)) {
		char *list = strchr(line, ':'), *path;
		if (!list || !(path = strchr(++list, ':')))
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		bool v2 = line[0] == '0' && list == line + 2 && !*list;
		if (controller ? lists(list, controller) : v2)
			return xstrdup(path);
	}
	return NULL;
}
