package kms

import (
	"crypto/sha1"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Value sets of the inventory, shared with the operations' filters.
var (
	keySpecs         = []string{"Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_AES_192", "Aliyun_SM4", "RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P256K", "EC_SM2"}
	keyUsages        = []string{"ENCRYPT/DECRYPT", "SIGN/VERIFY"}
	protectionLevels = []string{"SOFTWARE", "HSM"}
	origins          = []string{"Aliyun_KMS", "EXTERNAL"}
	keyStates        = []string{"Enabled", "Disabled", "PendingDeletion", "PendingImport"}
	secretTypes      = []string{"Generic", "Rds", "RAMCredentials", "ECS"}
	instanceStatuses = []string{"Connected", "Connecting", "Disconnected", "Error"}
)

var (
	reAccount  = regexp.MustCompile(`^[0-9]{1,20}$`)
	reRegion   = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
	reUUID     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reSecret   = regexp.MustCompile(`^[A-Za-z0-9_/+=.@-]{1,192}$`)
	reVersion  = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	reInstance = regexp.MustCompile(`^kst-[a-z0-9]{4,}$`)
	reInterval = regexp.MustCompile(`^[0-9]+s$`)
)

// Rotation interval bounds shared by keys and secrets.
const (
	minRotation = 7 * 24 * time.Hour
	maxRotation = 365 * 24 * time.Hour
	// defaultDate is the creation date of resources that give none.
	defaultDate = "2024-01-01T00:00:00Z"
)

type validator struct{ probs []Problem }

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{path, fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(path, val string, set []string) {
	if val != "" && !slices.Contains(set, val) {
		v.add(path, "must be %s", orList(set))
	}
}

func (v *validator) date(path, val string) {
	if val == "" {
		return
	}
	if _, err := time.Parse(time.RFC3339, val); err != nil {
		v.add(path, "must be an RFC 3339 time like 2024-01-31T08:00:00Z")
	}
}

func (v *validator) interval(path, val string, required bool) {
	if val == "" {
		if required {
			v.add(path, "is required when automaticRotation is Enabled")
		}
		return
	}
	d, ok := parseInterval(val)
	if !ok {
		v.add(path, "must be whole seconds like 604800s")
		return
	}
	if d < minRotation || d > maxRotation {
		v.add(path, "must be between 604800s (7 days) and 31536000s (365 days)")
	}
}

func orList(set []string) string {
	if len(set) == 2 {
		return set[0] + " or " + set[1]
	}
	return "one of " + strings.Join(set, ", ")
}

func parseInterval(s string) (time.Duration, bool) {
	if !reInterval.MatchString(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "s"), 10, 64)
	if err != nil || n > int64(maxRotation/time.Second)*100 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

func sortedRegions(m map[string]RegionInventory) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Validate checks every rule of the inventory format (doc.go) and returns an
// *InventoryError listing each violation, or nil.
func (inv *Inventory) Validate() error {
	v := &validator{}
	if len(inv.Accounts) == 0 {
		v.add("accounts", "at least one account is required")
	}
	accountAt := map[string]int{}
	accessKeyAt := map[string]int{}
	type instRef struct {
		owner, region, path string
		in                  *InstanceInventory
		keys, secrets       int
	}
	instances := map[string]*instRef{}
	keyIDs := map[string]string{}
	// First pass: accounts and instances, so keys and secrets can refer to
	// instances of any account.
	for ai, a := range inv.Accounts {
		ap := fmt.Sprintf("accounts[%d]", ai)
		switch {
		case a.ID == "":
			v.add(ap+".id", "is required")
		case !reAccount.MatchString(a.ID):
			v.add(ap+".id", "must be a numeric account id")
		default:
			if prev, dup := accountAt[a.ID]; dup {
				v.add(ap+".id", "duplicate account id (also accounts[%d])", prev)
			} else {
				accountAt[a.ID] = ai
			}
		}
		if (a.AccessKeyID == "") != (a.AccessKeySecret == "") {
			v.add(ap+".accessKeySecret", "accessKeyId and accessKeySecret go together")
		}
		if a.AccessKeyID != "" {
			// The keyring gives an access key to one account only.
			if prev, dup := accessKeyAt[a.AccessKeyID]; dup {
				v.add(ap+".accessKeyId", "duplicate access key id (also accounts[%d])", prev)
			} else {
				accessKeyAt[a.AccessKeyID] = ai
			}
		}
		for _, r := range sortedRegions(a.Regions) {
			rp := fmt.Sprintf("%s.regions[%q]", ap, r)
			if !reRegion.MatchString(r) {
				v.add(rp, "must be a region id like cn-hangzhou")
			}
			for ii := range a.Regions[r].Instances {
				in := &a.Regions[r].Instances[ii]
				ip := fmt.Sprintf("%s.instances[%d]", rp, ii)
				if !reInstance.MatchString(in.KmsInstanceID) {
					v.add(ip+".kmsInstanceId", "must look like kst-<lower-case letters and digits>")
				} else if prev, dup := instances[in.KmsInstanceID]; dup {
					v.add(ip+".kmsInstanceId", "duplicate instance id (also %s)", prev.path)
				} else {
					instances[in.KmsInstanceID] = &instRef{owner: a.ID, region: r, path: ip, in: in}
				}
				if in.Type != "software" && in.Type != "hardware" {
					v.add(ip+".type", "must be software or hardware")
				}
				if !reVersion.MatchString(in.ImageVersion) {
					v.add(ip+".imageVersion", "must be a version like 2.9.0")
				}
				if in.KeyQuota < 0 {
					v.add(ip+".keyQuota", "must not be negative")
				}
				if in.SecretQuota < 0 {
					v.add(ip+".secretQuota", "must not be negative")
				}
				if in.KeysUsed < 0 || in.KeysUsed > in.KeyQuota {
					v.add(ip+".keysUsed", "must be between 0 and keyQuota")
				}
				if in.SecretsUsed < 0 || in.SecretsUsed > in.SecretQuota {
					v.add(ip+".secretsUsed", "must be between 0 and secretQuota")
				}
				if len(in.SecretNames) > in.SecretsUsed {
					v.add(ip+".secretNames", "names more secrets than secretsUsed")
				}
				for ni, n := range in.SecretNames {
					if !reSecret.MatchString(n) {
						v.add(fmt.Sprintf("%s.secretNames[%d]", ip, ni), "must be 1 to 192 letters, digits or _/+=.@-")
					}
				}
				v.oneOf(ip+".status", in.Status, instanceStatuses)
				v.date(ip+".startDate", in.StartDate)
				v.date(ip+".endDate", in.EndDate)
				if (in.EndDate == "") == (in.ExpiresInDays == 0) {
					v.add(ip+".endDate", "set exactly one of endDate and expiresInDays")
				}
			}
		}
	}
	for _, ref := range instances {
		for si, acct := range ref.in.SharedWith {
			sp := fmt.Sprintf("%s.sharedWith[%d]", ref.path, si)
			if acct == ref.owner {
				v.add(sp, "is the owner; an instance is not shared with its owner")
			} else if _, ok := accountAt[acct]; !ok {
				v.add(sp, "unknown account %s", acct)
			}
		}
	}
	checkInstance := func(path, id, acct, region string) *instRef {
		if id == "" {
			return nil
		}
		ref := instances[id]
		switch {
		case ref == nil:
			v.add(path, "unknown instance %s", id)
		case ref.region != region:
			v.add(path, "instance %s is in %s, not %s", id, ref.region, region)
		case ref.owner != acct && !slices.Contains(ref.in.SharedWith, acct):
			v.add(path, "instance %s is not shared with account %s", id, acct)
		default:
			return ref
		}
		return nil
	}
	// Second pass: keys and secrets.
	for ai, a := range inv.Accounts {
		ap := fmt.Sprintf("accounts[%d]", ai)
		for _, r := range sortedRegions(a.Regions) {
			rp := fmt.Sprintf("%s.regions[%q]", ap, r)
			ri := a.Regions[r]
			aliases := map[string]bool{}
			laneKeys := map[string]*KeyInventory{}
			for ki := range ri.Keys {
				k := &ri.Keys[ki]
				kp := fmt.Sprintf("%s.keys[%d]", rp, ki)
				if !reUUID.MatchString(k.KeyID) {
					v.add(kp+".keyId", "must be a lower-case UUID like 0b30658a-ed1a-4922-b8f7-a673ca9c1234")
				} else if prev, dup := keyIDs[k.KeyID]; dup {
					v.add(kp+".keyId", "duplicate key id (also %s)", prev)
				} else {
					keyIDs[k.KeyID] = kp
					laneKeys[k.KeyID] = k
				}
				service := false
				for i, al := range k.Aliases {
					p := fmt.Sprintf("%s.aliases[%d]", kp, i)
					switch {
					case !strings.HasPrefix(al, "alias/") || len(al) == len("alias/"):
						v.add(p, "must start with alias/")
					case aliases[al]:
						v.add(p, "duplicate alias in this account and region")
					}
					aliases[al] = true
					if strings.HasPrefix(al, "alias/acs/") {
						service = true
					}
					laneKeys[al] = k
				}
				if k.Creator != "" && k.Creator != a.ID && !service {
					v.add(kp+".creator", "must be the account id unless the key has a service alias alias/acs/<product>")
				}
				if service && k.Creator == a.ID {
					v.add(kp+".creator", "a service key (alias alias/acs/<product>) is created by the product, not the account")
				}
				v.oneOf(kp+".keySpec", k.KeySpec, keySpecs)
				v.oneOf(kp+".keyUsage", k.KeyUsage, keyUsages)
				v.oneOf(kp+".protectionLevel", k.ProtectionLevel, protectionLevels)
				v.oneOf(kp+".origin", k.Origin, origins)
				v.oneOf(kp+".keyState", k.KeyState, keyStates)
				v.oneOf(kp+".automaticRotation", k.AutomaticRotation, []string{"Enabled", "Disabled"})
				v.date(kp+".creationDate", k.CreationDate)
				v.date(kp+".deleteDate", k.DeleteDate)
				v.date(kp+".lastRotationDate", k.LastRotationDate)
				if k.DeleteDate != "" && k.KeyState != "PendingDeletion" {
					v.add(kp+".deleteDate", "is only set on a PendingDeletion key")
				}
				rotating := k.AutomaticRotation == "Enabled"
				if rotating && k.Origin == "EXTERNAL" {
					v.add(kp+".automaticRotation", "keys with imported (EXTERNAL) material do not rotate")
				}
				v.interval(kp+".rotationInterval", k.RotationInterval, rotating)
				seen := map[string]bool{}
				for i, kv := range k.Versions {
					p := fmt.Sprintf("%s.versions[%d]", kp, i)
					if kv.KeyVersionID == "" {
						v.add(p+".keyVersionId", "is required")
					} else if seen[kv.KeyVersionID] {
						v.add(p+".keyVersionId", "duplicate version id")
					}
					seen[kv.KeyVersionID] = true
					v.date(p+".creationDate", kv.CreationDate)
				}
				for tk := range k.Tags {
					if tk == "" {
						v.add(kp+".tags", "tag keys must not be empty")
					}
				}
				if k.DKMSInstanceID != "" && service {
					v.add(kp+".dkmsInstanceId", "service keys are not migrated to instances")
				} else if ref := checkInstance(kp+".dkmsInstanceId", k.DKMSInstanceID, a.ID, r); ref != nil {
					ref.keys++
				}
			}
			names := map[string]bool{}
			for si := range ri.Secrets {
				s := &ri.Secrets[si]
				sp := fmt.Sprintf("%s.secrets[%d]", rp, si)
				if !reSecret.MatchString(s.SecretName) {
					v.add(sp+".secretName", "must be 1 to 192 letters, digits or _/+=.@-")
				} else if names[s.SecretName] {
					v.add(sp+".secretName", "duplicate secret name in this account and region")
				}
				names[s.SecretName] = true
				v.oneOf(sp+".secretType", s.SecretType, secretTypes)
				if s.EncryptionKeyID != "" {
					k := laneKeys[s.EncryptionKeyID]
					switch {
					case k == nil:
						v.add(sp+".encryptionKeyId", "no key %s in this account and region", s.EncryptionKeyID)
					case k.KeyUsage == "SIGN/VERIFY":
						v.add(sp+".encryptionKeyId", "key %s is not an ENCRYPT/DECRYPT key", s.EncryptionKeyID)
					}
				}
				v.oneOf(sp+".automaticRotation", s.AutomaticRotation, []string{"Enabled", "Disabled"})
				rotating := s.AutomaticRotation == "Enabled"
				if rotating && (s.SecretType == "" || s.SecretType == "Generic") {
					v.add(sp+".automaticRotation", "automatic rotation applies only to Rds, RAMCredentials and ECS secrets")
				}
				v.interval(sp+".rotationInterval", s.RotationInterval, rotating)
				v.date(sp+".lastRotationDate", s.LastRotationDate)
				v.date(sp+".createTime", s.CreateTime)
				if len(s.Versions) > 0 {
					if s.SecretData != "" {
						v.add(sp+".secretData", "set secretData on the versions when versions are listed")
					}
					current := 0
					seen := map[string]bool{}
					for i, sv := range s.Versions {
						p := fmt.Sprintf("%s.versions[%d]", sp, i)
						if sv.VersionID == "" {
							v.add(p+".versionId", "is required")
						} else if seen[sv.VersionID] {
							v.add(p+".versionId", "duplicate version id")
						}
						seen[sv.VersionID] = true
						if slices.Contains(sv.VersionStages, "ACSCurrent") {
							current++
						}
						v.date(p+".createTime", sv.CreateTime)
					}
					if current != 1 {
						v.add(sp+".versions", "exactly one version must carry the ACSCurrent stage")
					}
				}
				for tk := range s.Tags {
					if tk == "" {
						v.add(sp+".tags", "tag keys must not be empty")
					}
				}
				if ref := checkInstance(sp+".dkmsInstanceId", s.DKMSInstanceID, a.ID, r); ref != nil {
					ref.secrets++
				}
			}
		}
	}
	ids := make([]string, 0, len(instances))
	for id := range instances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ref := instances[id]
		if ref.in.KeysUsed+ref.keys > ref.in.KeyQuota {
			v.add(ref.path+".keyQuota", "keysUsed %d plus %d migrated keys exceed keyQuota %d", ref.in.KeysUsed, ref.keys, ref.in.KeyQuota)
		}
		if ref.in.SecretsUsed+ref.secrets > ref.in.SecretQuota {
			v.add(ref.path+".secretQuota", "secretsUsed %d plus %d migrated secrets exceed secretQuota %d", ref.in.SecretsUsed, ref.secrets, ref.in.SecretQuota)
		}
	}
	if len(v.probs) > 0 {
		return &InventoryError{v.probs}
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func mustTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339, s) // validated
	return t.UTC()
}

// derivedUUID makes a stable UUID-shaped id from a seed string.
func derivedUUID(seed string) string {
	h := sha1.Sum([]byte(seed))
	h[6] = h[6]&0x0f | 0x40 // version 4 shape
	h[8] = h[8]&0x3f | 0x80
	x := fmt.Sprintf("%x", h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func sortedTags(m map[string]string) []tag {
	out := make([]tag, 0, len(m))
	for k, v := range m {
		out = append(out, tag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (ki *KeyInventory) build(acct, region string) *key {
	k := &key{
		id:                 ki.KeyID,
		arn:                fmt.Sprintf("acs:kms:%s:%s:key/%s", region, acct, ki.KeyID),
		aliases:            slices.Clone(ki.Aliases),
		tags:               sortedTags(ki.Tags),
		description:        ki.Description,
		origin:             or(ki.Origin, "Aliyun_KMS"),
		spec:               or(ki.KeySpec, "Aliyun_AES_256"),
		usage:              or(ki.KeyUsage, "ENCRYPT/DECRYPT"),
		protection:         or(ki.ProtectionLevel, "SOFTWARE"),
		state:              or(ki.KeyState, "Enabled"),
		created:            mustTime(or(ki.CreationDate, defaultDate)),
		deleteDate:         mustTime(ki.DeleteDate),
		deletionProtection: ki.DeletionProtection,
		rotation:           ki.AutomaticRotation == "Enabled",
		lastRotation:       mustTime(ki.LastRotationDate),
		dkms:               ki.DKMSInstanceID,
	}
	k.interval, _ = parseInterval(ki.RotationInterval)
	for _, al := range k.aliases {
		if p, ok := strings.CutPrefix(al, "alias/acs/"); ok {
			k.service = true
			k.creator = p
		}
	}
	if ki.Creator != "" {
		k.creator = ki.Creator
	} else if !k.service {
		k.creator = acct
	}
	if k.state == "PendingDeletion" && k.deleteDate.IsZero() {
		k.deleteDate = k.created.Add(7 * 24 * time.Hour)
	}
	for _, kv := range ki.Versions {
		k.versions = append(k.versions, keyVersion{kv.KeyVersionID, mustTime(or(kv.CreationDate, fmtTime(k.created)))})
	}
	if len(k.versions) == 0 {
		k.versions = []keyVersion{{derivedUUID(k.id + "/v1"), k.created}}
	}
	return k
}

func (si *SecretInventory) build(acct, region string) *secret {
	s := &secret{
		name:         si.SecretName,
		arn:          fmt.Sprintf("acs:kms:%s:%s:secret/%s", region, acct, si.SecretName),
		secretType:   or(si.SecretType, "Generic"),
		description:  si.Description,
		rotation:     si.AutomaticRotation == "Enabled",
		lastRotation: mustTime(si.LastRotationDate),
		extended:     si.ExtendedConfig,
		created:      mustTime(or(si.CreateTime, defaultDate)),
		tags:         sortedTags(si.Tags),
		dkms:         si.DKMSInstanceID,
	}
	s.encKeyID = si.EncryptionKeyID
	s.interval, _ = parseInterval(si.RotationInterval)
	for _, sv := range si.Versions {
		s.versions = append(s.versions, secretVersion{sv.VersionID, slices.Clone(sv.VersionStages), mustTime(or(sv.CreateTime, fmtTime(s.created))), sv.SecretData})
	}
	if len(s.versions) == 0 {
		s.versions = []secretVersion{{"v1", []string{"ACSCurrent"}, s.created, si.SecretData}}
	}
	s.updated = s.created
	for _, sv := range s.versions {
		if sv.created.After(s.updated) {
			s.updated = sv.created
		}
	}
	return s
}

func (ii *InstanceInventory) build(owner, region string, now time.Time) *instance {
	in := &instance{
		id:          ii.KmsInstanceID,
		name:        or(ii.Name, ii.KmsInstanceID),
		owner:       owner,
		region:      region,
		hardware:    ii.Type == "hardware",
		image:       ii.ImageVersion,
		keyQuota:    ii.KeyQuota,
		secretQuota: ii.SecretQuota,
		keysBase:    ii.KeysUsed,
		secretsBase: ii.SecretsUsed,
		secretNames: map[string]bool{},
		status:      or(ii.Status, "Connected"),
		start:       mustTime(or(ii.StartDate, defaultDate)),
		end:         mustTime(ii.EndDate),
		autoRenewal: ii.AutoRenewal,
		sharedWith:  slices.Clone(ii.SharedWith),
		spec:        ii.Spec,
		vpcNum:      ii.VpcNum,
	}
	if ii.ExpiresInDays != 0 {
		in.end = now.Add(time.Duration(ii.ExpiresInDays) * 24 * time.Hour).Truncate(time.Second)
	}
	if in.spec == 0 {
		in.spec = 1000
	}
	if in.vpcNum == 0 {
		in.vpcNum = 1
	}
	for _, n := range ii.SecretNames {
		in.secretNames[n] = true
	}
	return in
}
