// keel.writer: the bulk writer. It takes a stream of statements (SQL text or keel queries) and sends them in
// batches that stay under a byte and a bound-parameter limit, each batch in a transaction, with retries of
// transient failures, a circuit breaker, and a collector that records every batch.
export module keel.writer;
export import keel.core;  // its values, rows and errors with it
export import :adapter;
export import :batching;
export import :bulk_writer;
export import :circuit_breaker;
export import :collector;
export import :engine_adapter;
export import :function_adapter;
export import :insert_merging;
export import :retry;
