// Package runstate is where the migration keeps everything it must remember
// between Function Compute invocations: inventory snapshots, verdicts, plans,
// batch state machines and the rotation ledger.
//
// The store is a flat map of slash-separated keys to opaque bytes with
// compare-and-swap: Create writes only if the key is absent, Update writes
// only if the object still has the Version the caller read. Handlers read,
// decide and write back through Mutate (or MutateJSON), so concurrent or
// replayed invocations converge instead of overwriting each other.
//
// Two implementations: DirStore here (a local directory, the embedded
// default, safe across OS processes on one machine) and shared/aliyun/oss (an
// OSS bucket, each key a log of create-only objects). The storetest package
// holds the one contract suite both pass.
package runstate
