/*
 * Command line parsing: pure (no sockets, no resolution), so it is unit
 * tested. Bind-address resolution happens later, in main.
 */
#ifndef SLUICE_APP_CLI_H
#define SLUICE_APP_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "app/config.h"

/* What sluice runs when no -L is given. */
#define CLI_DEFAULT_LISTENER	"proxy://127.0.0.1:1080"

enum cli_action {
	CLI_RUN = 0,
	CLI_HELP,
	CLI_VERSION,
	CLI_ERROR,		/* err holds one line, without "sluice: " */
};

enum cli_action cli_parse(int argc, char **argv, struct config *c,
			  char *err, size_t errlen);
void cli_usage(FILE *out);

/* Parse one -L URL into l (l->url is set to a copy). 0, or -1 with err. */
int listen_url_parse(const char *url, struct listener_cfg *l, char *err, size_t errlen);

/* "10", "0.5", "250ms", "2s", "1m", "1h" -> ms. 0 or -1. */
int duration_parse(const char *s, uint32_t *ms);
/* "65536", "64k", "1m" -> bytes. 0 or -1. */
int size_parse(const char *s, size_t *bytes);

#endif
