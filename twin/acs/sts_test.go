package acs_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	stsv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/sts"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// newSTSTwin serves the STS twin of f's keyring over TLS, as credentials-go
// only speaks https to STS, and makes http.DefaultTransport (which
// credentials-go clones) trust it for the duration of the test.
func newSTSTwin(t *testing.T, f *fixture) (*acs.RPCServer, *httptest.Server) {
	t.Helper()
	sts := acs.NewSTSServer(acs.STSConfig{Keyring: f.keys, Verifier: f.verifier})
	srv := httptest.NewTLSServer(sts)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr := http.DefaultTransport.(*http.Transport)
	old := tr.TLSClientConfig
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(func() { tr.TLSClientConfig = old })
	return sts, srv
}

func TestCredentialsGoRAMRoleARNThroughSTSTwin(t *testing.T) {
	f := newFixture(t)
	sts, srv := newSTSTwin(t, f)
	role := "acs:ram::" + testAccount + ":role/kms-migrator"

	cred, err := credentials.NewCredential(new(credentials.Config).
		SetType("ram_role_arn").
		SetAccessKeyId(f.root.AccessKeyID).
		SetAccessKeySecret(f.root.AccessKeySecret).
		SetRoleArn(role).
		SetRoleSessionName("rehearsal").
		SetRoleSessionExpiration(900).
		SetSTSEndpoint(strings.TrimPrefix(srv.URL, "https://")))
	require.NoError(t, err)
	got, err := cred.GetCredential()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tea.StringValue(got.AccessKeyId), "STS."))
	minted, ok := f.keys.Lookup(tea.StringValue(got.AccessKeyId))
	require.True(t, ok)
	assert.Equal(t, role, minted.Role)
	assert.Equal(t, tea.StringValue(got.SecurityToken), minted.SecurityToken)
	assert.WithinDuration(t, time.Now().Add(15*time.Minute), minted.Expires, time.Minute)
	assert.Equal(t, int64(1), sts.CallCount("AssumeRole"))

	// The minted credentials sign a KMS call the frame accepts.
	c, err := kms.NewClient(&openapi.Config{Credential: cred, Endpoint: tea.String(f.host),
		Protocol: tea.String("http"), RegionId: tea.String(testRegion)})
	require.NoError(t, err)
	key, err := c.DescribeKey(&kms.DescribeKeyRequest{KeyId: tea.String("k")})
	require.NoError(t, err)
	assert.Equal(t, role, tea.StringValue(key.Body.KeyMetadata.Description))
	assert.Equal(t, testAccount, tea.StringValue(key.Body.KeyMetadata.Creator))
}

func TestCredentialsGoRefusedBySTSTwin(t *testing.T) {
	f := newFixture(t)
	_, srv := newSTSTwin(t, f)
	cred, err := credentials.NewCredential(new(credentials.Config).
		SetType("ram_role_arn").
		SetAccessKeyId(f.root.AccessKeyID).
		SetAccessKeySecret("wrong-secret").
		SetRoleArn("acs:ram::" + testAccount + ":role/kms-migrator").
		SetRoleSessionName("rehearsal").
		SetSTSEndpoint(strings.TrimPrefix(srv.URL, "https://")))
	require.NoError(t, err)
	_, err = cred.GetCredential()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SignatureDoesNotMatch")
	assert.NotContains(t, err.Error(), f.root.AccessKeySecret)
}

