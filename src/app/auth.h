/*
 * Credentials for SOCKS5 username/password and HTTP Basic: one store per
 * loaded file, immutable once built (reload builds a new one and swaps it).
 *
 * File format, one credential per line:
 *   user:password            plaintext (compared in constant time)
 *   user:$argon2id$v=19$...  libsodium crypto_pwhash_str() hash
 * Blank lines and lines starting with '#' are ignored. A user name is 1..255
 * bytes without ':' or control characters; a password 0..255 bytes.
 */
#ifndef SLUICE_APP_AUTH_H
#define SLUICE_APP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_entry {
	char *user;		/* owned, NUL-terminated */
	char *secret;		/* owned: plaintext password or an argon2id string */
	uint16_t user_len;
	uint16_t secret_len;
	bool hashed;
};

struct auth_store {
	struct auth_entry *entries;	/* owned, sorted by user */
	size_t n;
};

/*
 * Parse a whole file's contents. On success returns a new store; on a bad
 * line returns NULL with *bad_line set to its number (1-based) and *why to
 * a static description (*bad_line 0: out of memory).
 */
struct auth_store *auth_parse(const char *text, size_t len, unsigned int *bad_line,
			      const char **why);
/* Read and parse path. NULL on failure, with a message in err. */
struct auth_store *auth_load(const char *path, char *err, size_t errlen);
void auth_free(struct auth_store *s);

const struct auth_entry *auth_find(const struct auth_store *s, const char *user, size_t len);

enum auth_result {
	AUTH_OK = 0,
	AUTH_DENIED,
};

/*
 * Check a password against an entry. Plaintext entries are compared in
 * constant time. Hashed entries run argon2id: slow (tens of ms) on purpose,
 * so callers on an event loop must not call this for hashed entries (see
 * auth_needs_slow_verify) but hand it to a verifier thread.
 */
enum auth_result auth_verify(const struct auth_entry *e, const char *pass, size_t len);
static inline bool auth_needs_slow_verify(const struct auth_entry *e)
{
	return e->hashed;
}

/* Hash a password for the file (sluice passwd). 0, or -1 (out of memory). */
int auth_hash(const char *pass, size_t len, char out[128]);

#endif
