package audit

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Redacted replaces every value the guard strips.
const Redacted = "[REDACTED]"

// Guard strips values that look like credentials from record fields before
// a sink writes them: access key secrets, STS security tokens, request
// signatures, and any exact value registered with Add. It errs on the side
// of stripping: a long random-looking token in a message is removed even
// when it is harmless. The zero value applies the heuristics only; a Guard
// is safe for concurrent use.
type Guard struct {
	mu    sync.RWMutex
	known []string
}

// Add registers exact values (for instance the credentials a function runs
// with) that must never appear in a record. Empty and very short values are
// ignored so that they cannot wipe ordinary text.
func (g *Guard) Add(secrets ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 8 && !slices.Contains(g.known, s) {
			g.known = append(g.known, s)
		}
	}
}

// Scrub returns s with secret-looking parts replaced by Redacted and
// whether anything was replaced.
func (g *Guard) Scrub(s string) (string, bool) {
	changed := false
	if g != nil {
		g.mu.RLock()
		for _, k := range g.known {
			if strings.Contains(s, k) {
				s = strings.ReplaceAll(s, k, Redacted)
				changed = true
			}
		}
		g.mu.RUnlock()
	}
	s, c1 := scrubAssignments(s)
	s, c2 := scrubHookPaths(s)
	s, c3 := scrubBearer(s)
	s, c4 := scrubTokens(s)
	return s, changed || c1 || c2 || c3 || c4
}

var (
	// actionName is an API action (ListSecrets, DescribeSecret): error
	// texts put one before a colon.
	actionName = regexp.MustCompile(`^(List|Describe|Get|Create|Update|Delete|Put|Post|Enable|Disable|Assume)[A-Z][A-Za-z]*$`)
	// bearerToken is the credential after the Bearer scheme word, wherever
	// it appears (an Authorization header quoted without its name).
	bearerToken = regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9\-._~+/]+=*)`)
	// jwt is a JSON Web Token: base64url segments, the first a JSON object
	// ("eyJ"), separated by dots, which the base64 heuristic splits apart.
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?`)
)

// scrubBearer strips Bearer tokens and JSON Web Tokens.
func scrubBearer(s string) (string, bool) {
	changed := false
	if strings.Contains(s, "eyJ") {
		if out := jwt.ReplaceAllString(s, Redacted); out != s {
			s, changed = out, true
		}
	}
	if !strings.Contains(strings.ToLower(s), "bearer") {
		return s, changed
	}
	out := bearerToken.ReplaceAllStringFunc(s, func(m string) string {
		sub := bearerToken.FindStringSubmatchIndex(m)
		if m[sub[2]:sub[3]] == Redacted || strings.HasPrefix(m[sub[2]:], "[") {
			return m
		}
		return m[:sub[2]] + Redacted
	})
	return out, changed || out != s
}

// hookMarkers precede the secret path segment of webhook URLs that carry
// their credential in the path (Feishu and Lark: /open-apis/bot/v2/hook/<id>).
var hookMarkers = []string{"/hook/", "/hooks/"}

// scrubHookPaths strips the path segment after a webhook marker.
func scrubHookPaths(s string) (string, bool) {
	changed := false
	for _, m := range hookMarkers {
		for from := 0; ; {
			i := strings.Index(s[from:], m)
			if i < 0 {
				break
			}
			v := from + i + len(m)
			end := v
			for end < len(s) && !isValueEnd(s[end]) && !strings.ContainsRune("/?#:", rune(s[end])) {
				end++
			}
			if end > v && s[v:end] != Redacted {
				s = s[:v] + Redacted + s[end:]
				changed = true
				end = v + len(Redacted)
			}
			from = end
		}
	}
	return s, changed
}

// scrubRecord scrubs every text field of r and reports whether any changed.
func (g *Guard) ScrubRecord(r *Record) bool {
	changed := false
	for _, p := range r.stringFields() {
		if *p == "" {
			continue
		}
		if v, c := g.Scrub(*p); c {
			*p, changed = v, true
		}
	}
	return changed
}

// sensitiveKeys name values that are secret whatever they look like, in
// "key=value", "key: value" and JSON "key":"value" forms (lower case).
var sensitiveKeys = []string{
	"secret", "token", "signature", "password", "passwd", "authorization", "credential", "sign",
	"apikey", "api_key", "api-key", "key",
}

