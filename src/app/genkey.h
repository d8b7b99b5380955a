/* `sluice genkey`: print a new tunnel key (base64 of 32 random bytes) and a newline. */
#ifndef SLUICE_APP_GENKEY_H
#define SLUICE_APP_GENKEY_H

/* Exit status: 0, 2 on a usage error, 1 if the key cannot be written. */
int genkey_main(int argc, char **argv);

#endif
