package ram

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/sts"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/approval"
)

// IdentityConfig locates STS for CallerIdentity.
type IdentityConfig struct {
	// Endpoint is the STS host (default sts.aliyuncs.com).
	Endpoint string
	// Region is the region the client signs for (default cn-hangzhou).
	Region string
	// Transport, when set, carries the requests (the offline twins' CA).
	Transport http.RoundTripper
}

// CallerIdentity asks STS who cred is (GetCallerIdentity, through the
// official STS client): what an approval records as its approver, so that
// nobody approves under a name they typed. Refusals (an unknown or
// revoked key) are returned wrapped; cancellation: ctx.Err() before the
// call (the V1 client takes no context).
func CallerIdentity(ctx context.Context, cred credentials.Credential, cfg IdentityConfig) (approval.Identity, error) {
	if err := ctx.Err(); err != nil {
		return approval.Identity{}, err
	}
	if cred == nil {
		return approval.Identity{}, fmt.Errorf("sts: no credential to identify")
	}
	c, err := cred.GetCredential()
	if err != nil {
		return approval.Identity{}, fmt.Errorf("sts: read credential: %w", err)
	}
	region := cfg.Region
	if region == "" {
		region = "cn-hangzhou"
	}
	var client *sts.Client
	if token := deref(c.SecurityToken); token != "" {
		client, err = sts.NewClientWithStsToken(region, deref(c.AccessKeyId), deref(c.AccessKeySecret), token)
	} else {
		client, err = sts.NewClientWithAccessKey(region, deref(c.AccessKeyId), deref(c.AccessKeySecret))
	}
	if err != nil {
		return approval.Identity{}, fmt.Errorf("sts: client: %w", err)
	}
	if cfg.Transport != nil {
		client.SetTransport(cfg.Transport)
	}
	req := sts.CreateGetCallerIdentityRequest()
	req.Scheme = "https"
	req.Domain = cfg.Endpoint
	if req.Domain == "" {
		req.Domain = "sts.aliyuncs.com"
	}
	resp, err := client.GetCallerIdentity(req)
	if err != nil {
		return approval.Identity{}, fmt.Errorf("sts: GetCallerIdentity: %w", err)
	}
	if resp.AccountId == "" {
		return approval.Identity{}, fmt.Errorf("sts: GetCallerIdentity answered no AccountId (request %s)", resp.RequestId)
	}
	return approval.Identity{AccountID: resp.AccountId, IdentityType: resp.IdentityType, Arn: resp.Arn, PrincipalID: resp.PrincipalId}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
