// Package ram gives each account of a migration its credential: the
// function's own (the invocation's STS credential, or a local key), fixed
// keys for the offline twins, and a RAM role assumed through STS for every
// other account (credentials-go).
package ram
