package kms

import (
	"net/http"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// Refusals of key operations.
func errKeyNotFound(ref string) *acs.Error {
	if strings.HasPrefix(ref, "alias/") {
		return &acs.Error{Status: http.StatusNotFound, Code: "Forbidden.AliasNotFound", Message: "The specified Alias is not found: " + ref}
	}
	return &acs.Error{Status: http.StatusNotFound, Code: "Forbidden.KeyNotFound", Message: "The specified Key is not found: " + ref}
}

// DescribeRegionsResponse matches kms-20160120 DescribeRegionsResponseBody.
type DescribeRegionsResponse struct {
	Regions struct {
		Region []RegionEntry `json:"Region"`
	} `json:"Regions"`
}

// RegionEntry is one region of DescribeRegions.
type RegionEntry struct {
	RegionId string `json:"RegionId"` //nolint:revive // wire name
}

// DescribeRegions lists every region of the estate.
func (t *Twin) DescribeRegions(Lane) (*DescribeRegionsResponse, error) {
	out := &DescribeRegionsResponse{}
	out.Regions.Region = []RegionEntry{}
	for _, r := range t.regions {
		out.Regions.Region = append(out.Regions.Region, RegionEntry{r})
	}
	return out, nil
}

// ListKeysRequest holds the ListKeys parameters.
type ListKeysRequest struct {
	Filters              string
	PageNumber, PageSize *int32
}

// ListKeysResponse matches ListKeysResponseBody.
type ListKeysResponse struct {
	Keys struct {
		Key []KeyEntry `json:"Key"`
	} `json:"Keys"`
	PageNumber int `json:"PageNumber"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// KeyEntry is one key of ListKeys.
type KeyEntry struct {
	KeyArn string `json:"KeyArn"`
	KeyId  string `json:"KeyId"` //nolint:revive // wire name
}

// ListKeys lists the lane's keys (service keys included) in creation order.
// Filters accepts KeyState, KeySpec, KeyUsage, ProtectionLevel and
// CreatorType (User|Service). PageSize is 1..100 (default 10), else
// InvalidParameter.
func (t *Twin) ListKeys(l Lane, req ListKeysRequest) (*ListKeysResponse, error) {
	f, err := parseFilters(req.Filters, "KeyState", "KeySpec", "KeyUsage", "ProtectionLevel", "CreatorType")
	if err != nil {
		return nil, err
	}
	t.rlock()
	defer t.mu.RUnlock()
	var keys []*key
	if rs := t.region(l); rs != nil {
		for _, k := range rs.keys {
			ct := "User"
			if k.service {
				ct = "Service"
			}
			if matches(f["KeyState"], k.state) && matches(f["KeySpec"], k.spec) && matches(f["KeyUsage"], k.usage) &&
				matches(f["ProtectionLevel"], k.protection) && matches(f["CreatorType"], ct) {
				keys = append(keys, k)
			}
		}
	}
	num, sz, lo, hi, err := page(req.PageNumber, req.PageSize, 10, len(keys))
	if err != nil {
		return nil, err
	}
	out := &ListKeysResponse{PageNumber: num, PageSize: sz, TotalCount: len(keys)}
	out.Keys.Key = []KeyEntry{}
	for _, k := range keys[lo:hi] {
		out.Keys.Key = append(out.Keys.Key, KeyEntry{KeyArn: k.arn, KeyId: k.id})
	}
	return out, nil
}

// DescribeKeyRequest holds the DescribeKey parameters.
type DescribeKeyRequest struct {
	KeyId string //nolint:revive // wire name
}

// DescribeKeyResponse matches DescribeKeyResponseBody.
type DescribeKeyResponse struct {
	KeyMetadata KeyMetadata `json:"KeyMetadata"`
}

// KeyMetadata matches DescribeKeyResponseBodyKeyMetadata.
type KeyMetadata struct {
	Arn                           string `json:"Arn"`
	AutomaticRotation             string `json:"AutomaticRotation"`
	CreationDate                  string `json:"CreationDate"`
	Creator                       string `json:"Creator"`
	DKMSInstanceId                string `json:"DKMSInstanceId,omitempty"` //nolint:revive // wire name
	DeleteDate                    string `json:"DeleteDate,omitempty"`
	DeletionProtection            string `json:"DeletionProtection"`
	DeletionProtectionDescription string `json:"DeletionProtectionDescription,omitempty"`
	Description                   string `json:"Description"`
	KeyId                         string `json:"KeyId"` //nolint:revive // wire name
	KeySpec                       string `json:"KeySpec"`
	KeyState                      string `json:"KeyState"`
	KeyUsage                      string `json:"KeyUsage"`
	LastRotationDate              string `json:"LastRotationDate,omitempty"`
	MaterialExpireTime            string `json:"MaterialExpireTime,omitempty"`
	NextRotationDate              string `json:"NextRotationDate,omitempty"`
	Origin                        string `json:"Origin"`
	PrimaryKeyVersion             string `json:"PrimaryKeyVersion"`
	ProtectionLevel               string `json:"ProtectionLevel"`
	RotationInterval              string `json:"RotationInterval,omitempty"`
}

// DescribeKey returns a key's metadata by id, ARN or alias;
// Forbidden.KeyNotFound (or Forbidden.AliasNotFound for an alias) when the
// lane has no such key.
func (t *Twin) DescribeKey(l Lane, req DescribeKeyRequest) (*DescribeKeyResponse, error) {
	if req.KeyId == "" {
		return nil, errMissing("KeyId")
	}
	t.rlock()
	defer t.mu.RUnlock()
	k := t.region(l).lookupKey(req.KeyId)
	if k == nil {
		return nil, errKeyNotFound(req.KeyId)
	}
	return &DescribeKeyResponse{KeyMetadata: t.keyMetadata(k)}, nil
}

func (t *Twin) keyMetadata(k *key) KeyMetadata {
	m := KeyMetadata{
		Arn:                k.arn,
		AutomaticRotation:  "Disabled",
		CreationDate:       fmtTime(k.created),
		Creator:            k.creator,
		DKMSInstanceId:     k.dkms,
		DeletionProtection: "Disabled",
		Description:        k.description,
		KeyId:              k.id,
		KeySpec:            k.spec,
		KeyState:           k.state,
		KeyUsage:           k.usage,
		LastRotationDate:   fmtTime(k.lastRotation),
		Origin:             k.origin,
		PrimaryKeyVersion:  k.versions[len(k.versions)-1].id,
		ProtectionLevel:    k.protection,
	}
	if k.state == "PendingDeletion" {
		m.DeleteDate = fmtTime(k.deleteDate)
	}
	if k.deletionProtection {
		m.DeletionProtection = "Enabled"
	}
	if m.LastRotationDate == "" {
		m.LastRotationDate = fmtTime(k.versions[len(k.versions)-1].created)
	}
	if k.rotation {
		m.AutomaticRotation = "Enabled"
		m.RotationInterval = fmtInterval(k.interval)
		m.NextRotationDate = fmtTime(nextRotation(k.lastRotation, k.created, k.interval, t.opts.Clock.Now()))
	}
	return m
}

// nextRotation is the first rotation after last (or created) that is not in
// the past.
func nextRotation(last, created time.Time, interval time.Duration, now time.Time) time.Time {
	base := last
	if base.IsZero() {
		base = created
	}
	next := base.Add(interval)
	if next.Before(now) {
		next = now.Add(interval).Truncate(time.Second)
	}
	return next
}

// ListKeyVersionsRequest holds the ListKeyVersions parameters.
type ListKeyVersionsRequest struct {
	KeyId                string //nolint:revive // wire name
	PageNumber, PageSize *int32
}

// ListKeyVersionsResponse matches ListKeyVersionsResponseBody.
type ListKeyVersionsResponse struct {
	KeyVersions struct {
		KeyVersion []KeyVersionEntry `json:"KeyVersion"`
	} `json:"KeyVersions"`
	PageNumber int `json:"PageNumber"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// KeyVersionEntry is one version of ListKeyVersions.
type KeyVersionEntry struct {
	CreationDate string `json:"CreationDate"`
	KeyId        string `json:"KeyId"`        //nolint:revive // wire name
	KeyVersionId string `json:"KeyVersionId"` //nolint:revive // wire name
}

// ListKeyVersions pages through a key's versions, oldest first.
func (t *Twin) ListKeyVersions(l Lane, req ListKeyVersionsRequest) (*ListKeyVersionsResponse, error) {
	if req.KeyId == "" {
		return nil, errMissing("KeyId")
	}
	t.rlock()
	defer t.mu.RUnlock()
	k := t.region(l).lookupKey(req.KeyId)
	if k == nil {
		return nil, errKeyNotFound(req.KeyId)
	}
	num, sz, lo, hi, err := page(req.PageNumber, req.PageSize, 10, len(k.versions))
	if err != nil {
		return nil, err
	}
	out := &ListKeyVersionsResponse{PageNumber: num, PageSize: sz, TotalCount: len(k.versions)}
	out.KeyVersions.KeyVersion = []KeyVersionEntry{}
	for _, v := range k.versions[lo:hi] {
		out.KeyVersions.KeyVersion = append(out.KeyVersions.KeyVersion, KeyVersionEntry{fmtTime(v.created), k.id, v.id})
	}
	return out, nil
}

// ListAliasesRequest holds the ListAliases parameters.
type ListAliasesRequest struct {
	PageNumber, PageSize *int32
}

// ListAliasesByKeyIDRequest holds the ListAliasesByKeyId parameters.
type ListAliasesByKeyIDRequest struct {
	KeyId                string //nolint:revive // wire name
	PageNumber, PageSize *int32
}

// ListAliasesResponse matches ListAliasesResponseBody (and
// ListAliasesByKeyIdResponseBody, which has the same shape).
type ListAliasesResponse struct {
	Aliases struct {
		Alias []AliasEntry `json:"Alias"`
	} `json:"Aliases"`
	PageNumber int `json:"PageNumber"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// AliasEntry is one alias.
type AliasEntry struct {
	AliasArn  string `json:"AliasArn"`
	AliasName string `json:"AliasName"`
	KeyId     string `json:"KeyId"` //nolint:revive // wire name
}

func aliasPage(l Lane, keys []*key, number, size *int32) (*ListAliasesResponse, error) {
	var all []AliasEntry
	for _, k := range keys {
		for _, a := range k.aliases {
			all = append(all, AliasEntry{AliasArn: "acs:kms:" + l.Region + ":" + l.Account + ":" + a, AliasName: a, KeyId: k.id})
		}
	}
	num, sz, lo, hi, err := page(number, size, 10, len(all))
	if err != nil {
		return nil, err
	}
	out := &ListAliasesResponse{PageNumber: num, PageSize: sz, TotalCount: len(all)}
	out.Aliases.Alias = append([]AliasEntry{}, all[lo:hi]...)
	return out, nil
}

// ListAliases pages through every alias of the lane, by key creation order.
func (t *Twin) ListAliases(l Lane, req ListAliasesRequest) (*ListAliasesResponse, error) {
	t.rlock()
	defer t.mu.RUnlock()
	var keys []*key
	if rs := t.region(l); rs != nil {
		keys = rs.keys
	}
	return aliasPage(l, keys, req.PageNumber, req.PageSize)
}

// ListAliasesByKeyID pages through the aliases of one key (action
// ListAliasesByKeyId).
func (t *Twin) ListAliasesByKeyID(l Lane, req ListAliasesByKeyIDRequest) (*ListAliasesResponse, error) {
	if req.KeyId == "" {
		return nil, errMissing("KeyId")
	}
	t.rlock()
	defer t.mu.RUnlock()
	k := t.region(l).lookupKey(req.KeyId)
	if k == nil {
		return nil, errKeyNotFound(req.KeyId)
	}
	return aliasPage(l, []*key{k}, req.PageNumber, req.PageSize)
}

// ListResourceTagsRequest holds the ListResourceTags parameters.
type ListResourceTagsRequest struct {
	KeyId string //nolint:revive // wire name
}

// ListResourceTagsResponse matches ListResourceTagsResponseBody.
type ListResourceTagsResponse struct {
	Tags struct {
		Tag []KeyTag `json:"Tag"`
	} `json:"Tags"`
}

// KeyTag is one tag of a key.
type KeyTag struct {
	KeyId    string `json:"KeyId"` //nolint:revive // wire name
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// ListResourceTags returns a key's tags sorted by tag key.
func (t *Twin) ListResourceTags(l Lane, req ListResourceTagsRequest) (*ListResourceTagsResponse, error) {
	if req.KeyId == "" {
		return nil, errMissing("KeyId")
	}
	t.rlock()
	defer t.mu.RUnlock()
	k := t.region(l).lookupKey(req.KeyId)
	if k == nil {
		return nil, errKeyNotFound(req.KeyId)
	}
	out := &ListResourceTagsResponse{}
	out.Tags.Tag = []KeyTag{}
	for _, tg := range k.tags {
		out.Tags.Tag = append(out.Tags.Tag, KeyTag{k.id, tg.Key, tg.Value})
	}
	return out, nil
}

// UpdateRotationPolicyRequest holds the UpdateRotationPolicy parameters.
type UpdateRotationPolicyRequest struct {
	KeyId                   string //nolint:revive // wire name
	EnableAutomaticRotation *bool
	RotationInterval        string
}

// EmptyResponse is the body of an update: only RequestId.
type EmptyResponse struct {
}

// UpdateRotationPolicy turns a key's automatic rotation on (with
// RotationInterval 604800s..31536000s) or off. Enabling is refused with
// Rejected.UnsupportedOperation for EXTERNAL, service and asymmetric keys
// and with Rejected.Disabled for keys that are not Enabled; any change is
// refused with Rejected.MigrationInProgress while the key is in a running
// migration task (with Options.FreezeDuringTask: while any task of an
// instance the account may migrate into is Pending or Running).
func (t *Twin) UpdateRotationPolicy(l Lane, req UpdateRotationPolicyRequest) (*EmptyResponse, error) {
	if req.KeyId == "" {
		return nil, errMissing("KeyId")
	}
	interval, err := rotationParams(req.EnableAutomaticRotation, req.RotationInterval)
	if err != nil {
		return nil, err
	}
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.region(l).lookupKey(req.KeyId)
	if k == nil {
		return nil, errKeyNotFound(req.KeyId)
	}
	if tk := t.rotationFrozen(l, resKey, k.id); tk != nil {
		if tk.holds(resKey, k.id) {
			return nil, errInMigration("key", k.id, tk.id)
		}
		return nil, errInstanceFrozen("key", k.id, tk)
	}
	if !*req.EnableAutomaticRotation {
		k.rotation = false
		return &EmptyResponse{}, nil
	}
	switch {
	case k.origin == "EXTERNAL":
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: "Rejected.UnsupportedOperation", Message: "Keys with imported key material (Origin EXTERNAL) do not support automatic rotation."}
	case k.service:
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: "Rejected.UnsupportedOperation", Message: "Service keys are managed by " + k.creator + "."}
	case !strings.HasPrefix(k.spec, "Aliyun_"):
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: "Rejected.UnsupportedOperation", Message: "Asymmetric keys (" + k.spec + ") do not support automatic rotation."}
	case k.state != "Enabled":
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: "Rejected.Disabled", Message: "The key is " + k.state + "; only Enabled keys rotate."}
	}
	k.rotation, k.interval = true, interval
	return &EmptyResponse{}, nil
}

func checkInterval(s string) (time.Duration, error) {
	d, ok := parseInterval(s)
	if !ok || d < minRotation || d > maxRotation {
		return 0, errParam("RotationInterval", "It must be between 604800s (7 days) and 31536000s (365 days).")
	}
	return d, nil
}

// rlock takes the read lock after bringing migration tasks up to date.
func (t *Twin) rlock() {
	t.advance()
	t.mu.RLock()
}

// rotationParams checks the parameters shared by UpdateRotationPolicy and
// UpdateSecretRotationPolicy: EnableAutomaticRotation is required, and
// enabling needs a RotationInterval of 7 to 365 days. It returns the
// interval (zero when disabling).
func rotationParams(enable *bool, interval string) (time.Duration, error) {
	if enable == nil {
		return 0, errMissing("EnableAutomaticRotation")
	}
	if !*enable {
		return 0, nil
	}
	if interval == "" {
		return 0, errMissing("RotationInterval")
	}
	return checkInterval(interval)
}
