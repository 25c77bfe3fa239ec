// Must not compile: the PostgreSQL connection's pipeline is reachable through PgConnection, never named by a user.
import keel;

void misuse(keel::pg::Pipeline& pipeline) { (void)pipeline; }
