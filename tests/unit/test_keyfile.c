/* keyfile_load: good and bad key files, permissions, odd file types. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/keyfile.h"
#include "unit.h"

#define KEY_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static char dir[64];

static const char *put(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		unit_fail++;
	if (fd >= 0) {
		fchmod(fd, mode);
		close(fd);
	}
	return path;
}

static void test_keyfile(void)
{
	static const struct {
		const char *name, *text;
		mode_t mode;
		int rc;
		bool loose;
		const char *why;
	} cases[] = {
		{ "ok", KEY_B64 "\n", 0600, 0, false, NULL },
		{ "ok-nonl", KEY_B64, 0400, 0, false, NULL },
		{ "ok-crlf", KEY_B64 "\r\n", 0600, 0, false, NULL },
		{ "loose-g", KEY_B64 "\n", 0640, 0, true, NULL },
		{ "loose-o", KEY_B64 "\n", 0604, 0, true, NULL },
		{ "empty", "", 0600, -EINVAL, false, "empty" },
		{ "short", "MDEy\n", 0600, -EINVAL, false, "44" },
		{ "junk", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNk*WY=\n", 0600, -EINVAL, false,
		  "base64" },
		{ "two", KEY_B64 "\n" KEY_B64 "\n", 0600, -EINVAL, false, "44" },
	};
	char err[256];
	uint8_t key[32];
	bool loose;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = put(cases[i].name, cases[i].text, strlen(cases[i].text),
				    cases[i].mode);
		int rc;

		err[0] = '\0';
		rc = keyfile_load(p, key, &loose, err, sizeof(err));
		CHECK_EQ_INT(rc, cases[i].rc);
		if (rc == 0) {
			CHECK(memcmp(key, "0123456789abcdef0123456789abcdef", 32) == 0);
			CHECK_EQ_INT(loose, cases[i].loose);
		} else {
			CHECK(strstr(err, cases[i].why) != NULL);
		}
	}
	/* A NUL byte, a long file, a directory, a missing file. */
	{
		char big[4096];
		const char *p = put("nul", KEY_B64 "\0\n", 46, 0600);

		CHECK_EQ_INT(keyfile_load(p, key, &loose, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "NUL") != NULL);
		memset(big, ' ', sizeof(big));
		memcpy(big, KEY_B64, 44);
		p = put("big", big, sizeof(big), 0600);
		CHECK_EQ_INT(keyfile_load(p, key, &loose, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "too long") != NULL);
		CHECK_EQ_INT(keyfile_load(dir, key, &loose, err, sizeof(err)), -EISDIR);
		snprintf(big, sizeof(big), "%s/missing", dir);
		CHECK_EQ_INT(keyfile_load(big, key, &loose, err, sizeof(err)), -ENOENT);
		CHECK(strstr(err, "cannot open") != NULL);
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	snprintf(dir, sizeof(dir), "/tmp/sluice-keyfile.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	RUN(test_keyfile);
	{
		static const char *names[] = { "ok", "ok-nonl", "ok-crlf", "loose-g", "loose-o",
					       "empty", "short", "junk", "two", "nul", "big" };
		char path[128];

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	return unit_done();
}
