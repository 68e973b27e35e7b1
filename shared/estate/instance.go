package estate

import (
	"slices"
	"time"
)

// InstanceKind is the product type of a KMS 3.0 instance.
type InstanceKind string

// Instance kinds. The image-version prerequisite is upgraded by the
// customer on software instances and through the account manager on
// hardware ones.
const (
	InstanceSoftware InstanceKind = "software"
	InstanceHardware InstanceKind = "hardware"
)

// Instance is a KMS 3.0 instance visible from a lane: owned by the lane's
// account or shared with it through a resource directory.
type Instance struct {
	ID           string       `json:"id"`
	Region       string       `json:"region"`
	Kind         InstanceKind `json:"kind"`
	ImageVersion string       `json:"imageVersion,omitempty"`
	KeyQuota     int          `json:"keyQuota"`
	KeyUsed      int          `json:"keyUsed"`
	SecretQuota  int          `json:"secretQuota"`
	SecretUsed   int          `json:"secretUsed"`
	Status       string       `json:"status,omitempty"`
	Expires      time.Time    `json:"expires,omitzero"`
	AutoRenew    bool         `json:"autoRenew"`
	// Owner is the account that bought the instance; empty means the
	// account of the lane that discovered it.
	Owner string `json:"owner,omitempty"`
	// SharedWith lists the accounts the owner shared the instance with,
	// sorted by Normalize.
	SharedWith []string `json:"sharedWith,omitempty"`
	// SecretNames are names of secrets already stored in the instance, when
	// discovery could list them; a KMS 1.0 secret with one of these names
	// cannot migrate into it.
	SecretNames []string `json:"secretNames,omitempty"`
}

// FreeKeys returns the key quota still available, never below zero.
func (in Instance) FreeKeys() int { return max(in.KeyQuota-in.KeyUsed, 0) }

// FreeSecrets returns the secret quota still available, never below zero.
func (in Instance) FreeSecrets() int { return max(in.SecretQuota-in.SecretUsed, 0) }

// OwnedBy reports whether account owns the instance. An empty Owner is
// resolved against fallback, the account of the lane that saw it.
func (in Instance) OwnedBy(account, fallback string) bool {
	owner := in.Owner
	if owner == "" {
		owner = fallback
	}
	return owner == account
}

// UsableBy reports whether account may migrate into the instance: it owns
// it, or the owner shared it with that account. fallback resolves an empty
// Owner, as in OwnedBy.
func (in Instance) UsableBy(account, fallback string) bool {
	return in.OwnedBy(account, fallback) || slices.Contains(in.SharedWith, account)
}
