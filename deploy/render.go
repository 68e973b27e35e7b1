package deploy

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
)

// timeZero: which functions are chained does not depend on the time.
var timeZero time.Time

//go:embed ram-policy.json fc-role-trust-policy.json member-role-policy.json member-role-trust-policy.json deployer-policy.json oss-trigger-role-policy.json oss-trigger-trust-policy.json
var templates embed.FS

// Files are the documents Render writes, in order.
var Files = []string{"ram-policy.json", "fc-role-trust-policy.json", "member-role-policy.json", "member-role-trust-policy.json", "deployer-policy.json", "oss-trigger-role-policy.json", "oss-trigger-trust-policy.json"}

// Params are what the policies are rendered from.
type Params struct {
	// HomeAccount is the account that runs the functions (digits).
	HomeAccount string
	// MemberRoles are the ARNs of the roles the functions assume in the
	// other accounts (KMSMIG_ROLE_ARNS); none leaves sts:AssumeRole out.
	MemberRoles []string
	// Functions are the names of the functions the functions' role may
	// invoke (InvokedFunctions).
	Functions []string

	StateBucket string
	StatePrefix string // default kmsmig
	SLSProject  string
	SLSLogstore string // audit logstore, default kmsmig-audit
	FCLogstore  string // function logs, default kmsmig-fc-logs
	FCRoleName  string // the functions' role, default kmsmig-fc
}

var (
	digits    = regexp.MustCompile(`^[0-9]+$`)
	nameChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	roleARN   = regexp.MustCompile(`^acs:ram::([0-9]+):role/([A-Za-z0-9._-]+)$`)
	leftOver  = regexp.MustCompile(`<[A-Z_]+>`)
)

// InvokedFunctions returns the functions the code invokes asynchronously
// with cfg: discover kicks migrate (app.Config.FunctionMigrate) and poll
// chains the engine's functions (migration.Functions: migrate and rotate);
// "-" turns a chain off. A fanned-out discovery invokes discover, and a
// fanned-out migrate or poll (KMSMIG_STEP_LANES_PER_INVOCATION) invokes
// itself. Function Compute's failure destination of s.yaml
// (rotate) is invoked with the same role and is one of them.
func InvokedFunctions(cfg app.Config) []string {
	seen := map[string]bool{}
	add := func(fn string) {
		if fn != "" && fn != "-" {
			seen[fn] = true
		}
	}
	add(cfg.FunctionMigrate)
	if cfg.DiscoverLanesPerInvocation > 0 {
		add(cfg.FunctionDiscover) // a fanned-out discovery hands groups of lanes to discover
	}
	if cfg.StepLanesPerInvocation > 0 {
		// A fanned-out migrate or poll hands groups of lanes to itself.
		add(cfg.FunctionMigrate)
		add(cfg.FunctionPoll)
	}
	f := cfg.EngineConfig(timeZero).Functions
	add(f.Migrate)
	add(f.Rotate)
	out := make([]string, 0, len(seen))
	for fn := range seen {
		out = append(out, fn)
	}
	sort.Strings(out)
	return out
}

