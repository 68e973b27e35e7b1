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
	// maxQuota bounds an instance's key and secret quota: real instances
	// hold thousands; a larger figure is a mistake or an attack on the
	// twin's memory.
	maxQuota = 1_000_000
	// maxExpiryDays bounds expiresInDays either way (a century).
	maxExpiryDays = 36500
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
	c := &inventoryCheck{
		accountAt: map[string]int{}, accessKeyAt: map[string]int{},
		instances: map[string]*instRef{}, keyIDs: map[string]string{},
	}
	if len(inv.Accounts) == 0 {
		c.add("accounts", "at least one account is required")
	}
	// First pass: accounts and instances, so keys and secrets can refer to
	// instances of any account.
	for ai, a := range inv.Accounts {
		c.account(ai, a)
	}
	c.sharing()
	// Second pass: keys and secrets.
	for ai, a := range inv.Accounts {
		for _, r := range sortedRegions(a.Regions) {
			c.lane(fmt.Sprintf("accounts[%d].regions[%q]", ai, r), a.ID, r, a.Regions[r])
		}
	}
	c.quotas()
	if len(c.probs) > 0 {
		return &InventoryError{c.probs}
	}
	return nil
}

// inventoryCheck is one run of Validate: the problems found so far and
// what the first pass learnt for the second.
type inventoryCheck struct {
	validator
	accountAt   map[string]int      // account id → index in Accounts
	accessKeyAt map[string]int      // access key id → index in Accounts
	instances   map[string]*instRef // instance id → where it is declared
	keyIDs      map[string]string   // key id → path of its declaration
}

// instRef is a declared instance and what the inventory migrates into it.
type instRef struct {
	owner, region, path string
	in                  *InstanceInventory
	keys, secrets       int
}

// account checks an account's id and access key, its region ids and the
// instances it owns.
func (c *inventoryCheck) account(ai int, a AccountInventory) {
	ap := fmt.Sprintf("accounts[%d]", ai)
	switch {
	case a.ID == "":
		c.add(ap+".id", "is required")
	case !reAccount.MatchString(a.ID):
		c.add(ap+".id", "must be a numeric account id")
	default:
		if prev, dup := c.accountAt[a.ID]; dup {
			c.add(ap+".id", "duplicate account id (also accounts[%d])", prev)
		} else {
			c.accountAt[a.ID] = ai
		}
	}
	if (a.AccessKeyID == "") != (a.AccessKeySecret == "") {
		c.add(ap+".accessKeySecret", "accessKeyId and accessKeySecret go together")
	}
	if a.AccessKeyID != "" {
		// The keyring gives an access key to one account only.
		if prev, dup := c.accessKeyAt[a.AccessKeyID]; dup {
			c.add(ap+".accessKeyId", "duplicate access key id (also accounts[%d])", prev)
		} else {
			c.accessKeyAt[a.AccessKeyID] = ai
		}
	}
	for _, r := range sortedRegions(a.Regions) {
		rp := fmt.Sprintf("%s.regions[%q]", ap, r)
		if !reRegion.MatchString(r) {
			c.add(rp, "must be a region id like cn-hangzhou")
		}
		for ii := range a.Regions[r].Instances {
			c.instance(fmt.Sprintf("%s.instances[%d]", rp, ii), a.ID, r, &a.Regions[r].Instances[ii])
		}
	}
}

