// Must not compile: keel::sqlite_detail is the SQLite engine's own machinery, not exported by `import keel;`.
import keel;

auto misuse() { return keel::sqlite_detail::error_fields(19, "UNIQUE constraint failed: band.name"); }