// scrubAssignments strips the value after a sensitive key and ':' or '='.
func scrubAssignments(s string) (string, bool) {
	if !hasSeparator(s) {
		return s, false
	}
	var b strings.Builder
	last, changed := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != ':' && c != '=' {
			continue
		}
		// The key is the word (letters, digits, '_', '-', '.') before the
		// separator, optionally quoted.
		j := i
		for j > 0 && (s[j-1] == ' ' || s[j-1] == '"' || s[j-1] == '\'') {
			j--
		}
		k := j
		for k > 0 && isKeyChar(s[k-1]) {
			k--
		}
		if k == j {
			continue
		}
		if actionName.MatchString(s[k:j]) {
			continue // "kms ListSecrets: <code>" names an API call, not a value
		}
		key := strings.ToLower(s[k:j])
		if !isSensitiveKey(key) {
			continue
		}
		// The value runs from after the separator (and quote/space) to the
		// next delimiter.
		v := i + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '"' || s[v] == '\'') {
			v++
		}
		end := v
		// "LOG ak:sig" and "ACS3-HMAC-SHA256 Credential=..." carry a scheme
		// word first: take the whole header value.
		if strings.HasPrefix(key, "authorization") {
			for end < len(s) && s[end] != '\n' && s[end] != '"' && s[end] != '\'' {
				end++
			}
		} else {
			for end < len(s) && !isValueEnd(s[end]) {
				end++
			}
		}
		if end == v || s[v:end] == Redacted {
			continue
		}
		b.WriteString(s[last:v])
		b.WriteString(Redacted)
		last, changed = end, true
		i = end - 1
	}
	if !changed {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

func hasSeparator(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' || s[i] == '=' {
			return true
		}
	}
	return false
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func isValueEnd(c byte) bool {
	return c == ' ' || c == '"' || c == '\'' || c == ',' || c == '&' || c == ';' || c == '\n' || c == '\t' || c == '}' || c == ')'
}

// notSensitive are key parts that name metadata about a secret rather than
// its value: "SecretName=...", "token_count=...", "signature_version=...".
var notSensitive = []string{"name", "id", "ids", "type", "arn", "count", "version", "stage", "method", "expir", "rotation", "interval", "policy", "nonce",
	"spec", "usage", "state", "origin"}

// sensitiveIDs are identifiers that are credentials all the same: an
// access key id names the key pair (and an STS one the session) that
// signed a request; signed URLs carry it beside the signature.
var sensitiveIDs = []string{"accesskeyid", "access_key_id", "access-key-id", "x-acs-accesskey-id"}

func isSensitiveKey(key string) bool {
	for _, k := range sensitiveIDs {
		if strings.HasSuffix(key, k) {
			return true
		}
	}
	for _, n := range notSensitive {
		if strings.HasSuffix(key, n) {
			return false
		}
	}
	for _, k := range sensitiveKeys {
		if !strings.Contains(key, k) {
			continue
		}
		// "sign" only as a word of its own: not "design" or "signal".
		if k == "sign" && key != "sign" && !strings.HasSuffix(key, "_sign") && !strings.HasSuffix(key, "-sign") {
			continue
		}
		// "key" only alone or as the last word ("key=" of WeCom webhooks,
		// "x-api-key"), never "keyspec=" or "monkey".
		if k == "key" && key != "key" && !strings.HasSuffix(key, "_key") && !strings.HasSuffix(key, "-key") && !strings.HasSuffix(key, ".key") {
			continue
		}
		return true
	}
	return false
}

// LOG <ak>:<signature> and the STS token prefix are recognised wherever
// they appear; other tokens are judged by shape.
const (
	minSecretLen  = 28 // base64 HMAC-SHA1 is 28, an access key secret 30
	minSegmentLen = 20
)

// scrubTokens strips runs of base64/hex characters that look like key
// material: at least minSecretLen long, letters and digits mixed, and
// either base64 padding/plus or a long stretch without '/', so that paths
// such as "runs/2025/01/ledger" survive.
func scrubTokens(s string) (string, bool) {
	if len(s) < minSecretLen {
		return s, false
	}
	var b strings.Builder
	last, changed := 0, false
	for i := 0; i < len(s); {
		if !isTokenChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		if looksSecret(s[i:j]) && !isPlanDigest(s, i, j) {
			b.WriteString(s[last:i])
			b.WriteString(Redacted)
			last, changed = j, true
		}
		i = j
	}
	if !changed {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// isPlanDigest: s[i:j] is the hex of a plan digest ("v1:" and 64
// lowercase hex digits, shared/approval), which an operator compares with
// what they approve; no credential of Alibaba Cloud has that shape, and
// registered values (a DingTalk access token is 64 hex digits too) are
// stripped before the heuristics run.
func isPlanDigest(s string, i, j int) bool {
	if j-i != 64 || i < 3 || s[i-3:i] != "v1:" {
		return false
	}
	for k := i; k < j; k++ {
		if c := s[k]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

func looksSecret(t string) bool {
	if strings.HasPrefix(t, "CAIS") && len(t) >= 16 { // STS security token
		return true
	}
	if len(t) < minSecretLen {
		return false
	}
	var letters, digits, padded bool
	seg, longest := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '+' || c == '=':
			padded = true
		case c == '/':
			seg = -1
		default:
			letters = true
		}
		seg++
		longest = max(longest, seg)
	}
	return letters && digits && (padded || longest >= minSegmentLen)
}
