// Must not compile: how PgConnection encodes its values is not exported (keel::pg::timeout, given among them, is).
import keel;

auto misuse() { return keel::pg::EncodedParameters{}; }
