#include "app/passwd.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "app/auth.h"

/* Read one line into buf without its newline. Returns its length or -1. */
static int read_line(FILE *in, char *buf, size_t cap)
{
	size_t n;

	if (!fgets(buf, (int)cap, in))
		return -1;
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(in))
		return -2;	/* longer than cap */
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return (int)n;
}

static int prompt(const char *what, char *buf, size_t cap)
{
	struct termios old, quiet;
	int n;

	fprintf(stderr, "%s", what);
	fflush(stderr);
	tcgetattr(0, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(0, TCSAFLUSH, &quiet);
	n = read_line(stdin, buf, cap);
	tcsetattr(0, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return n;
}

int passwd_main(int argc, char **argv)
{
	char pass[258], again[258], hash[128];
	const char *user;
	int n;

	if (argc != 3 || argv[2][0] == '-') {
		fprintf(stderr, "usage: sluice passwd USER  (the password is read from the terminal or stdin)\n");
		return argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0) ? 0 : 2;
	}
	user = argv[2];
	if (!*user || strlen(user) > 255 || strchr(user, ':')) {
		fprintf(stderr, "sluice: passwd: user name must be 1 to 255 bytes without ':'\n");
		return 2;
	}
	for (const char *p = user; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "sluice: passwd: control character in user name\n");
			return 2;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "sluice: passwd: libsodium failed to initialise\n");
		return 1;
	}
	if (isatty(0)) {
		n = prompt("Password: ", pass, sizeof(pass));
		if (n >= 0) {
			int m = prompt("Again: ", again, sizeof(again));

			if (m != n || sodium_memcmp(pass, again, (size_t)n) != 0) {
				fprintf(stderr, "sluice: passwd: the passwords differ\n");
				return 2;
			}
		}
	} else {
		n = read_line(stdin, pass, sizeof(pass));
	}
	if (n == -2 || n > 255) {
		fprintf(stderr, "sluice: passwd: password longer than 255 bytes\n");
		return 2;
	}
	if (n < 0) {
		fprintf(stderr, "sluice: passwd: no password given\n");
		return 2;
	}
	if (auth_hash(pass, (size_t)n, hash) < 0) {
		fprintf(stderr, "sluice: passwd: out of memory\n");
		return 1;
	}
	sodium_memzero(pass, sizeof(pass));
	sodium_memzero(again, sizeof(again));
	printf("%s:%s\n", user, hash);
	return 0;
}
