package acs

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Credential is one access key known to the twins. A long-term key has an
// empty SecurityToken; an STS credential carries the token the caller must
// send with it and an expiry.
type Credential struct {
	AccountID       string    `json:"accountId"`
	AccessKeyID     string    `json:"accessKeyId"`
	AccessKeySecret string    `json:"accessKeySecret"`
	SecurityToken   string    `json:"securityToken,omitempty"`
	Expires         time.Time `json:"expires,omitzero"`
	// Role is the role ARN an STS credential was minted for, empty for a
	// long-term key.
	Role string `json:"role,omitempty"`
}

// IsSTS reports whether c is a temporary credential.
func (c Credential) IsSTS() bool { return c.SecurityToken != "" }

// Caller is the authenticated identity behind a verified request.
type Caller struct {
	AccountID   string
	AccessKeyID string
	// Role is set when the request was signed with an STS credential.
	Role string
}

// Keyring holds every access key the twins accept. It is safe for
// concurrent use.
type Keyring struct {
	mu   sync.RWMutex
	byAK map[string]Credential
	// accounts keeps the long-term key of each account in insertion order.
	accounts []string
	roots    map[string]Credential
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring {
	return &Keyring{byAK: map[string]Credential{}, roots: map[string]Credential{}}
}

// AddAccount registers an account and returns its long-term access key.
// Calling it again for the same account returns the key made the first time.
// The keys are random; accessKeyID and secret, when non-empty, are used
// instead so that a rehearsal can reuse fixed credentials.
func (k *Keyring) AddAccount(accountID, accessKeyID, secret string) (Credential, error) {
	if accountID == "" {
		return Credential{}, fmt.Errorf("acs: account id is empty")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.roots[accountID]; ok {
		return c, nil
	}
	if accessKeyID == "" {
		accessKeyID = "LTAI" + randomToken(10)
	}
	if secret == "" {
		secret = randomToken(15)
	}
	if _, taken := k.byAK[accessKeyID]; taken {
		return Credential{}, fmt.Errorf("acs: access key id %s already belongs to another account", accessKeyID)
	}
	c := Credential{AccountID: accountID, AccessKeyID: accessKeyID, AccessKeySecret: secret}
	k.byAK[accessKeyID] = c
	k.roots[accountID] = c
	k.accounts = append(k.accounts, accountID)
	return c, nil
}

// MintSTS issues a temporary credential for accountID acting as role, valid
// for ttl. It fails when the account is unknown.
func (k *Keyring) MintSTS(accountID, role string, ttl time.Duration, now time.Time) (Credential, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.roots[accountID]; !ok {
		return Credential{}, fmt.Errorf("acs: unknown account %s", accountID)
	}
	c := Credential{
		AccountID:       accountID,
		AccessKeyID:     "STS." + randomToken(12),
		AccessKeySecret: randomToken(15),
		SecurityToken:   "CAIS" + randomToken(32),
		Expires:         now.Add(ttl).UTC().Truncate(time.Second),
		Role:            role,
	}
	k.byAK[c.AccessKeyID] = c
	return c, nil
}

// Lookup returns the credential with the given access key id.
func (k *Keyring) Lookup(accessKeyID string) (Credential, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	c, ok := k.byAK[accessKeyID]
	return c, ok
}

// Account returns the long-term key of an account.
func (k *Keyring) Account(accountID string) (Credential, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	c, ok := k.roots[accountID]
	return c, ok
}

// Accounts returns the long-term key of every account, in the order they
// were added.
func (k *Keyring) Accounts() []Credential {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]Credential, 0, len(k.accounts))
	for _, id := range k.accounts {
		out = append(out, k.roots[id])
	}
	return out
}

// Secrets returns every access key secret and security token the keyring
// has issued, sorted, so tests can scan logs and reports for leaks.
func (k *Keyring) Secrets() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []string
	for _, c := range k.byAK {
		out = append(out, c.AccessKeySecret)
		if c.SecurityToken != "" {
			out = append(out, c.SecurityToken)
		}
	}
	sort.Strings(out)
	return out
}

// randomToken returns n random bytes as upper-case-free hex-like text of
// 2n characters.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// NewRequestID returns a request id in the form the real services use
// (upper-case UUID). Ids are random but not cryptographically strong: they
// name requests, they do not protect anything.
func NewRequestID() string {
	const hexdigits = "0123456789ABCDEF"
	var b [36]byte
	hi, lo := mrand.Uint64(), mrand.Uint64()
	j := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*uint(i)) & 0xf
		} else {
			nib = lo >> (60 - 4*uint(i-16)) & 0xf
		}
		b[j] = hexdigits[nib]
		j++
	}
	return string(b[:])
}
