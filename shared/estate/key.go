package estate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// KeyOrigin says where a key's material comes from, as DescribeKey reports
// it.
type KeyOrigin string

// Key origins. Keys with EXTERNAL (imported, BYOK) material cannot be
// migrated.
const (
	OriginAliyunKMS KeyOrigin = "Aliyun_KMS"
	OriginExternal  KeyOrigin = "EXTERNAL"
)

// KeyState is a key's lifecycle state, as DescribeKey reports it.
type KeyState string

// Key states that matter to the migration. Other states reported by the
// service (for example PendingImport) are kept verbatim.
const (
	KeyEnabled         KeyState = "Enabled"
	KeyDisabled        KeyState = "Disabled"
	KeyPendingDeletion KeyState = "PendingDeletion"
)

// serviceAliasPrefixes are the alias forms of keys that a cloud product
// created for server-side encryption (`acs/<product>`, reported by the API
// as `alias/acs/<product>`).
var serviceAliasPrefixes = []string{"acs/", "alias/acs/"}

// Key is one KMS key of a lane: a user CMK or a service key. Its fields
// mirror DescribeKey, ListAliasesByKeyId and ListResourceTags; nothing here
// is secret.
type Key struct {
	ID  string `json:"id"`
	Arn string `json:"arn,omitempty"`
	// Aliases are the key's alias names as the API returns them
	// (`alias/...`), sorted by Normalize.
	Aliases         []string          `json:"aliases,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	Origin          KeyOrigin         `json:"origin"`
	Spec            string            `json:"spec,omitempty"`
	Usage           string            `json:"usage,omitempty"`
	ProtectionLevel string            `json:"protectionLevel,omitempty"`
	State           KeyState          `json:"state"`
	// Creator is the account UID that created a user CMK, or the name of
	// the cloud product that created a service key.
	Creator      string    `json:"creator,omitempty"`
	VersionCount int       `json:"versionCount,omitempty"`
	Rotation     Rotation  `json:"rotation"`
	NextRotation time.Time `json:"nextRotation,omitzero"`
	LastRotation time.Time `json:"lastRotation,omitzero"`
	// InstanceID is the KMS 3.0 instance holding the key; empty while the
	// key still lives in KMS 1.0.
	InstanceID string `json:"instanceId,omitempty"`
}

// Migrated reports whether the key already lives in a KMS 3.0 instance.
func (k Key) Migrated() bool { return k.InstanceID != "" }

// IsServiceKey reports whether a cloud product created the key for
// server-side encryption: an alias under `acs/` (or `alias/acs/`), or a
// Creator that is not an account UID. Account UIDs are all digits, as the
// real service's are; any other non-empty Creator is taken for a product
// name. Service keys are never migrated and need no action.
func (k Key) IsServiceKey() bool {
	for _, a := range k.Aliases {
		for _, p := range serviceAliasPrefixes {
			if strings.HasPrefix(a, p) {
				return true
			}
		}
	}
	return k.Creator != "" && !isDigits(k.Creator)
}

// HasAlias reports whether the key carries alias, given with or without the
// `alias/` prefix.
func (k Key) HasAlias(alias string) bool {
	want := strings.TrimPrefix(alias, "alias/")
	for _, a := range k.Aliases {
		if strings.TrimPrefix(a, "alias/") == want {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Rotation is an automatic rotation policy of a key or a secret. It must be
// off while the resource migrates and switched back on afterwards.
type Rotation struct {
	Enabled bool
	// Interval is the rotation period; the service accepts 7 to 365 days.
	Interval time.Duration
}

type rotationJSON struct {
	Enabled  bool   `json:"enabled"`
	Interval string `json:"interval,omitempty"`
}

// MarshalJSON encodes the interval the way the API writes it (`604800s`),
// so that the persisted form reads like the service's.
func (r Rotation) MarshalJSON() ([]byte, error) {
	j := rotationJSON{Enabled: r.Enabled}
	if r.Interval != 0 {
		if r.Interval%time.Second == 0 {
			j.Interval = strconv.FormatInt(int64(r.Interval/time.Second), 10) + "s"
		} else {
			j.Interval = r.Interval.String()
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON accepts the API form (`604800s`) and any Go duration
// (`168h`); it returns an error naming a malformed interval.
func (r *Rotation) UnmarshalJSON(b []byte) error {
	var j rotationJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var d time.Duration
	if j.Interval != "" {
		var err error
		if d, err = time.ParseDuration(j.Interval); err != nil {
			return fmt.Errorf("estate: rotation interval %q: %w", j.Interval, err)
		}
	}
	*r = Rotation{Enabled: j.Enabled, Interval: d}
	return nil
}
