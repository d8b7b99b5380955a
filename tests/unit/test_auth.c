/* Credential store: parsing, lookup, verification (plaintext and argon2id). */
#include <sodium.h>
#include <stdlib.h>

#include "app/auth.h"
#include "unit.h"

static void test_parse_ok(void)
{
	const char text[] = "# users\n\nalice:secret\r\nbob:\ncarol:p:with:colons\n";
	unsigned int line;
	const char *why;
	struct auth_store *s = auth_parse(text, sizeof(text) - 1, &line, &why);
	const struct auth_entry *e;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(s->n, 3);
	e = auth_find(s, "alice", 5);
	CHECK(e && !e->hashed);
	CHECK(e && auth_verify(e, "secret", 6) == AUTH_OK);
	CHECK(e && auth_verify(e, "secreT", 6) == AUTH_DENIED);
	CHECK(e && auth_verify(e, "secret!", 7) == AUTH_DENIED);
	CHECK(e && auth_verify(e, "", 0) == AUTH_DENIED);
	e = auth_find(s, "bob", 3);
	CHECK(e && auth_verify(e, "", 0) == AUTH_OK);
	e = auth_find(s, "carol", 5);
	CHECK(e && auth_verify(e, "p:with:colons", 13) == AUTH_OK);
	CHECK(auth_find(s, "dave", 4) == NULL);
	CHECK(auth_find(s, "alic", 4) == NULL);
	CHECK(auth_find(s, "alicex", 6) == NULL);
	auth_free(s);
}

static void test_parse_errors(void)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *why;
	} cases[] = {
		{ "alice:x\nnocolon\n", 2, "expected user:password" },
		{ ":x\n", 1, "empty user name" },
		{ "a\tb:x\n", 1, "control character in user name" },
		{ "alice:x\nbob:y\nalice:z\n", 3, "user listed twice" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned int line;
		const char *why;
		struct auth_store *s = auth_parse(cases[i].text, strlen(cases[i].text), &line, &why);

		CHECK(s == NULL);
		CHECK_EQ_INT(line, cases[i].line);
		CHECK_STR(why, cases[i].why);
	}
}

static void test_hashed(void)
{
	char hash[128], text[256];
	unsigned int line;
	const char *why;
	struct auth_store *s;
	const struct auth_entry *e;

	CHECK_EQ_INT(auth_hash("hunter2", 7, hash), 0);
	CHECK(strncmp(hash, "$argon2id$", 10) == 0);
	snprintf(text, sizeof(text), "zed:%s\n", hash);
	s = auth_parse(text, strlen(text), &line, &why);
	CHECK(s != NULL);
	if (!s)
		return;
	e = auth_find(s, "zed", 3);
	CHECK(e && e->hashed && auth_needs_slow_verify(e));
	CHECK(e && auth_verify(e, "hunter2", 7) == AUTH_OK);
	CHECK(e && auth_verify(e, "hunter3", 7) == AUTH_DENIED);
	auth_free(s);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_parse_ok);
	RUN(test_parse_errors);
	RUN(test_hashed);
	return unit_done();
}
