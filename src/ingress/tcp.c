/*
 * tcp:// port forwarding: no handshake at all. The session dials the
 * listener's fixed target as soon as a client is accepted and relays once
 * connected; a failed connect just closes the client.
 */
#include "ingress/ingress.h"

const struct ingress_ops ingress_tcp = {
	.name = "tcp",
};
