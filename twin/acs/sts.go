package acs

import (
	"context"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// STS API facts the twin mirrors.
const (
	// STSVersion is the STS API version served.
	STSVersion = "2015-04-01"
	// STSHost is the HostId the STS twin answers as.
	STSHost = "sts.aliyuncs.com"
	// STSMinDuration and STSMaxDuration bound AssumeRole's DurationSeconds
	// (the real maximum is the role's MaxSessionDuration, 1 h by default).
	STSMinDuration = 15 * time.Minute
	STSMaxDuration = time.Hour
)

// STSConfig configures the STS twin.
type STSConfig struct {
	// Keyring mints the credentials. Required.
	Keyring *Keyring
	// Verifier authenticates callers; its clock times the credentials.
	// Required.
	Verifier *Verifier
	// MaxDuration is the longest DurationSeconds accepted; 0 means
	// STSMaxDuration.
	MaxDuration time.Duration
	// Limiter throttles AssumeRole under group "AssumeRole" (nil: none).
	Limiter *Limiter
}

// NewSTSServer returns the STS 2015-04-01 twin: an RPCServer serving
// AssumeRole, as credentials-go's RAM-role-ARN provider and
// alibaba-cloud-sdk-go services/sts call it. Any authenticated caller may
// assume role ARNs acs:ram::<account>:role/<name> of an account the keyring
// knows; other accounts get 404 EntityNotExist.Role, a malformed ARN 400
// InvalidParameter.RoleArn.
func NewSTSServer(cfg STSConfig) *RPCServer {
	s := NewRPCServer(RPCConfig{Product: "Sts", Version: STSVersion, Host: STSHost,
		Verifier: cfg.Verifier, Limiter: cfg.Limiter})
	maxDur := cfg.MaxDuration
	if maxDur <= 0 {
		maxDur = STSMaxDuration
	}
	s.Handle("AssumeRole", "AssumeRole", assumeRole(cfg.Keyring, cfg.Verifier, maxDur))
	s.Handle("GetCallerIdentity", "GetCallerIdentity", getCallerIdentity)
	return s
}

// CallerIdentityResponse is the body of GetCallerIdentity, the fields
// alibaba-cloud-sdk-go's services/sts GetCallerIdentityResponse reads.
type CallerIdentityResponse struct {
	IdentityType string `json:"IdentityType"`
	AccountID    string `json:"AccountId"`
	PrincipalID  string `json:"PrincipalId"`
	UserID       string `json:"UserId,omitempty"`
	Arn          string `json:"Arn"`
	RoleID       string `json:"RoleId,omitempty"`
}

// getCallerIdentity answers who signed the call: an account's long-term
// key is the account itself (IdentityType Account, Arn
// acs:ram::<account>:root); an STS credential the role it was minted for
// (IdentityType AssumedRoleUser, Arn acs:ram::<account>:assumed-role/<role
// name>/<session>). The keyring keeps no session names, so <session> is
// the credential's access key id (see doc.go).
func getCallerIdentity(_ context.Context, call *Call) (any, error) {
	c := call.Caller
	if c.Role == "" {
		return CallerIdentityResponse{IdentityType: "Account", AccountID: c.AccountID, PrincipalID: c.AccountID, UserID: c.AccountID,
			Arn: "acs:ram::" + c.AccountID + ":root"}, nil
	}
	_, name, ok := ParseRoleArn(c.Role)
	if !ok {
		name = c.Role
	}
	roleID := roleIDOf(c.Role)
	return CallerIdentityResponse{IdentityType: "AssumedRoleUser", AccountID: c.AccountID, PrincipalID: roleID + ":" + c.AccessKeyID,
		Arn: "acs:ram::" + c.AccountID + ":assumed-role/" + name + "/" + c.AccessKeyID, RoleID: roleID}, nil
}

// roleIDOf is the twin's stable id of a role ARN.
func roleIDOf(arn string) string {
	h := fnv.New64a()
	h.Write([]byte(arn))
	return "3" + strconv.FormatUint(h.Sum64()%1e18, 10)
}

// AssumeRoleResponse is the body of a successful AssumeRole.
type AssumeRoleResponse struct {
	Credentials     STSCredentials  `json:"Credentials"`
	AssumedRoleUser AssumedRoleUser `json:"AssumedRoleUser"`
}

// STSCredentials are the temporary credentials AssumeRole returns;
// Expiration is UTC in the form 2006-01-02T15:04:05Z.
type STSCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

// AssumedRoleUser identifies the role session AssumeRole opened.
type AssumedRoleUser struct {
	Arn           string `json:"Arn"`
	AssumedRoleID string `json:"AssumedRoleId"`
}

var (
	roleSessionName = regexp.MustCompile(`^[a-zA-Z0-9.@_-]{2,64}$`)
	errRoleArn      = &Error{Status: http.StatusBadRequest, Code: "InvalidParameter.RoleArn", Message: "The parameter RoleArn is wrong format."}
	errSessionName  = &Error{Status: http.StatusBadRequest, Code: "InvalidParameter.RoleSessionName", Message: "The parameter RoleSessionName is wrong format."}
)

// ParseRoleArn splits acs:ram::<account>:role/<name> into account and role
// name; ok is false for anything else.
func ParseRoleArn(arn string) (account, name string, ok bool) {
	rest, found := strings.CutPrefix(arn, "acs:ram::")
	if !found {
		return "", "", false
	}
	account, name, found = strings.Cut(rest, ":role/")
	if !found || account == "" || name == "" || strings.ContainsAny(name, ":/") {
		return "", "", false
	}
	for _, c := range account {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	return account, name, true
}

func assumeRole(k *Keyring, v *Verifier, maxDur time.Duration) Handler {
	return func(_ context.Context, call *Call) (any, error) {
		arn, err := call.Required("RoleArn")
		if err != nil {
			return nil, err
		}
		session, err := call.Required("RoleSessionName")
		if err != nil {
			return nil, err
		}
		if !roleSessionName.MatchString(session) {
			return nil, errSessionName
		}
		secs, err := call.Int("DurationSeconds", int(min(STSMaxDuration, maxDur)/time.Second))
		if err != nil {
			return nil, err
		}
		if secs < int(STSMinDuration/time.Second) || secs > int(maxDur/time.Second) {
			return nil, Errorf(http.StatusBadRequest, "InvalidParameter.DurationSeconds",
				"The Min/Max value of DurationSeconds is %ds/%ds.", int(STSMinDuration/time.Second), int(maxDur/time.Second))
		}
		account, name, ok := ParseRoleArn(arn)
		if !ok {
			return nil, errRoleArn
		}
		if _, known := k.Account(account); !known {
			return nil, Errorf(http.StatusNotFound, "EntityNotExist.Role", "The role not exists: %s.", arn)
		}
		cred, err := k.MintSTS(account, arn, time.Duration(secs)*time.Second, v.Now())
		if err != nil {
			return nil, err
		}
		roleID := roleIDOf(arn)
		return AssumeRoleResponse{
			Credentials: STSCredentials{
				AccessKeyID:     cred.AccessKeyID,
				AccessKeySecret: cred.AccessKeySecret,
				SecurityToken:   cred.SecurityToken,
				Expiration:      cred.Expires.UTC().Format("2006-01-02T15:04:05Z"),
			},
			AssumedRoleUser: AssumedRoleUser{
				Arn:           "acs:ram::" + account + ":role/" + name + "/" + session,
				AssumedRoleID: roleID + ":" + session,
			},
		}, nil
	}
}
