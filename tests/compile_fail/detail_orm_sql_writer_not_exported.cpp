// Must not compile: the writer that queries render themselves into (orm/sql_writer.inc) is the ORM's own.
import keel;

void misuse(keel::SqlWriter& writer) { (void)writer; }
