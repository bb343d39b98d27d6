/* libFuzzer target: the Platform API's answers as the poller reads them (control/apidoc.c), from
 * arbitrary bytes: a JSON object {"releases", "config", "slug", "app", "formation"} standing for
 * the five answers. Whatever the API says, an id that comes out may name a file, a blob URL is
 * http(s), a checksum is 64 lower-case hex digits, and a document that comes out is one the
 * control directory's parser judges like any other; anything refused has a message. */
#include "fuzz/fuzz.h"
#include "control/apidoc.h"
#include "hsupd/release.h"

#include <string.h>

static void check_release_list(json_t *in)
{
	struct hs_api_release rel;
	cm_err err = {0};
	char *text = json_dumps(json_object_get(in, "releases"), JSON_ENCODE_ANY);
	int r = hs_api_newest_release(text, &rel, &err);
	free(text);
	CHECK(r >= -1 && r <= 1);
	if (r < 0)
		CHECK(err.msg[0]);
	if (r == 1) {
		CHECK(hs_api_valid_id(rel.id));
		CHECK(!rel.slug_id[0] || hs_api_valid_id(rel.slug_id));
		CHECK(rel.version >= 0);
	}
}

static void check_blob(json_t *slug)
{
	const char *url;
	long long size;
	char sum[65];
	cm_err err = {0};
	if (hs_api_slug_blob(slug, &url, &size, sum, &err) < 0) {
		CHECK(err.msg[0]);
		return;
	}
	CHECK(strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
	CHECK(size >= -1);
	CHECK(!sum[0] || strspn(sum, "0123456789abcdef") == 64);
}

static void check_document(json_t *in)
{
	struct hs_api_release rel = {.id = "r1", .version = 3, .status = "succeeded"};
	struct hs_api_parts parts = {json_object_get(in, "config"), json_object_get(in, "slug"),
	                             json_object_get(in, "app"), json_object_get(in, "formation")};
	cm_err err = {0};
	if (!json_is_object(parts.config) || !json_is_array(parts.formation))
		return; /* the poller parses these as an object and an array first */
	json_t *doc = hs_api_document(&rel, "app", &parts, "/cache/s.tgz", &err);
	if (!doc) {
		CHECK(err.msg[0]);
		return;
	}
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK(text);
	struct hs_release *r = NULL;
	if (hs_release_parse(text, strlen(text), &r, &err) == 0) {
		CHECK(r->version == 3 && strcmp(r->slug, "/cache/s.tgz") == 0);
		hs_release_unref(r);
	} else {
		CHECK(err.msg[0]);
	}
	free(text);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in = json_loadb((const char *)data, size, 0, NULL);
	if (!json_is_object(in)) {
		json_decref(in);
		return 0;
	}
	check_release_list(in);
	check_blob(json_object_get(in, "slug"));
	check_document(in);
	json_decref(in);
	return 0;
}
