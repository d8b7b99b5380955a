#include "app/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_FILE_MAX	(16u << 20)	/* refuse absurd files */
#define ARGON2ID_PREFIX	"$argon2id$"

static int entry_cmp(const void *a, const void *b)
{
	const struct auth_entry *x = a, *y = b;
	size_t n = x->user_len < y->user_len ? x->user_len : y->user_len;
	int c = memcmp(x->user, y->user, n);

	return c ? c : (int)x->user_len - (int)y->user_len;
}

void auth_free(struct auth_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->entries[i].user);
		if (s->entries[i].secret) {
			sodium_memzero(s->entries[i].secret, s->entries[i].secret_len);
			free(s->entries[i].secret);
		}
	}
	free(s->entries);
	free(s);
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Parse one non-empty, non-comment line into e. NULL or a reason. */
static const char *parse_line(const char *p, size_t n, struct auth_entry *e)
{
	const char *colon = memchr(p, ':', n);
	size_t ulen, slen;

	if (!colon)
		return "expected user:password";
	ulen = (size_t)(colon - p);
	slen = n - ulen - 1;
	if (ulen == 0)
		return "empty user name";
	if (ulen > 255)
		return "user name longer than 255 bytes";
	for (size_t i = 0; i < ulen; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return "control character in user name";
	e->hashed = slen >= sizeof(ARGON2ID_PREFIX) - 1 &&
		    memcmp(colon + 1, ARGON2ID_PREFIX, sizeof(ARGON2ID_PREFIX) - 1) == 0;
	if (e->hashed && slen >= crypto_pwhash_STRBYTES)
		return "argon2id hash too long";
	if (!e->hashed && slen > 255)
		return "password longer than 255 bytes";
	e->user = dup_n(p, ulen);
	e->secret = dup_n(colon + 1, slen);
	e->user_len = (uint16_t)ulen;
	e->secret_len = (uint16_t)slen;
	if (!e->user || !e->secret) {
		free(e->user);
		free(e->secret);
		return "out of memory";
	}
	return NULL;
}

struct auth_store *auth_parse(const char *text, size_t len, unsigned int *bad_line,
			      const char **why)
{
	struct auth_store *s = calloc(1, sizeof(*s));
	size_t cap = 0;
	unsigned int lineno = 0;
	const char *p = text, *end = text + len;

	*bad_line = 0;
	*why = "out of memory";
	if (!s)
		return NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - p);
		struct auth_entry e = { 0 };
		const char *bad;

		lineno++;
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0 || p[0] == '#')
			goto next;
		bad = parse_line(p, n, &e);
		if (bad) {
			*bad_line = lineno;
			*why = bad;
			goto fail;
		}
		if (s->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct auth_entry *grown = realloc(s->entries, ncap * sizeof(*grown));

			if (!grown) {
				free(e.user);
				free(e.secret);
				*why = "out of memory";
				goto fail;
			}
			s->entries = grown;
			cap = ncap;
		}
		s->entries[s->n++] = e;
next:
		p = nl ? nl + 1 : end;
	}
	qsort(s->entries, s->n, sizeof(*s->entries), entry_cmp);
	for (size_t i = 1; i < s->n; i++) {
		if (entry_cmp(&s->entries[i - 1], &s->entries[i]) == 0) {
			*why = "user listed twice";
			*bad_line = 0;
			/* Find the line of the second occurrence for the message. */
			lineno = 0;
			for (const char *q = text; q < end; lineno++) {
				const char *nl = memchr(q, '\n', (size_t)(end - q));
				size_t n = (size_t)((nl ? nl : end) - q);

				if (n > s->entries[i].user_len &&
				    memcmp(q, s->entries[i].user, s->entries[i].user_len) == 0 &&
				    q[s->entries[i].user_len] == ':')
					*bad_line = lineno + 1;
				q = nl ? nl + 1 : end;
			}
			goto fail;
		}
	}
	return s;
fail:
	auth_free(s);
	return NULL;
}

struct auth_store *auth_load(const char *path, char *err, size_t errlen)
{
	struct auth_store *s = NULL;
	struct stat st;
	unsigned int line;
	const char *why;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || st.st_size > AUTH_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, st.st_size > AUTH_FILE_MAX ?
			 "file too large" : strerror(errno));
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	s = auth_parse(buf, got, &line, &why);
	if (!s) {
		if (line)
			snprintf(err, errlen, "%s:%u: %s", path, line, why);
		else
			snprintf(err, errlen, "%s: %s", path, why);
	}
out:
	if (buf) {
		sodium_memzero(buf, got);
		free(buf);
	}
	close(fd);
	return s;
}

const struct auth_entry *auth_find(const struct auth_store *s, const char *user, size_t len)
{
	size_t lo = 0, hi = s ? s->n : 0;
	struct auth_entry key = { .user = (char *)user, .user_len = (uint16_t)len };

	if (len > 255)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp(&key, &s->entries[mid]);

		if (c == 0)
			return &s->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

enum auth_result auth_verify(const struct auth_entry *e, const char *pass, size_t len)
{
	if (e->hashed) {
		return crypto_pwhash_str_verify(e->secret, pass, len) == 0 ?
		       AUTH_OK : AUTH_DENIED;
	}
	/*
	 * Constant time in the password's content; the length comparison
	 * leaks only the length, like any hash-less scheme must.
	 */
	if (len != e->secret_len)
		return AUTH_DENIED;
	return sodium_memcmp(e->secret, pass, len) == 0 ? AUTH_OK : AUTH_DENIED;
}

int auth_hash(const char *pass, size_t len, char out[128])
{
	if (crypto_pwhash_str(out, pass, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -1;
	return 0;
}
