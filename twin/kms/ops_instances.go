package kms

import (
	"net/http"
	"strconv"

	"github.com/kmsmig/kmsmig/twin/acs"
)

func errInstanceNotFound(id string) *acs.Error {
	return &acs.Error{Status: http.StatusNotFound, Code: "Forbidden.DKMSInstanceNotFound", Message: "The specified KMS instance is not found: " + id}
}

// instance returns an instance of the lane's region that the lane's account
// owns or shares, or nil.
func (t *Twin) instance(l Lane, id string) *instance {
	in := t.instances[id]
	if in == nil || in.region != l.Region || !in.visibleTo(l.Account) {
		return nil
	}
	return in
}

// ListKmsInstancesRequest holds the ListKmsInstances parameters.
type ListKmsInstancesRequest struct {
	Filters              string
	PageNumber, PageSize *int32
}

// ListKmsInstancesResponse matches ListKmsInstancesResponseBody.
type ListKmsInstancesResponse struct {
	KmsInstances struct {
		KmsInstance []KmsInstanceEntry `json:"KmsInstance"`
	} `json:"KmsInstances"`
	PageNumber int `json:"PageNumber"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// KmsInstanceEntry is one instance of ListKmsInstances.
type KmsInstanceEntry struct {
	KmsInstanceArn string `json:"KmsInstanceArn"`
	KmsInstanceId  string `json:"KmsInstanceId"` //nolint:revive // wire name
}

// ListKmsInstances lists the instances of the region that the account owns
// or that are shared with it, sorted by id. Filters accepts KmsInstanceId
// and Status. PageSize is 1..100 (default 20).
func (t *Twin) ListKmsInstances(l Lane, req ListKmsInstancesRequest) (*ListKmsInstancesResponse, error) {
	f, err := parseFilters(req.Filters, "KmsInstanceId", "Status")
	if err != nil {
		return nil, err
	}
	t.rlock()
	defer t.mu.RUnlock()
	var list []*instance
	for _, id := range t.sortedInstanceIDs() {
		in := t.instance(l, id)
		if in != nil && matches(f["KmsInstanceId"], in.id) && matches(f["Status"], in.status) {
			list = append(list, in)
		}
	}
	num, sz, lo, hi, err := page(req.PageNumber, req.PageSize, 20, len(list))
	if err != nil {
		return nil, err
	}
	out := &ListKmsInstancesResponse{PageNumber: num, PageSize: sz, TotalCount: len(list)}
	out.KmsInstances.KmsInstance = []KmsInstanceEntry{}
	for _, in := range list[lo:hi] {
		out.KmsInstances.KmsInstance = append(out.KmsInstances.KmsInstance, KmsInstanceEntry{in.arn(), in.id})
	}
	return out, nil
}

func (in *instance) arn() string {
	return "acs:kms:" + in.region + ":" + in.owner + ":keystore/" + in.id
}

// GetKmsInstanceRequest holds the GetKmsInstance parameters.
type GetKmsInstanceRequest struct {
	KmsInstanceId string //nolint:revive // wire name
}

// GetKmsInstanceResponse matches GetKmsInstanceResponseBody.
type GetKmsInstanceResponse struct {
	KmsInstance KmsInstance `json:"KmsInstance"`
}

// KmsInstance matches GetKmsInstanceResponseBodyKmsInstance plus the twin's
// extensions (documented in doc.go): InstanceType, ImageVersion,
// AutoRenewal, OwnerId and SharedAccounts.
type KmsInstance struct {
	ChargeType     string `json:"ChargeType"`
	CreateTime     string `json:"CreateTime"`
	EndDate        string `json:"EndDate"`
	InstanceId     string `json:"InstanceId"` //nolint:revive // wire name
	InstanceName   string `json:"InstanceName"`
	KeyNum         int    `json:"KeyNum"`
	ProductType    string `json:"ProductType"`
	ProductVersion string `json:"ProductVersion"`
	SaleStatus     string `json:"SaleStatus"`
	SecretNum      string `json:"SecretNum"`
	Spec           int    `json:"Spec"`
	StartDate      string `json:"StartDate"`
	Status         string `json:"Status"`
	VpcNum         int    `json:"VpcNum"`

	// Twin extensions, not in the v3.4.0 SDK struct.
	InstanceType   string `json:"InstanceType"`
	ImageVersion   string `json:"ImageVersion"`
	AutoRenewal    bool   `json:"AutoRenewal"`
	OwnerId        string `json:"OwnerId"` //nolint:revive // wire name
	SharedAccounts struct {
		SharedAccount []string `json:"SharedAccount"`
	} `json:"SharedAccounts"`
}

// GetKmsInstance describes an instance of the region that the account owns
// or shares; Forbidden.DKMSInstanceNotFound otherwise. KeyNum and SecretNum
// are the quotas; SaleStatus is Expired once EndDate has passed.
func (t *Twin) GetKmsInstance(l Lane, req GetKmsInstanceRequest) (*GetKmsInstanceResponse, error) {
	if req.KmsInstanceId == "" {
		return nil, errMissing("KmsInstanceId")
	}
	t.rlock()
	defer t.mu.RUnlock()
	in := t.instance(l, req.KmsInstanceId)
	if in == nil {
		return nil, errInstanceNotFound(req.KmsInstanceId)
	}
	k := KmsInstance{
		ChargeType:     "PREPAY",
		CreateTime:     fmtTime(in.start),
		EndDate:        fmtTime(in.end),
		InstanceId:     in.id,
		InstanceName:   in.name,
		KeyNum:         in.keyQuota,
		ProductType:    in.productType(),
		ProductVersion: "3",
		SaleStatus:     "Normal",
		SecretNum:      strconv.Itoa(in.secretQuota),
		Spec:           in.spec,
		StartDate:      fmtTime(in.start),
		Status:         in.status,
		VpcNum:         in.vpcNum,
		InstanceType:   in.productType(),
		ImageVersion:   in.image,
		AutoRenewal:    in.autoRenewal,
		OwnerId:        in.owner,
	}
	if !in.end.After(t.opts.Clock.Now()) {
		k.SaleStatus = "Expired"
	}
	k.SharedAccounts.SharedAccount = append([]string{}, in.sharedWith...)
	return &GetKmsInstanceResponse{KmsInstance: k}, nil
}

// GetKmsInstanceQuotaInfosRequest holds the GetKmsInstanceQuotaInfos
// parameters.
type GetKmsInstanceQuotaInfosRequest struct {
	KmsInstanceId string //nolint:revive // wire name
	ResourceType  string
}

// GetKmsInstanceQuotaInfosResponse matches
// GetKmsInstanceQuotaInfosResponseBody.
type GetKmsInstanceQuotaInfosResponse struct {
	KmsInstanceId         string      `json:"KmsInstanceId"` //nolint:revive // wire name
	KmsInstanceQuotaInfos []QuotaInfo `json:"KmsInstanceQuotaInfos"`
}

// QuotaInfo is the quota and usage of one resource type.
type QuotaInfo struct {
	ResourceQuota int    `json:"ResourceQuota"`
	ResourceType  string `json:"ResourceType"`
	UsedQuantity  int    `json:"UsedQuantity"`
}

// GetKmsInstanceQuotaInfos reports quota and usage for ResourceType KEY,
// SECRET and VPC (all three when ResourceType is empty). Usage counts the
// resources created in the instance plus those migrated into it from every
// account.
func (t *Twin) GetKmsInstanceQuotaInfos(l Lane, req GetKmsInstanceQuotaInfosRequest) (*GetKmsInstanceQuotaInfosResponse, error) {
	if req.KmsInstanceId == "" {
		return nil, errMissing("KmsInstanceId")
	}
	switch req.ResourceType {
	case "", "KEY", "SECRET", "VPC":
	default:
		return nil, errParam("ResourceType", "It must be KEY, SECRET or VPC.")
	}
	t.rlock()
	defer t.mu.RUnlock()
	in := t.instance(l, req.KmsInstanceId)
	if in == nil {
		return nil, errInstanceNotFound(req.KmsInstanceId)
	}
	all := []QuotaInfo{
		{in.keyQuota, "KEY", in.usedKeys()},
		{in.secretQuota, "SECRET", in.usedSecrets()},
		{in.vpcNum, "VPC", 1},
	}
	out := &GetKmsInstanceQuotaInfosResponse{KmsInstanceId: in.id, KmsInstanceQuotaInfos: []QuotaInfo{}}
	for _, q := range all {
		if req.ResourceType == "" || q.ResourceType == req.ResourceType {
			out.KmsInstanceQuotaInfos = append(out.KmsInstanceQuotaInfos, q)
		}
	}
	return out, nil
}
