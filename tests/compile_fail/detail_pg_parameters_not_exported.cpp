// Must not compile: how PgConnection encodes its values is not exported, though keel::pg::timeout beside it is.
import keel;

auto misuse() { return keel::pg::EncodedParameters{}; }
