package estate

import "strings"

// SecretType is the kind of a secret, as DescribeSecret reports it. Every
// type can be migrated.
type SecretType string

// Secret types. Rds, RAMCredentials and ECS are the dynamic secrets; only
// they rotate automatically.
const (
	SecretGeneric        SecretType = "Generic"
	SecretRds            SecretType = "Rds"
	SecretRAMCredentials SecretType = "RAMCredentials"
	SecretECS            SecretType = "ECS"
)

// SystemKeyMarker is the EncryptionKeyID discovery records for a secret
// protected by the system-managed key of Secrets Manager instead of a CMK.
// An empty EncryptionKeyID means the same.
const SystemKeyMarker = "system-managed"

// Secret is the metadata of one secret of a lane. There is deliberately no
// field for a secret value: discovery never reads one and nothing in the
// migration needs one.
type Secret struct {
	Name string     `json:"name"`
	Type SecretType `json:"type"`
	// EncryptionKeyID is the CMK protecting the secret, or empty (or
	// SystemKeyMarker) for the system-managed key.
	EncryptionKeyID string            `json:"encryptionKeyId,omitempty"`
	Rotation        Rotation          `json:"rotation"`
	Tags            map[string]string `json:"tags,omitempty"`
	VersionCount    int               `json:"versionCount,omitempty"`
	// StageLabels are the stage labels in use across the secret's versions
	// (ACSCurrent, ACSPrevious, custom ones), sorted by Normalize.
	StageLabels []string `json:"stageLabels,omitempty"`
	// InstanceID is the KMS 3.0 instance holding the secret; empty while
	// the secret still lives in KMS 1.0.
	InstanceID string `json:"instanceId,omitempty"`
}

// Migrated reports whether the secret already lives in a KMS 3.0 instance.
func (s Secret) Migrated() bool { return s.InstanceID != "" }

// UsesSystemKey reports whether the secret is protected by the
// system-managed key (empty EncryptionKeyID, SystemKeyMarker, or an
// `acs/...` alias), and so does not wait for any CMK to migrate.
func (s Secret) UsesSystemKey() bool {
	id := s.EncryptionKeyID
	return id == "" || id == SystemKeyMarker ||
		strings.HasPrefix(id, "acs/") || strings.HasPrefix(id, "alias/acs/")
}
