package kms

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

func errSecretNotFound(name string) *acs.Error {
	return &acs.Error{Status: http.StatusNotFound, Code: "Forbidden.ResourceNotFound", Message: "The resource you requested is not found: secret " + name}
}

// SecretTag is one tag of a secret.
type SecretTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// SecretTags wraps tags as {"Tag":[...]}.
type SecretTags struct {
	Tag []SecretTag `json:"Tag"`
}

func secretTags(s *secret) *SecretTags {
	out := &SecretTags{Tag: []SecretTag{}}
	for _, tg := range s.tags {
		out.Tag = append(out.Tag, SecretTag{tg.Key, tg.Value})
	}
	return out
}

// ListSecretsRequest holds the ListSecrets parameters.
type ListSecretsRequest struct {
	FetchTags            string
	Filters              string
	PageNumber, PageSize *int32
}

// ListSecretsResponse matches ListSecretsResponseBody.
type ListSecretsResponse struct {
	SecretList struct {
		Secret []SecretEntry `json:"Secret"`
	} `json:"SecretList"`
	PageNumber int `json:"PageNumber"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// SecretEntry is one secret of ListSecrets.
type SecretEntry struct {
	CreateTime        string      `json:"CreateTime"`
	PlannedDeleteTime string      `json:"PlannedDeleteTime,omitempty"`
	SecretName        string      `json:"SecretName"`
	SecretType        string      `json:"SecretType"`
	Tags              *SecretTags `json:"Tags,omitempty"`
	UpdateTime        string      `json:"UpdateTime"`
}

// ListSecrets lists the lane's secrets in creation order. Filters accepts
// SecretName and Description (substring match), TagKey and TagValue (exact);
// FetchTags=true adds each secret's tags. PageSize is 1..100 (default 10).
func (t *Twin) ListSecrets(l Lane, req ListSecretsRequest) (*ListSecretsResponse, error) {
	f, err := parseFilters(req.Filters, "SecretName", "Description", "TagKey", "TagValue")
	if err != nil {
		return nil, err
	}
	t.rlock()
	defer t.mu.RUnlock()
	var list []*secret
	if rs := t.region(l); rs != nil {
		for _, s := range rs.secrets {
			if containsAny(f["SecretName"], s.name) && containsAny(f["Description"], s.description) &&
				tagMatch(s.tags, f["TagKey"], f["TagValue"]) {
				list = append(list, s)
			}
		}
	}
	num, sz, lo, hi, err := page(req.PageNumber, req.PageSize, 10, len(list))
	if err != nil {
		return nil, err
	}
	out := &ListSecretsResponse{PageNumber: num, PageSize: sz, TotalCount: len(list)}
	out.SecretList.Secret = []SecretEntry{}
	for _, s := range list[lo:hi] {
		e := SecretEntry{CreateTime: fmtTime(s.created), SecretName: s.name, SecretType: s.secretType, UpdateTime: fmtTime(s.updated)}
		if req.FetchTags == "true" {
			e.Tags = secretTags(s)
		}
		out.SecretList.Secret = append(out.SecretList.Secret, e)
	}
	return out, nil
}

func containsAny(vals []string, s string) bool {
	if vals == nil {
		return true
	}
	for _, v := range vals {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

func tagMatch(tags []tag, keys, values []string) bool {
	if keys == nil && values == nil {
		return true
	}
	for _, tg := range tags {
		if matches(keys, tg.Key) && matches(values, tg.Value) {
			return true
		}
	}
	return false
}

// DescribeSecretRequest holds the DescribeSecret parameters.
type DescribeSecretRequest struct {
	SecretName string
	FetchTags  string
}

// DescribeSecretResponse matches DescribeSecretResponseBody.
type DescribeSecretResponse struct {
	Arn               string      `json:"Arn"`
	AutomaticRotation string      `json:"AutomaticRotation"`
	CreateTime        string      `json:"CreateTime"`
	DKMSInstanceId    string      `json:"DKMSInstanceId,omitempty"` //nolint:revive // wire name
	Description       string      `json:"Description"`
	EncryptionKeyId   string      `json:"EncryptionKeyId,omitempty"` //nolint:revive // wire name
	ExtendedConfig    string      `json:"ExtendedConfig,omitempty"`
	LastRotationDate  string      `json:"LastRotationDate,omitempty"`
	NextRotationDate  string      `json:"NextRotationDate,omitempty"`
	PlannedDeleteTime string      `json:"PlannedDeleteTime,omitempty"`
	RotationInterval  string      `json:"RotationInterval,omitempty"`
	SecretName        string      `json:"SecretName"`
	SecretType        string      `json:"SecretType"`
	Tags              *SecretTags `json:"Tags,omitempty"`
	UpdateTime        string      `json:"UpdateTime"`
}

func rotationState(s *secret) string {
	switch {
	case s.secretType == "Generic":
		return "Invalid"
	case s.rotation:
		return "Enabled"
	}
	return "Disabled"
}

// DescribeSecret returns a secret's metadata (never its value);
// Forbidden.ResourceNotFound when the lane has no such secret.
// AutomaticRotation is Invalid for Generic secrets. EncryptionKeyId is
// omitted for the system-managed key.
func (t *Twin) DescribeSecret(l Lane, req DescribeSecretRequest) (*DescribeSecretResponse, error) {
	if req.SecretName == "" {
		return nil, errMissing("SecretName")
	}
	t.rlock()
	defer t.mu.RUnlock()
	s := t.secret(l, req.SecretName)
	if s == nil {
		return nil, errSecretNotFound(req.SecretName)
	}
	out := &DescribeSecretResponse{
		Arn:               s.arn,
		AutomaticRotation: rotationState(s),
		CreateTime:        fmtTime(s.created),
		DKMSInstanceId:    s.dkms,
		Description:       s.description,
		EncryptionKeyId:   s.encKeyID,
		ExtendedConfig:    s.extended,
		LastRotationDate:  fmtTime(s.lastRotation),
		SecretName:        s.name,
		SecretType:        s.secretType,
		UpdateTime:        fmtTime(s.updated),
	}
	if s.rotation {
		out.RotationInterval = fmtInterval(s.interval)
		out.NextRotationDate = fmtTime(nextRotation(s.lastRotation, s.created, s.interval, t.opts.Clock.Now()))
	}
	if req.FetchTags == "true" {
		out.Tags = secretTags(s)
	}
	return out, nil
}

func (t *Twin) secret(l Lane, name string) *secret {
	rs := t.region(l)
	if rs == nil {
		return nil
	}
	return rs.secretsBy[name]
}

// ListSecretVersionIDsRequest holds the ListSecretVersionIds parameters.
type ListSecretVersionIDsRequest struct {
	SecretName           string
	IncludeDeprecated    string
	PageNumber, PageSize *int32
}

// ListSecretVersionIDsResponse matches ListSecretVersionIdsResponseBody.
type ListSecretVersionIDsResponse struct {
	SecretName string `json:"SecretName"`
	VersionIds struct {
		VersionId []SecretVersionEntry `json:"VersionId"`
	} `json:"VersionIds"`
	PageNumber int `json:"PageNumber"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// SecretVersionEntry is one version of ListSecretVersionIds.
type SecretVersionEntry struct {
	CreateTime    string `json:"CreateTime"`
	VersionId     string `json:"VersionId"` //nolint:revive // wire name
	VersionStages struct {
		VersionStage []string `json:"VersionStage"`
	} `json:"VersionStages"`
}

// ListSecretVersionIDs pages through a secret's versions (action
// ListSecretVersionIds); versions without a stage label are deprecated and
// listed only with IncludeDeprecated=true.
func (t *Twin) ListSecretVersionIDs(l Lane, req ListSecretVersionIDsRequest) (*ListSecretVersionIDsResponse, error) {
	if req.SecretName == "" {
		return nil, errMissing("SecretName")
	}
	t.rlock()
	defer t.mu.RUnlock()
	s := t.secret(l, req.SecretName)
	if s == nil {
		return nil, errSecretNotFound(req.SecretName)
	}
	var vs []secretVersion
	for _, v := range s.versions {
		if len(v.stages) > 0 || req.IncludeDeprecated == "true" {
			vs = append(vs, v)
		}
	}
	num, sz, lo, hi, err := page(req.PageNumber, req.PageSize, 10, len(vs))
	if err != nil {
		return nil, err
	}
	out := &ListSecretVersionIDsResponse{SecretName: s.name, PageNumber: num, PageSize: sz, TotalCount: len(vs)}
	out.VersionIds.VersionId = []SecretVersionEntry{}
	for _, v := range vs[lo:hi] {
		e := SecretVersionEntry{CreateTime: fmtTime(v.created), VersionId: v.id}
		e.VersionStages.VersionStage = append([]string{}, v.stages...)
		out.VersionIds.VersionId = append(out.VersionIds.VersionId, e)
	}
	return out, nil
}

// UpdateSecretRotationPolicyRequest holds the UpdateSecretRotationPolicy
// parameters.
type UpdateSecretRotationPolicyRequest struct {
	SecretName              string
	EnableAutomaticRotation *bool
	RotationInterval        string
}

// UpdateSecretRotationPolicy turns a dynamic secret's automatic rotation on
// (RotationInterval 604800s..31536000s) or off. Generic secrets are refused
// with Rejected.UnsupportedOperation; any change is refused with
// Rejected.MigrationInProgress while the secret is in a running migration
// task (with Options.FreezeDuringTask: while any task of an instance the
// account may migrate into is Pending or Running).
func (t *Twin) UpdateSecretRotationPolicy(l Lane, req UpdateSecretRotationPolicyRequest) (*EmptyResponse, error) {
	if req.SecretName == "" {
		return nil, errMissing("SecretName")
	}
	interval, err := rotationParams(req.EnableAutomaticRotation, req.RotationInterval)
	if err != nil {
		return nil, err
	}
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.secret(l, req.SecretName)
	if s == nil {
		return nil, errSecretNotFound(req.SecretName)
	}
	if tk := t.rotationFrozen(l, resSecret, s.name); tk != nil {
		if tk.holds(resSecret, s.name) {
			return nil, errInMigration("secret", s.name, tk.id)
		}
		return nil, errInstanceFrozen("secret", s.name, tk)
	}
	if s.secretType == "Generic" {
		return nil, &acs.Error{Status: http.StatusBadRequest, Code: "Rejected.UnsupportedOperation", Message: "Generic secrets do not support automatic rotation; only Rds, RAMCredentials and ECS secrets rotate."}
	}
	s.rotation = *req.EnableAutomaticRotation
	if s.rotation {
		s.interval = interval
	}
	s.updated = t.opts.Clock.Now().Truncate(time.Second)
	return &EmptyResponse{}, nil
}

// GetSecretValueRequest holds the GetSecretValue parameters.
type GetSecretValueRequest struct {
	SecretName          string
	VersionId           string //nolint:revive // wire name
	VersionStage        string
	FetchExtendedConfig *bool
	DryRun              string
}

// GetSecretValueResponse matches GetSecretValueResponseBody.
type GetSecretValueResponse struct {
	AutomaticRotation string `json:"AutomaticRotation"`
	CreateTime        string `json:"CreateTime"`
	ExtendedConfig    string `json:"ExtendedConfig,omitempty"`
	LastRotationDate  string `json:"LastRotationDate,omitempty"`
	NextRotationDate  string `json:"NextRotationDate,omitempty"`
	RotationInterval  string `json:"RotationInterval,omitempty"`
	SecretData        string `json:"SecretData"`
	SecretDataType    string `json:"SecretDataType"`
	SecretName        string `json:"SecretName"`
	SecretType        string `json:"SecretType"`
	VersionId         string `json:"VersionId"` //nolint:revive // wire name
	VersionStages     struct {
		VersionStage []string `json:"VersionStage"`
	} `json:"VersionStages"`
}

// GetSecretValue is the data-plane read of a secret version (default stage
// ACSCurrent). It keeps working while the secret migrates. Each successful
// read is counted (SecretValueReads). DryRun=true returns the metadata
// without SecretData and is not counted.
func (t *Twin) GetSecretValue(l Lane, req GetSecretValueRequest) (*GetSecretValueResponse, error) {
	if req.SecretName == "" {
		return nil, errMissing("SecretName")
	}
	t.rlock()
	defer t.mu.RUnlock()
	s := t.secret(l, req.SecretName)
	if s == nil {
		return nil, errSecretNotFound(req.SecretName)
	}
	stage := or(req.VersionStage, "ACSCurrent")
	var v *secretVersion
	for i := range s.versions {
		sv := &s.versions[i]
		if (req.VersionId != "" && sv.id == req.VersionId && (req.VersionStage == "" || slices.Contains(sv.stages, stage))) ||
			(req.VersionId == "" && slices.Contains(sv.stages, stage)) {
			v = sv
		}
	}
	if v == nil {
		return nil, &acs.Error{Status: http.StatusNotFound, Code: "Forbidden.ResourceNotFound", Message: "The secret version you requested is not found."}
	}
	out := &GetSecretValueResponse{
		AutomaticRotation: rotationState(s),
		CreateTime:        fmtTime(v.created),
		SecretDataType:    "text",
		SecretName:        s.name,
		SecretType:        s.secretType,
		VersionId:         v.id,
	}
	out.VersionStages.VersionStage = append([]string{}, v.stages...)
	if s.rotation {
		out.RotationInterval = fmtInterval(s.interval)
		out.LastRotationDate = fmtTime(s.lastRotation)
		out.NextRotationDate = fmtTime(nextRotation(s.lastRotation, s.created, s.interval, t.opts.Clock.Now()))
	}
	if req.FetchExtendedConfig != nil && *req.FetchExtendedConfig {
		out.ExtendedConfig = s.extended
	}
	if req.DryRun != "true" {
		out.SecretData = v.data
		s.valueReads.Add(1)
	}
	return out, nil
}
