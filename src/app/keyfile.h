/*
 * Tunnel key files (`--tunnel-key FILE`): base64 of 32 bytes, as written by
 * `sluice genkey`. The library side (tchan_key_parse) checks the content;
 * this reads the file and reports loose permissions so the caller can warn,
 * as ssh does for private keys.
 */
#ifndef SLUICE_APP_KEYFILE_H
#define SLUICE_APP_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunnel/chan.h"

/*
 * Read and parse the key file at path into key. 0 on success, with *loose
 * set when the file is a regular file that its group or others may read or
 * write (the caller logs a warning: "chmod 600 FILE"). -errno on failure,
 * with a one-line reason in err (not naming path: the caller adds it).
 * The file's bytes are wiped from memory after parsing.
 */
int keyfile_load(const char *path, uint8_t key[static TCHAN_KEY_LEN], bool *loose, char *err,
		 size_t errlen);

#endif
