/* libFuzzer target: the --user spec and the passwd/group parsing of the container runtime
 * (libcontainer/user.c), from arbitrary bytes. The input is the spec, a NUL, the passwd text,
 * a NUL and the group text (missing parts are absent files). Whatever the bytes, a resolved
 * user is never (uid_t)-1 or beyond, a numeric spec comes back as its own value, a failure
 * says why, and a name the passwd text resolves has a line of its own starting "name:". */
#include "fuzz/fuzz.h"
#include "libcontainer/user.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, const char *spec)
{
	fprintf(stderr, "broken promise: %s (spec \"%s\")\n", what, spec);
	abort();
}

/* The next NUL-separated part of data: [*pos, end), or NULL when none is left. */
static char *next_part(const uint8_t *data, size_t size, size_t *pos, size_t *len)
{
	if (*pos > size)
		return NULL;
	const uint8_t *start = data + *pos, *nul = memchr(start, 0, size - *pos);
	*len = nul ? (size_t)(nul - start) : size - *pos;
	char *s = malloc(*len + 1);
	if (!s)
		abort();
	memcpy(s, start, *len);
	s[*len] = '\0';
	*pos += *len + 1;
	return s;
}

static bool all_digits(const char *s, size_t n)
{
	return n > 0 && strspn(s, "0123456789") >= n;
}

/* A name resolved from the passwd text must head one of its lines. */
static void check_found(const char *spec, const char *passwd, size_t plen)
{
	size_t ulen = strcspn(spec, ":");
	if (all_digits(spec, ulen) || !passwd)
		return;
	for (size_t pos = 0; pos < plen;) {
		const char *line = passwd + pos, *nl = memchr(line, '\n', plen - pos);
		size_t len = nl ? (size_t)(nl - line) : plen - pos;
		if (len > ulen && memcmp(line, spec, ulen) == 0 && line[ulen] == ':')
			return;
		pos += len + 1;
	}
	broken("a name resolved that no passwd line holds", spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, slen = 0, plen = 0, glen = 0;
	char *spec = next_part(data, size, &pos, &slen);
	char *passwd = next_part(data, size, &pos, &plen);
	char *group = next_part(data, size, &pos, &glen);
	uid_t uid = 0;
	gid_t gid = 0;
	cm_err err;
	cm_err_clear(&err);
	if (lc_user_resolve(spec, passwd, plen, group, glen, &uid, &gid, &err) == 0) {
		if (uid > LC_ID_MAX || gid > LC_ID_MAX)
			broken("an id out of range was returned", spec);
		uint32_t n;
		size_t ulen = strcspn(spec, ":");
		if (all_digits(spec, ulen) && (!lc_id_parse(spec, ulen, &n) || n != uid))
			broken("a numeric user came back as another id", spec);
		check_found(spec, passwd, plen);
	} else if (!err.msg[0]) {
		broken("a failure without a message", spec);
	}
	/* the lookup on its own, with the spec as a name, on both texts */
	uint32_t id, g;
	if (passwd && lc_idfile_lookup(passwd, plen, spec, &id, &g, &err) == 1 &&
	    (id > LC_ID_MAX || g > LC_ID_MAX))
		broken("passwd lookup returned an id out of range", spec);
	if (group && lc_idfile_lookup(group, glen, spec, &id, NULL, &err) == 1 && id > LC_ID_MAX)
		broken("group lookup returned an id out of range", spec);
	free(spec);
	free(passwd);
	free(group);
	return 0;
}