func TestLegacySTSAssumeRole(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(acs.NewSTSServer(acs.STSConfig{Keyring: f.keys, Verifier: f.verifier}))
	t.Cleanup(srv.Close)
	client, err := stsv1.NewClientWithAccessKey(testRegion, f.root.AccessKeyID, f.root.AccessKeySecret)
	require.NoError(t, err)
	assume := func(arn, session, duration string) (*stsv1.AssumeRoleResponse, error) {
		req := stsv1.CreateAssumeRoleRequest()
		req.Domain = strings.TrimPrefix(srv.URL, "http://")
		req.Scheme = "http"
		req.RoleArn = arn
		req.RoleSessionName = session
		req.DurationSeconds = requests.Integer(duration)
		return client.AssumeRole(req)
	}

	resp, err := assume("acs:ram::"+testAccount+":role/Admin", "alice", "3600")
	require.NoError(t, err)
	assert.Equal(t, "acs:ram::"+testAccount+":role/Admin/alice", resp.AssumedRoleUser.Arn)
	assert.True(t, strings.HasSuffix(resp.AssumedRoleUser.AssumedRoleId, ":alice"))
	exp, err := time.Parse("2006-01-02T15:04:05Z", resp.Credentials.Expiration)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), exp, time.Minute)
	minted, ok := f.keys.Lookup(resp.Credentials.AccessKeyId)
	require.True(t, ok)
	assert.Equal(t, resp.Credentials.AccessKeySecret, minted.AccessKeySecret)

	tests := []struct {
		name, arn, session, duration string
		wantStatus                   int
		wantCode                     string
	}{
		{"unknown account", "acs:ram::999999:role/Admin", "alice", "", 404, "EntityNotExist.Role"},
		{"malformed arn", "arn:aws:iam::1:role/x", "alice", "", 400, "InvalidParameter.RoleArn"},
		{"missing arn", "", "alice", "", 400, "MissingParameter"},
		{"bad session name", "acs:ram::" + testAccount + ":role/Admin", "a b", "", 400, "InvalidParameter.RoleSessionName"},
		{"duration too short", "acs:ram::" + testAccount + ":role/Admin", "alice", "60", 400, "InvalidParameter.DurationSeconds"},
		{"duration too long", "acs:ram::" + testAccount + ":role/Admin", "alice", "7200", 400, "InvalidParameter.DurationSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := assume(tt.arn, tt.session, tt.duration)
			status, code := v1Code(t, err)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantStatus, status)
		})
	}
}

func TestParseRoleArn(t *testing.T) {
	tests := []struct {
		arn, account, name string
		ok                 bool
	}{
		{"acs:ram::123:role/x", "123", "x", true},
		{"acs:ram::123:role/", "", "", false},
		{"acs:ram::12a:role/x", "", "", false},
		{"acs:ram::123:user/x", "", "", false},
		{"acs:ram::123:role/x/y", "", "", false},
	}
	for _, tt := range tests {
		account, name, ok := acs.ParseRoleArn(tt.arn)
		assert.Equal(t, tt.ok, ok, tt.arn)
		assert.Equal(t, tt.account, account, tt.arn)
		assert.Equal(t, tt.name, name, tt.arn)
	}
}

// GetCallerIdentity through the official V1 STS client names the
// account of a long-term key and the role of an STS credential.
func TestSTSGetCallerIdentity(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(acs.NewSTSServer(acs.STSConfig{Keyring: f.keys, Verifier: f.verifier}))
	t.Cleanup(srv.Close)
	who := func(client *stsv1.Client) *stsv1.GetCallerIdentityResponse {
		t.Helper()
		req := stsv1.CreateGetCallerIdentityRequest()
		req.Domain = strings.TrimPrefix(srv.URL, "http://")
		req.Scheme = "http"
		resp, err := client.GetCallerIdentity(req)
		require.NoError(t, err)
		return resp
	}
	root, err := stsv1.NewClientWithAccessKey(testRegion, f.root.AccessKeyID, f.root.AccessKeySecret)
	require.NoError(t, err)
	got := who(root)
	assert.Equal(t, "Account", got.IdentityType)
	assert.Equal(t, testAccount, got.AccountId)
	assert.Equal(t, "acs:ram::"+testAccount+":root", got.Arn)
	assert.NotEmpty(t, got.RequestId)

	req := stsv1.CreateAssumeRoleRequest()
	req.Domain, req.Scheme = strings.TrimPrefix(srv.URL, "http://"), "http"
	req.RoleArn, req.RoleSessionName = "acs:ram::"+testAccount+":role/Approver", "alice"
	assumed, err := root.AssumeRole(req)
	require.NoError(t, err)
	c := assumed.Credentials
	sts, err := stsv1.NewClientWithStsToken(testRegion, c.AccessKeyId, c.AccessKeySecret, c.SecurityToken)
	require.NoError(t, err)
	got = who(sts)
	assert.Equal(t, "AssumedRoleUser", got.IdentityType)
	assert.Equal(t, testAccount, got.AccountId)
	assert.Equal(t, "acs:ram::"+testAccount+":assumed-role/Approver/"+c.AccessKeyId, got.Arn)
	assert.NotEmpty(t, got.RoleId)

	// An unknown key is refused.
	bad, err := stsv1.NewClientWithAccessKey(testRegion, "LTAInobody", "nothing")
	require.NoError(t, err)
	r := stsv1.CreateGetCallerIdentityRequest()
	r.Domain, r.Scheme = strings.TrimPrefix(srv.URL, "http://"), "http"
	_, err = bad.GetCallerIdentity(r)
	require.Error(t, err)
}
