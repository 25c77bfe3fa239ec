// Must not compile: a request's reply (client/replies.inc) is the connection's own, never named by a user.
import keel;

void misuse(keel::pg::BoundReply& reply) { (void)reply; }
