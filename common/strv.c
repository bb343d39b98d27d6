#include "common/strv.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

size_t cm_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **cm_strv_dup(char *const *v)
{
	size_t n = cm_strv_len(v);
	char **d = xcalloc(n + 1, sizeof(*d));
	for (size_t i = 0; i < n; i++)
		d[i] = xstrdup(v[i]);
	return d;
}

void cm_strv_push(char ***v, size_t *len, char *s)
{
	*v = xrealloc(*v, (*len + 2) * sizeof(**v));
	(*v)[(*len)++] = s;
	(*v)[*len] = NULL;
}

char *cm_strv_join(char *const *v, const char *sep)
{
	size_t n = cm_strv_len(v), total = 1, seplen = strlen(sep);
	for (size_t i = 0; i < n; i++)
		total += strlen(v[i]) + seplen;
	char *out = xmalloc(total), *p = out;
	for (size_t i = 0; i < n; i++) {
		if (i) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		size_t l = strlen(v[i]);
		memcpy(p, v[i], l);
		p += l;
	}
	*p = '\0';
	return out;
}

bool cm_strv_equal(char *const *a, char *const *b)
{
	size_t n = cm_strv_len(a);
	if (n != cm_strv_len(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static int cmp_key(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strcspn(x, "="), ly = strcspn(y, "=");
	int c = strncmp(x, y, lx < ly ? lx : ly);
	return c ? c : (int)lx - (int)ly;
}

void cm_strv_sort_env(char **v)
{
	qsort(v, cm_strv_len(v), sizeof(char *), cmp_key);
}

void cm_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
