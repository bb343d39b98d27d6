/* libFuzzer target: the OCI config.json parser of the container runtime (libcontainer/config.c)
 * with its validation, from arbitrary bytes. A config that parses must also validate, and must
 * come back through lc_config_to_json and a second parse unchanged: that is how a container's
 * state directory keeps its config. */
#include "fuzz/fuzz.h"
#include "libcontainer/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, const char *detail, const char *json)
{
	fprintf(stderr, "broken promise: %s: %s\n%s", what, detail, json ? json : "");
	abort();
}

/* to_json, parse, to_json again: the second text must be the first. */
static void round_trip(const struct lc_config *c)
{
	cm_err err;
	cm_err_clear(&err);
	char *json = lc_config_to_json(c);
	struct lc_config *back = NULL;
	if (lc_config_parse(json, &back, &err) < 0)
		broken("the config's own JSON does not parse", err.msg, json);
	char *again = lc_config_to_json(back);
	if (strcmp(json, again) != 0)
		broken("the config changed on its way through JSON", again, json);
	free(again);
	free(json);
	lc_config_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct lc_config *c = NULL;
	cm_err err;
	cm_err_clear(&err);
	if (lc_config_parse(text, &c, &err) < 0) {
		if (c || !err.msg[0])
			broken("a failed parse", "no message, or a config returned", NULL);
		free(text);
		return 0;
	}
	free(text);
	if (lc_config_validate(c, &err) < 0)
		broken("a parsed config does not validate", err.msg, NULL);
	round_trip(c);
	lc_config_free(c);
	return 0;
}
