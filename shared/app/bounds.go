package app

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
)

// checkBounds validates the settings whose shape the loaders do not check
// themselves: endpoints, names, targets, the state URL, where plain HTTP
// may go, and what Function Compute forbids. It runs after every loader,
// on the values they read, and only records bad settings (each naming its
// variable); it changes nothing. getenv is read for Function Compute's own
// variables (FC_FUNCTION_NAME, FC_RUNTIME_API).
func (c *Config) checkBounds(s *settings, getenv func(string) string) {
	c.checkEndpoints(s)
	c.checkNames(s)
	c.checkTargets(s)
	c.checkState(s, getenv)
	c.checkPlainHTTP(s)
}

// checkEndpoints checks every endpoint setting is host[:port] or an
// http(s) URL of one (no path, query, user or fragment), and keeps the
// host[:port] form for the adapters that take a host (KMS, OSS, FC, STS):
// they choose the scheme themselves, TLS unless KMSMIG_INSECURE (see
// checkPlainHTTP).
func (c *Config) checkEndpoints(s *settings) {
	for _, r := range slices.Sorted(maps.Keys(c.KMSEndpoints)) {
		if !regionLike(r) {
			s.bad("KMSMIG_KMS_ENDPOINTS", "%q is not a region id like cn-hangzhou", r)
			continue
		}
		if hp, ok := c.endpoint(s, "KMSMIG_KMS_ENDPOINTS", c.KMSEndpoints[r]); ok {
			c.KMSEndpoints[r] = hp
		}
	}
	for _, e := range []struct {
		dst  *string
		name string
	}{
		{&c.STSEndpoint, "KMSMIG_STS_ENDPOINT"},
		{&c.OSSEndpoint, "KMSMIG_OSS_ENDPOINT"},
		{&c.FCEndpoint, "KMSMIG_FC_ENDPOINT"},
	} {
		if *e.dst == "" {
			continue
		}
		if hp, ok := c.endpoint(s, e.name, *e.dst); ok {
			*e.dst = hp
		}
	}
	// The SLS sink takes the endpoint with its scheme (see
	// sls.WithScheme), so it keeps it.
	if c.SLSEndpoint != "" {
		c.endpoint(s, "KMSMIG_SLS_ENDPOINT", c.SLSEndpoint)
	}
}

// endpoint parses v as host[:port] or scheme://host[:port][/], returning
// host[:port]. A scheme other than http or https, a path, query, fragment
// or user is refused, naming name, and so is a scheme the adapter would
// not use: STS is always HTTPS; KMS, OSS and FC speak HTTP exactly when
// KMSMIG_INSECURE=true. The SLS endpoint keeps its scheme (checkPlainHTTP
// checks it).
func (c *Config) endpoint(s *settings, name, v string) (string, bool) {
	scheme, hostport := "", v
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			s.bad(name, "%q: want host[:port] or http(s)://host[:port] without a path or query", v)
			return "", false
		}
		scheme, hostport = u.Scheme, u.Host
	}
	if !validHostPort(hostport) {
		s.bad(name, "%q: want host[:port] (a DNS name or an IP address, a port from 1 to 65535) or http(s)://host[:port]", v)
		return "", false
	}
	switch {
	case name == "KMSMIG_SLS_ENDPOINT":
	case name == "KMSMIG_STS_ENDPOINT" && scheme == "http":
		s.bad(name, "%q: STS is always spoken to over HTTPS; give host[:port] or https://host[:port]", v)
		return "", false
	case name == "KMSMIG_STS_ENDPOINT":
	case scheme == "http" && !c.Insecure:
		s.bad(name, "%q: plain HTTP needs KMSMIG_INSECURE=true and a loopback endpoint (offline twins only)", v)
		return "", false
	case scheme == "https" && c.Insecure:
		s.bad(name, "%q: https:// contradicts KMSMIG_INSECURE=true, which speaks plain HTTP to this endpoint", v)
		return "", false
	}
	return hostport, true
}

