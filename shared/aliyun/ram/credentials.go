package ram

import (
	"fmt"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"
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

// Static returns a credential for a fixed access key (and STS
// token when non-empty).
func Static(id, secret, token string) (credentials.Credential, error) {
	cfg := &credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(id), AccessKeySecret: dara.String(secret)}
	if token != "" {
		cfg.Type, cfg.SecurityToken = dara.String("sts"), dara.String(token)
	}
	return credentials.NewCredential(cfg)
}