// instance checks one instance declared at ip and records it for the
// second pass.
func (c *inventoryCheck) instance(ip, owner, region string, in *InstanceInventory) {
	if !reInstance.MatchString(in.KmsInstanceID) {
		c.add(ip+".kmsInstanceId", "must look like kst-<lower-case letters and digits>")
	} else if prev, dup := c.instances[in.KmsInstanceID]; dup {
		c.add(ip+".kmsInstanceId", "duplicate instance id (also %s)", prev.path)
	} else {
		c.instances[in.KmsInstanceID] = &instRef{owner: owner, region: region, path: ip, in: in}
	}
	if in.Type != "software" && in.Type != "hardware" {
		c.add(ip+".type", "must be software or hardware")
	}
	if !reVersion.MatchString(in.ImageVersion) {
		c.add(ip+".imageVersion", "must be a version like 2.9.0")
	}
	if in.KeyQuota < 0 || in.KeyQuota > maxQuota {
		c.add(ip+".keyQuota", "must be between 0 and %d", maxQuota)
	}
	if in.SecretQuota < 0 || in.SecretQuota > maxQuota {
		c.add(ip+".secretQuota", "must be between 0 and %d", maxQuota)
	}
	if in.ExpiresInDays < -maxExpiryDays || in.ExpiresInDays > maxExpiryDays {
		// Beyond about 290 years the expiry overflows a time.Duration.
		c.add(ip+".expiresInDays", "must be between %d and %d", -maxExpiryDays, maxExpiryDays)
	}
	if in.KeysUsed < 0 || in.KeysUsed > in.KeyQuota {
		c.add(ip+".keysUsed", "must be between 0 and keyQuota")
	}
	if in.SecretsUsed < 0 || in.SecretsUsed > in.SecretQuota {
		c.add(ip+".secretsUsed", "must be between 0 and secretQuota")
	}
	if len(in.SecretNames) > in.SecretsUsed {
		c.add(ip+".secretNames", "names more secrets than secretsUsed")
	}
	for ni, n := range in.SecretNames {
		if !reSecret.MatchString(n) {
			c.add(fmt.Sprintf("%s.secretNames[%d]", ip, ni), "must be 1 to 192 letters, digits or _/+=.@-")
		}
	}
	c.oneOf(ip+".status", in.Status, instanceStatuses)
	c.date(ip+".startDate", in.StartDate)
	c.date(ip+".endDate", in.EndDate)
	if (in.EndDate == "") == (in.ExpiresInDays == 0) {
		c.add(ip+".endDate", "set exactly one of endDate and expiresInDays")
	}
}

// sharing checks that every instance is shared with known accounts other
// than its owner.
func (c *inventoryCheck) sharing() {
	for _, ref := range c.instances {
		for si, acct := range ref.in.SharedWith {
			sp := fmt.Sprintf("%s.sharedWith[%d]", ref.path, si)
			if acct == ref.owner {
				c.add(sp, "is the owner; an instance is not shared with its owner")
			} else if _, ok := c.accountAt[acct]; !ok {
				c.add(sp, "unknown account %s", acct)
			}
		}
	}
}

// instanceFor checks that a resource of acct in region, declared at path,
// may live in instance id, and returns the instance, or nil when id is
// empty or a problem was recorded.
func (c *inventoryCheck) instanceFor(path, id, acct, region string) *instRef {
	if id == "" {
		return nil
	}
	ref := c.instances[id]
	switch {
	case ref == nil:
		c.add(path, "unknown instance %s", id)
	case ref.region != region:
		c.add(path, "instance %s is in %s, not %s", id, ref.region, region)
	case ref.owner != acct && !slices.Contains(ref.in.SharedWith, acct):
		c.add(path, "instance %s is not shared with account %s", id, acct)
	default:
		return ref
	}
	return nil
}

// lane checks the keys and then the secrets of account acct in region,
// declared at rp.
func (c *inventoryCheck) lane(rp, acct, region string, ri RegionInventory) {
	aliases := map[string]bool{}
	// laneKeys finds a key of the lane by id or alias, for the secrets.
	laneKeys := map[string]*KeyInventory{}
	for ki := range ri.Keys {
		c.key(fmt.Sprintf("%s.keys[%d]", rp, ki), acct, region, &ri.Keys[ki], aliases, laneKeys)
	}
	names := map[string]bool{}
	for si := range ri.Secrets {
		c.secret(fmt.Sprintf("%s.secrets[%d]", rp, si), acct, region, &ri.Secrets[si], names, laneKeys)
	}
}

