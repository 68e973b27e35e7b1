package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/runstate/ossstore"
)

// Credentials give each account's credential: a base credential for the
// function's own account (the invocation's STS credentials, or a local
// profile), static keys for accounts that have them (rehearsals), and a
// RAM role assumed from the base credential for every other account in
// RoleArns.
type Credentials struct {
	// Home is the account the base credential belongs to.
	Home string
	Base credentials.Credential
	// Static maps accounts to fixed access keys (offline twins only).
	Static map[string]credentials.Credential
	// RoleArns and STSEndpoint configure role assumption.
	RoleArns    map[string]string
	STSEndpoint string
	// SessionName names the assumed-role sessions (visible in the
	// provider's audit logs); default "kmsmig".
	SessionName string
}

// For returns the credential of account. It fails, naming the account, when
// no credential can be had for it.
func (c Credentials) For(account string) (credentials.Credential, error) {
	if cred, ok := c.Static[account]; ok {
		return cred, nil
	}
	if account == c.Home || (c.Home == "" && len(c.RoleArns) == 0) {
		if c.Base == nil {
			return nil, fmt.Errorf("no credential for account %s", account)
		}
		return c.Base, nil
	}
	arn, ok := c.RoleArns[account]
	if !ok {
		return nil, fmt.Errorf("account %s: no RAM role configured (KMSMIG_ROLE_ARNS) and it is not the function's own account", account)
	}
	if c.Base == nil {
		return nil, fmt.Errorf("account %s: no base credential to assume %s from", account, arn)
	}
	base, err := c.Base.GetCredential()
	if err != nil {
		return nil, fmt.Errorf("account %s: read base credential: %w", account, err)
	}
	name := c.SessionName
	if name == "" {
		name = "kmsmig"
	}
	cfg := &credentials.Config{
		Type:            dara.String("ram_role_arn"),
		AccessKeyId:     base.AccessKeyId,
		AccessKeySecret: base.AccessKeySecret,
		RoleArn:         dara.String(arn),
		RoleSessionName: dara.String(name),
	}
	if t := dara.StringValue(base.SecurityToken); t != "" {
		cfg.SecurityToken = dara.String(t)
	}
	if c.STSEndpoint != "" {
		cfg.STSEndpoint = dara.String(c.STSEndpoint)
	}
	cred, err := credentials.NewCredential(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %s: assume %s: %w", account, arn, err)
	}
	return cred, nil
}

// StaticCredential returns a credential for a fixed access key (and STS
// token when non-empty).
func StaticCredential(id, secret, token string) (credentials.Credential, error) {
	cfg := &credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(id), AccessKeySecret: dara.String(secret)}
	if token != "" {
		cfg.Type, cfg.SecurityToken = dara.String("sts"), dara.String(token)
	}
	return credentials.NewCredential(cfg)
}

// NewKMS builds the KMS adapter for cfg.
func NewKMS(cfg Config, creds Credentials) (*kms.Client, error) {
	quotas := kms.DefaultQuotas()
	for g, n := range cfg.QPS {
		quotas[kms.Group(g)] = n
	}
	return kms.New(kms.Config{Endpoints: cfg.KMSEndpoints, Insecure: cfg.Insecure, Credentials: creds.For, Quotas: quotas})
}

// OpenStore opens the run-state store cfg.State names, using cred for OSS
// and region as the default OSS region.
func OpenStore(ctx context.Context, cfg Config, cred credentials.Credential, region string) (runstate.Store, error) {
	switch {
	case strings.HasPrefix(cfg.State, "dir:"):
		return runstate.OpenDir(strings.TrimPrefix(cfg.State, "dir:"))
	case strings.HasPrefix(cfg.State, "oss://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(cfg.State, "oss://"), "/")
		if cred == nil {
			return nil, fmt.Errorf("KMSMIG_STATE %s: no credential for OSS", cfg.State)
		}
		ossRegion := cfg.OSSRegion
		if ossRegion == "" {
			ossRegion = region
		}
		oc := oss.LoadDefaultConfig().
			WithRegion(ossRegion).
			WithCredentialsProvider(osscred.CredentialsProviderFunc(func(ctx context.Context) (osscred.Credentials, error) {
				c, err := cred.GetCredential()
				if err != nil {
					return osscred.Credentials{}, err
				}
				return osscred.Credentials{AccessKeyID: dara.StringValue(c.AccessKeyId), AccessKeySecret: dara.StringValue(c.AccessKeySecret), SecurityToken: dara.StringValue(c.SecurityToken)}, nil
			}))
		if cfg.OSSEndpoint != "" {
			oc = oc.WithEndpoint(cfg.OSSEndpoint)
		}
		if cfg.Insecure {
			// The offline twin on loopback: plain HTTP and path-style
			// addressing (a bucket sub-domain of 127.0.0.1 does not
			// resolve). Real OSS refuses path-style requests.
			oc = oc.WithDisableSSL(true).WithUsePathStyle(true)
		}
		return ossstore.New(oss.NewClient(oc), ossstore.Config{Bucket: bucket, Prefix: prefix})
	}
	return nil, fmt.Errorf("KMSMIG_STATE %q: want dir:<path> or oss://<bucket>[/<prefix>]", cfg.State)
}