// MemberRoleARNs returns the role ARNs of the member accounts: the ARN
// roleArns (KMSMIG_ROLE_ARNS) gives for an account, else
// acs:ram::<account>:role/<roleName>, for each of accounts
// (KMSMIG_ACCOUNTS) and of roleArns other than home, sorted.
func MemberRoleARNs(home string, accounts []string, roleArns map[string]string, roleName string) ([]string, error) {
	if roleName == "" {
		roleName = "kmsmig-member"
	}
	seen := map[string]bool{}
	var out []string
	add := func(account, arn string) error {
		if !digits.MatchString(account) {
			return fmt.Errorf("account %q: want digits only", account)
		}
		m := roleARN.FindStringSubmatch(arn)
		if m == nil || m[1] != account {
			return fmt.Errorf("account %s: role %q: want acs:ram::%s:role/<name>", account, arn, account)
		}
		if !seen[arn] {
			seen[arn] = true
			out = append(out, arn)
		}
		return nil
	}
	for _, a := range accounts {
		if a == home {
			continue
		}
		arn := roleArns[a]
		if arn == "" {
			arn = "acs:ram::" + a + ":role/" + roleName
		}
		if err := add(a, arn); err != nil {
			return nil, err
		}
	}
	for a, arn := range roleArns {
		if a == home {
			continue
		}
		if err := add(a, arn); err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// Render returns the deployable documents, by file name. It refuses
// parameters that would not make a valid ARN and a document with a
// placeholder left.
func Render(p Params) (map[string][]byte, error) {
	p.StatePrefix = strings.Trim(p.StatePrefix, "/")
	defaults := []struct {
		v   *string
		def string
	}{{&p.StatePrefix, "kmsmig"}, {&p.SLSLogstore, "kmsmig-audit"}, {&p.FCLogstore, "kmsmig-fc-logs"}, {&p.FCRoleName, "kmsmig-fc"}}
	for _, d := range defaults {
		if *d.v == "" {
			*d.v = d.def
		}
	}
	if !digits.MatchString(p.HomeAccount) {
		return nil, fmt.Errorf("home account %q: want digits only", p.HomeAccount)
	}
	for _, f := range []struct{ name, v string }{
		{"state bucket", p.StateBucket}, {"SLS project", p.SLSProject}, {"audit logstore", p.SLSLogstore},
		{"function logstore", p.FCLogstore}, {"functions' role", p.FCRoleName},
	} {
		if !nameChars.MatchString(f.v) {
			return nil, fmt.Errorf("%s %q: want letters, digits, '.', '_' or '-'", f.name, f.v)
		}
	}
	for _, seg := range strings.Split(p.StatePrefix, "/") {
		if !nameChars.MatchString(seg) || seg == "." || seg == ".." {
			return nil, fmt.Errorf("state prefix %q: want segments of letters, digits, '.', '_' or '-'", p.StatePrefix)
		}
	}
	if len(p.Functions) == 0 {
		return nil, fmt.Errorf("no function to invoke: chaining off everywhere leaves the failure destination (rotate) without a grant")
	}
	var fns []string
	for _, fn := range p.Functions {
		if !nameChars.MatchString(fn) {
			return nil, fmt.Errorf("function %q: want letters, digits, '.', '_' or '-'", fn)
		}
		fns = append(fns, "acs:fc:*:"+p.HomeAccount+":functions/"+fn)
	}
	for _, arn := range p.MemberRoles {
		if m := roleARN.FindStringSubmatch(arn); m == nil {
			return nil, fmt.Errorf("member role %q: want acs:ram::<account>:role/<name>", arn)
		}
	}
	scalars := strings.NewReplacer(
		"<HOME_ACCOUNT_ID>", p.HomeAccount, "<STATE_BUCKET>", p.StateBucket, "<STATE_PREFIX>", p.StatePrefix,
		"<SLS_PROJECT>", p.SLSProject, "<SLS_LOGSTORE>", p.SLSLogstore, "<FC_LOGSTORE>", p.FCLogstore, "<FC_ROLE_NAME>", p.FCRoleName)
	lists := map[string][]string{"<MEMBER_ROLE_ARNS>": p.MemberRoles, "<INVOKED_FUNCTIONS>": fns}

	out := map[string][]byte{}
	for _, name := range Files {
		b, err := templates.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var doc Policy
		if err := json.Unmarshal([]byte(scalars.Replace(string(b))), &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		kept := doc.Statement[:0]
		for _, s := range doc.Statement {
			s.Resource = expand(s.Resource, lists)
			if s.Resource != nil && len(s.Resource) == 0 {
				continue // a grant on no resource: no member account, say
			}
			kept = append(kept, s)
		}
		doc.Statement = kept
		rendered, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, err
		}
		if m := leftOver.Find(rendered); m != nil {
			return nil, fmt.Errorf("%s: placeholder %s left", name, m)
		}
		out[name] = append(rendered, '\n')
	}
	return out, nil
}

// expand replaces each list placeholder element of l with its values; a
// list left empty is returned empty (not nil).
func expand(l StringList, lists map[string][]string) StringList {
	if l == nil {
		return nil
	}
	out := StringList{}
	for _, v := range l {
		if vs, ok := lists[v]; ok {
			out = append(out, vs...)
			continue
		}
		out = append(out, v)
	}
	return slices.Clip(out)
}

// Policy is a RAM policy document: Version "1" and its statements.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement: Effect, Action, Resource and Condition in a
// permission policy, Principal instead of Resource in a trust policy.
type Statement struct {
	Effect    string          `json:"Effect"`
	Action    StringList      `json:"Action"`
	Resource  StringList      `json:"Resource,omitempty"`
	Condition json.RawMessage `json:"Condition,omitempty"`
	Principal json.RawMessage `json:"Principal,omitempty"`
}

// StringList is a RAM element that is a string or a list of strings; it is
// written as a list.
type StringList []string

// UnmarshalJSON accepts a string or a list of strings.
func (l *StringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&many); err != nil {
		return err
	}
	*l = many
	return nil
}