// key checks one key declared at kp; aliases and laneKeys collect the
// lane's aliases and keys as they are met.
func (c *inventoryCheck) key(kp, acct, region string, k *KeyInventory, aliases map[string]bool, laneKeys map[string]*KeyInventory) {
	if !reUUID.MatchString(k.KeyID) {
		c.add(kp+".keyId", "must be a lower-case UUID like 0b30658a-ed1a-4922-b8f7-a673ca9c1234")
	} else if prev, dup := c.keyIDs[k.KeyID]; dup {
		c.add(kp+".keyId", "duplicate key id (also %s)", prev)
	} else {
		c.keyIDs[k.KeyID] = kp
		laneKeys[k.KeyID] = k
	}
	service := c.keyAliases(kp, k, aliases, laneKeys)
	if k.Creator != "" && k.Creator != acct && !service {
		c.add(kp+".creator", "must be the account id unless the key has a service alias alias/acs/<product>")
	}
	if service && k.Creator == acct {
		c.add(kp+".creator", "a service key (alias alias/acs/<product>) is created by the product, not the account")
	}
	c.keyAttributes(kp, k)
	c.keyVersions(kp, k.Versions)
	c.tags(kp, k.Tags)
	if k.DKMSInstanceID != "" && service {
		c.add(kp+".dkmsInstanceId", "service keys are not migrated to instances")
	} else if ref := c.instanceFor(kp+".dkmsInstanceId", k.DKMSInstanceID, acct, region); ref != nil {
		ref.keys++
	}
}

// keyAliases checks a key's aliases against the lane's, records them, and
// reports whether one is a service alias (alias/acs/<product>).
func (c *inventoryCheck) keyAliases(kp string, k *KeyInventory, aliases map[string]bool, laneKeys map[string]*KeyInventory) (service bool) {
	for i, al := range k.Aliases {
		p := fmt.Sprintf("%s.aliases[%d]", kp, i)
		switch {
		case !strings.HasPrefix(al, "alias/") || len(al) == len("alias/"):
			c.add(p, "must start with alias/")
		case aliases[al]:
			c.add(p, "duplicate alias in this account and region")
		}
		aliases[al] = true
		if strings.HasPrefix(al, "alias/acs/") {
			service = true
		}
		laneKeys[al] = k
	}
	return service
}

// keyAttributes checks a key's enumerated values, dates and rotation.
func (c *inventoryCheck) keyAttributes(kp string, k *KeyInventory) {
	c.oneOf(kp+".keySpec", k.KeySpec, keySpecs)
	c.oneOf(kp+".keyUsage", k.KeyUsage, keyUsages)
	c.oneOf(kp+".protectionLevel", k.ProtectionLevel, protectionLevels)
	c.oneOf(kp+".origin", k.Origin, origins)
	c.oneOf(kp+".keyState", k.KeyState, keyStates)
	c.oneOf(kp+".automaticRotation", k.AutomaticRotation, []string{"Enabled", "Disabled"})
	c.date(kp+".creationDate", k.CreationDate)
	c.date(kp+".deleteDate", k.DeleteDate)
	c.date(kp+".lastRotationDate", k.LastRotationDate)
	if k.DeleteDate != "" && k.KeyState != "PendingDeletion" {
		c.add(kp+".deleteDate", "is only set on a PendingDeletion key")
	}
	rotating := k.AutomaticRotation == "Enabled"
	if rotating && k.Origin == "EXTERNAL" {
		c.add(kp+".automaticRotation", "keys with imported (EXTERNAL) material do not rotate")
	}
	c.interval(kp+".rotationInterval", k.RotationInterval, rotating)
}

// keyVersions checks that a key's version ids are given and distinct.
func (c *inventoryCheck) keyVersions(kp string, versions []KeyVersionRecord) {
	seen := map[string]bool{}
	for i, kv := range versions {
		p := fmt.Sprintf("%s.versions[%d]", kp, i)
		if kv.KeyVersionID == "" {
			c.add(p+".keyVersionId", "is required")
		} else if seen[kv.KeyVersionID] {
			c.add(p+".keyVersionId", "duplicate version id")
		}
		seen[kv.KeyVersionID] = true
		c.date(p+".creationDate", kv.CreationDate)
	}
}

