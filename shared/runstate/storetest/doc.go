// Package storetest is the contract suite every runstate.Store passes: the
// semantics of Get, Create, Update, List and Delete, their not-found,
// conflict, invalid-key and cancellation errors, Mutate and MutateJSON, and
// races (concurrent Mutate increments lose none; concurrent Create of one
// key has exactly one winner). Implementations call Run from their tests.
package storetest