// validHostPort reports whether hp is a DNS name or IP address with an
// optional port 1..65535.
func validHostPort(hp string) bool {
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkNames checks the names that reach the cloud: the seed region, the
// chained functions (Function Compute's rule: letters, digits, _ and -,
// 1 to 64 characters, not starting with a digit or a hyphen; "-" turns
// chaining off).
func (c *Config) checkNames(s *settings) {
	if c.SeedRegion != "" && !regionLike(c.SeedRegion) {
		s.bad("KMSMIG_SEED_REGION", "%q is not a region id like cn-hangzhou", c.SeedRegion)
	}
	for _, f := range []struct{ name, v string }{
		{"KMSMIG_FUNCTION_MIGRATE", c.FunctionMigrate},
		{"KMSMIG_FUNCTION_ROTATE", c.FunctionRotate},
		{"KMSMIG_FUNCTION_POLL", c.FunctionPoll},
	} {
		if f.v != "-" && !functionName(f.v) {
			s.bad(f.name, "%q is not a Function Compute function name (letters, digits, _ and -, 1 to 64 characters, not starting with a digit or -) or - (no chaining)", f.v)
		}
	}
}

// functionName reports whether v follows Function Compute's function
// naming rule.
func functionName(v string) bool {
	if v == "" || len(v) > 64 || v[0] == '-' || v[0] >= '0' && v[0] <= '9' {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// checkTargets checks each target lane is account UID/region id and each
// instance id looks like a KMS instance id (kst-...).
func (c *Config) checkTargets(s *settings) {
	for _, l := range slices.SortedFunc(maps.Keys(c.Targets), estate.Lane.Compare) {
		if !digits(l.Account) || !regionLike(l.Region) {
			s.bad("KMSMIG_TARGETS", "lane %q: want <account UID>/<region id>, like 1234567890/cn-hangzhou", l.String())
		}
		if id := c.Targets[l]; !instanceID(id) {
			s.bad("KMSMIG_TARGETS", "lane %s: %q is not a KMS instance id (kst- then lower-case letters, digits and -)", l, id)
		}
	}
}

// instanceID reports whether v looks like a KMS 3.0 instance id:
// "kst-" then 1 to 60 lower-case letters, digits or hyphens.
func instanceID(v string) bool {
	rest, ok := strings.CutPrefix(v, "kst-")
	if !ok || rest == "" || len(rest) > 60 || rest[0] == '-' {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// checkState checks the oss:// URL (an OSS bucket name, a prefix without
// empty, . or .. segments) and refuses dir: inside Function Compute,
// where every instance has its own disk: steps would report done having
// shared nothing.
func (c *Config) checkState(s *settings, getenv func(string) string) {
	if rest, ok := strings.CutPrefix(c.State, "oss://"); ok && rest != "" {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if !bucketName(bucket) {
			s.bad("KMSMIG_STATE", "%q: %q is not an OSS bucket name (3 to 63 lower-case letters, digits and -, starting and ending with a letter or digit)", c.State, bucket)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(prefix, "/"), "/") {
			if prefix == "" {
				break
			}
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\?#") {
				s.bad("KMSMIG_STATE", "%q: the prefix must not hold empty, . or .. segments, \\, ? or #", c.State)
				break
			}
		}
	}
	if strings.HasPrefix(c.State, "dir:") && InFunctionCompute(getenv) {
		s.bad("KMSMIG_STATE", "%q: dir: state inside Function Compute (FC_FUNCTION_NAME is set): each instance has its own disk; use oss://<bucket>[/<prefix>]", c.State)
	}
}

// InFunctionCompute reports whether the process runs under Function
// Compute, by the variables its runtime sets for every function
// (FC_FUNCTION_NAME, and FC_RUNTIME_API for the go1 runtime's API).
func InFunctionCompute(getenv func(string) string) bool {
	return getenv("FC_FUNCTION_NAME") != "" || getenv("FC_RUNTIME_API") != ""
}

// bucketName reports whether v follows OSS's bucket naming rule.
func bucketName(v string) bool {
	if len(v) < 3 || len(v) > 63 || v[0] == '-' || v[len(v)-1] == '-' {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// checkPlainHTTP enforces where plain HTTP may go. KMSMIG_INSECURE=true
// makes the KMS, OSS and Function Compute adapters speak HTTP, so it is
// accepted only when every endpoint this configuration names for them is
// a loopback override (127.0.0.0/8, ::1, localhost): each overridden
// endpoint must be loopback, each configured region (and the seed
// region) needs a KMS override, an oss:// state needs an OSS override and
// chaining needs an FC override. What the configuration cannot name (the
// regions DescribeRegions lists) the adapters refuse at the first call
// (see cloud.LoopbackEndpoint). Plain HTTP to the audit logstore or an
// alert webhook needs the same: KMSMIG_INSECURE=true and a loopback host.
func (c *Config) checkPlainHTTP(s *settings) {
	overridden := c.checkAlertHTTP(s)
	if !c.Insecure {
		return
	}
	refuse := func(name, why string, args ...any) {
		s.bad("KMSMIG_INSECURE", "true sends plain HTTP, only allowed to loopback endpoint overrides: %s: %s", name, fmt.Sprintf(why, args...))
	}
	for _, r := range slices.Sorted(maps.Keys(c.KMSEndpoints)) {
		overridden = true
		if ep := c.KMSEndpoints[r]; !cloud.LoopbackEndpoint(ep) {
			refuse("KMSMIG_KMS_ENDPOINTS", "%s=%s is not a loopback endpoint", r, ep)
		}
	}
	regions := slices.Clone(c.Regions)
	if c.SeedRegion != "" && !slices.Contains(regions, c.SeedRegion) {
		regions = append(regions, c.SeedRegion)
	}
	for _, r := range regions {
		if _, ok := c.KMSEndpoints[r]; !ok && regionLike(r) {
			refuse("KMSMIG_KMS_ENDPOINTS", "region %s has no override, so KMS would be reached at kms.%s.aliyuncs.com", r, r)
		}
	}
	for _, e := range []struct {
		name, v string
		used    bool
		def     string
	}{
		{"KMSMIG_OSS_ENDPOINT", c.OSSEndpoint, strings.HasPrefix(c.State, "oss://"), "oss-<region>.aliyuncs.com"},
		{"KMSMIG_FC_ENDPOINT", c.FCEndpoint, c.FunctionMigrate != "-" || c.FunctionRotate != "-", "<account>.<region>.fc.aliyuncs.com"},
	} {
		switch {
		case e.v != "":
			overridden = true
			if !cloud.LoopbackEndpoint(e.v) {
				refuse(e.name, "%s is not a loopback endpoint", e.v)
			}
		case e.used:
			refuse(e.name, "not set, so the default %s would be used", e.def)
		}
	}
	if !overridden {
		refuse("endpoints", "no endpoint is overridden")
	}
}

// checkAlertHTTP checks where the audit trail and the alerts may go over
// plain HTTP: only with KMSMIG_INSECURE=true and to a loopback host. It
// reports whether any of them is such a loopback override.
func (c *Config) checkAlertHTTP(s *settings) (overridden bool) {
	sls := c.SLSEndpoint
	slsPlain := strings.HasPrefix(sls, "http://") || (sls != "" && !strings.Contains(sls, "://") && cloud.LoopbackEndpoint(sls))
	if slsPlain && !(c.Insecure && cloud.LoopbackEndpoint(strings.TrimPrefix(sls, "http://"))) {
		s.bad("KMSMIG_SLS_ENDPOINT", "%q is spoken to over plain HTTP: that needs KMSMIG_INSECURE=true and a loopback endpoint (offline twins only)", sls)
	}
	for _, w := range []struct{ name, v string }{
		{"KMSMIG_ALERT_WEBHOOK", c.AlertWebhook}, {"KMSMIG_DINGTALK_WEBHOOK", c.DingTalkWebhook},
	} {
		u, err := url.Parse(w.v)
		if w.v == "" || err != nil || u.Scheme != "http" {
			continue
		}
		// The URL is not quoted: its path and query carry the token.
		if !c.Insecure || !cloud.LoopbackEndpoint(u.Host) {
			s.bad(w.name, "plain http:// needs KMSMIG_INSECURE=true and a loopback host (offline tests only); use https://")
		}
	}
	return slsPlain || strings.HasPrefix(c.AlertWebhook, "http://") || strings.HasPrefix(c.DingTalkWebhook, "http://")
}
