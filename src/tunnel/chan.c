/* tchan: placeholder so the API compiles; the implementation follows. */
#include "tunnel/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tchan *tchan_client_new(const uint8_t psk[static TCHAN_KEY_LEN], uint64_t now_ms,
			       uint64_t wall_ms, tchan_rng_fn rng, void *rng_ctx,
			       tchan_emit_fn emit, void *user)
{
	return NULL;
}

struct tchan_server *tchan_server_new(const uint8_t psk[static TCHAN_KEY_LEN], uint64_t now_ms,
				      uint64_t wall_ms, tchan_rng_fn rng, void *rng_ctx)
{
	return NULL;
}

void tchan_server_set_wall(struct tchan_server *srv, uint64_t now_ms, uint64_t wall_ms) {}
void tchan_server_set_max(struct tchan_server *srv, size_t max_channels) {}

int tchan_server_input(struct tchan_server *srv, const uint8_t *pkt, size_t len, uint64_t now_ms,
		       struct tchan **ch, uint8_t *out, size_t cap, size_t *plen)
{
	*ch = NULL;
	return TCHAN_NONE;
}

int tchan_input(struct tchan *ch, const uint8_t *pkt, size_t len, uint64_t now_ms,
		uint8_t *out, size_t cap, size_t *plen)
{
	return -EBADMSG;
}

void tchan_set_emit(struct tchan *ch, tchan_emit_fn emit, void *user) {}
void tchan_flush(struct tchan *ch) {}
bool tchan_is_ready(const struct tchan *ch) { return false; }
bool tchan_is_dead(const struct tchan *ch) { return true; }
int tchan_send(struct tchan *ch, const uint8_t *payload, size_t len, uint64_t now_ms)
{
	return -ENOTCONN;
}
void tchan_tick(struct tchan *ch, uint64_t now_ms) {}
uint64_t tchan_next_tick(const struct tchan *ch, uint64_t now_ms) { return UINT64_MAX; }
void tchan_set_rekey_interval(struct tchan *ch, uint64_t ms) {}
uint32_t tchan_conv(const struct tchan *ch) { return 0; }
void tchan_free(struct tchan *ch) {}
void tchan_server_free(struct tchan_server *srv) {}
size_t tchan_server_count(const struct tchan_server *srv) { return 0; }
void tchan_server_get_stats(const struct tchan_server *srv, struct tchan_server_stats *st)
{
	memset(st, 0, sizeof(*st));
}
void tchan_get_stats(const struct tchan *ch, struct tchan_stats *st)
{
	memset(st, 0, sizeof(*st));
}
int tchan_key_parse(const char *text, uint8_t key[static TCHAN_KEY_LEN], const char **why)
{
	if (why)
		*why = "not implemented";
	return -EINVAL;
}
