// Package discover inventories every configured account × region: keys
// with aliases, tags, versions and rotation; secrets with type, encryption
// key, rotation, tags and versions (never their values); and the KMS 3.0
// instances each account can see, with quota and expiry.
//
// Lanes run in parallel, at most Options.ParallelLanes at once (the next
// starting as one finishes, so what a run holds is bounded by the lanes in
// progress and by its results, not by the number of lanes), and resources
// inside a lane are described by a pool of workers; the rate limits
// themselves live in the KMS adapter, so the pool only has to be large
// enough to keep every quota busy. A call that
// still fails after the adapter's retries is recorded on its lane as a
// DiscoveryError (the lane is then marked incomplete) instead of aborting
// the run; a resource deleted between listing and describing is skipped.
package discover