// tags checks that no tag key of the resource declared at path is empty.
func (c *inventoryCheck) tags(path string, tags map[string]string) {
	for tk := range tags {
		if tk == "" {
			c.add(path+".tags", "tag keys must not be empty")
		}
	}
}

// secret checks one secret declared at sp; names collects the lane's
// secret names, laneKeys holds the lane's keys by id and alias.
func (c *inventoryCheck) secret(sp, acct, region string, s *SecretInventory, names map[string]bool, laneKeys map[string]*KeyInventory) {
	if !reSecret.MatchString(s.SecretName) {
		c.add(sp+".secretName", "must be 1 to 192 letters, digits or _/+=.@-")
	} else if names[s.SecretName] {
		c.add(sp+".secretName", "duplicate secret name in this account and region")
	}
	names[s.SecretName] = true
	c.oneOf(sp+".secretType", s.SecretType, secretTypes)
	if s.EncryptionKeyID != "" {
		k := laneKeys[s.EncryptionKeyID]
		switch {
		case k == nil:
			c.add(sp+".encryptionKeyId", "no key %s in this account and region", s.EncryptionKeyID)
		case k.KeyUsage == "SIGN/VERIFY":
			c.add(sp+".encryptionKeyId", "key %s is not an ENCRYPT/DECRYPT key", s.EncryptionKeyID)
		}
	}
	c.oneOf(sp+".automaticRotation", s.AutomaticRotation, []string{"Enabled", "Disabled"})
	rotating := s.AutomaticRotation == "Enabled"
	if rotating && (s.SecretType == "" || s.SecretType == "Generic") {
		c.add(sp+".automaticRotation", "automatic rotation applies only to Rds, RAMCredentials and ECS secrets")
	}
	c.interval(sp+".rotationInterval", s.RotationInterval, rotating)
	c.date(sp+".lastRotationDate", s.LastRotationDate)
	c.date(sp+".createTime", s.CreateTime)
	if len(s.Versions) > 0 {
		if s.SecretData != "" {
			c.add(sp+".secretData", "set secretData on the versions when versions are listed")
		}
		c.secretVersions(sp, s.Versions)
	}
	c.tags(sp, s.Tags)
	if ref := c.instanceFor(sp+".dkmsInstanceId", s.DKMSInstanceID, acct, region); ref != nil {
		ref.secrets++
	}
}

// secretVersions checks that a secret's version ids are given and distinct
// and that exactly one carries ACSCurrent.
func (c *inventoryCheck) secretVersions(sp string, versions []SecretVersionRecord) {
	current := 0
	seen := map[string]bool{}
	for i, sv := range versions {
		p := fmt.Sprintf("%s.versions[%d]", sp, i)
		if sv.VersionID == "" {
			c.add(p+".versionId", "is required")
		} else if seen[sv.VersionID] {
			c.add(p+".versionId", "duplicate version id")
		}
		seen[sv.VersionID] = true
		if slices.Contains(sv.VersionStages, "ACSCurrent") {
			current++
		}
		c.date(p+".createTime", sv.CreateTime)
	}
	if current != 1 {
		c.add(sp+".versions", "exactly one version must carry the ACSCurrent stage")
	}
}

// quotas checks that what each instance holds plus what migrates into it
// fits its quotas, in instance id order.
func (c *inventoryCheck) quotas() {
	ids := make([]string, 0, len(c.instances))
	for id := range c.instances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ref := c.instances[id]
		if ref.in.KeysUsed+ref.keys > ref.in.KeyQuota {
			c.add(ref.path+".keyQuota", "keysUsed %d plus %d migrated keys exceed keyQuota %d", ref.in.KeysUsed, ref.keys, ref.in.KeyQuota)
		}
		if ref.in.SecretsUsed+ref.secrets > ref.in.SecretQuota {
			c.add(ref.path+".secretQuota", "secretsUsed %d plus %d migrated secrets exceed secretQuota %d", ref.in.SecretsUsed, ref.secrets, ref.in.SecretQuota)
		}
	}
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
