// Package deploy renders the RAM policies of a kmsmig deployment from its
// configuration: the templates in this folder (embedded) with the accounts,
// the state bucket, the log project and the functions the code invokes
// filled in. `kmsmig policies` and render-policies.sh write them;
// policy_test.go keeps the grants and the code in step. README.md in this
// folder explains every grant.
package deploy
