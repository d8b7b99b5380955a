#include "app/genkey.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/chan.h"

int genkey_main(int argc, char **argv)
{
	uint8_t key[TCHAN_KEY_LEN];
	char text[sodium_base64_ENCODED_LEN(TCHAN_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	struct stat st;
	int rc = 0;

	if (argc != 2) {
		bool help = argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0);

		fprintf(help ? stdout : stderr,
			"usage: sluice genkey > tunnel.key  (a new key for --tunnel-key; keep it private:"
			" umask 077 first)\n");
		return help ? 0 : 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "sluice: genkey: libsodium failed to initialise\n");
		return 1;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(text, sizeof(text), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(key, sizeof(key));
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "sluice: genkey: cannot write the key\n");
		rc = 1;
	}
	sodium_memzero(text, sizeof(text));
	if (rc == 0 && fstat(1, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & (S_IRWXG | S_IRWXO)))
		fprintf(stderr, "sluice: genkey: warning: the key file is readable by others;"
			" chmod 600 it\n");
	return rc;
}
