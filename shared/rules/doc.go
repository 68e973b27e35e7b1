// Package rules holds the migration tool's rules that more than one part
// of kmsmig applies: the classifier (shared/verdict), the engine's
// pre-flight (shared/migration) and the KMS twin's provider side
// (twin/kms). Each rule has one implementation here, so that what kmsmig
// plans and what the twin refuses cannot drift apart.
//
// The rules are those the documentation states (an instance must be
// Connected and not expired; one instance holds one secret per name, and
// several accounts may share an instance) read at their weakest: where the
// documentation is silent on how the service decides, the rule refuses
// rather than assumes.
//
// The package is pure: it imports the standard library only, which is why
// a twin may import it (shared/architecture_test.go checks both).
package rules
