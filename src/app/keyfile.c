#include "app/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAX	256	/* a key is 44 characters; leave room for whitespace */

int keyfile_load(const char *path, uint8_t key[static TCHAN_KEY_LEN], bool *loose, char *err,
		 size_t errlen)
{
	char buf[KEYFILE_MAX + 1];
	const char *why = NULL;
	struct stat st;
	size_t n = 0;
	int fd, rc = 0;

	*loose = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open: %s", strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot stat: %s", strerror(-rc));
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		snprintf(err, errlen, "is a directory, not a key file");
		goto out_close;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)))
		*loose = true;
	while (n < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot read: %s", strerror(-rc));
			goto out_wipe;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > KEYFILE_MAX) {
		rc = -EINVAL;
		snprintf(err, errlen, "too long for a key file (make one with `sluice genkey`)");
		goto out_wipe;
	}
	if (memchr(buf, '\0', n)) {
		rc = -EINVAL;
		snprintf(err, errlen, "not a key file: it contains a NUL byte");
		goto out_wipe;
	}
	buf[n] = '\0';
	rc = tchan_key_parse(buf, key, &why);
	if (rc < 0)
		snprintf(err, errlen, "%s", why);
out_wipe:
	sodium_memzero(buf, sizeof(buf));
out_close:
	close(fd);
	return rc;
}
